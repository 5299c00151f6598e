"""ServiceHost runs one service in one process: its command intake (a faststream
subscriber, with group commit behind it), its projections, and its HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Response, Security
from faststream.nats import NatsBroker, NatsMessage
from faststream.security import SASLPlaintext
from nats.aio.msg import Msg
from sqlalchemy import Engine

from pathways.core import tracing
from pathways.core.batch_wire import BATCH
from pathways.core.intake import CommandIntake
from pathways.core.projection import Projection
from pathways.core.readmodels import make_engine
from pathways.core.replies import RejectionCode, Reply, reject
from pathways.core.subjects import command_wildcard, parse_command_subject
from pathways.core.views import LocalViews
from pathways.jetstream import durable
from pathways.jetstream.batch import BatchReply, handle_batch
from pathways.jetstream.batching import GroupCommitter
from pathways.jetstream.durable import BackgroundContext
from pathways.jetstream.runner import ProjectionRunner
from pathways.jetstream.store import JetStreamEventStore, ensure_stream
from pathways.policy.access import FailedSignIns, TokenStore
from pathways.policy.accountability import AuditTrail
from pathways.policy.http import READ_REFUSALS
from pathways.policy.personal import PersonKeys
from pathways.runtime import garbage, telemetry
from pathways.runtime import logging as plog
from pathways.runtime.accounts import may_be_answered_at
from pathways.runtime.bodylimit import BodyLimit
from pathways.runtime.commands_http import BEARER, add_command_routes
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.headers import SecurityHeaders
from pathways.runtime.service import ServiceDefinition

log = structlog.get_logger("pathways.host")


def _report_ended(task: asyncio.Task[Any]) -> None:
    """A background task or projection runner should run until the service stops; if it
    dies (a read model it may not rebuild, say), say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", task=task.get_name(), error=repr(task.exception()))


class HttpUnavailable(OSError):
    """The service's HTTP API could not start: it does not run half alive without it."""


class ServiceHost:
    def __init__(
        self,
        service: ServiceDefinition,
        connection: ConnectionInfo,
        *,
        database_url: str,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
        run_projections: bool = True,
        run_intake: bool = True,
        group_commit: bool = True,
        workers: int = 64,
    ) -> None:
        self.service = service
        self.connection = connection
        self.engine: Engine = make_engine(database_url)
        self.http_port = http_port
        self.http_host = http_host
        self.run_projections = run_projections
        self.run_intake = run_intake
        self.group_commit = group_commit
        self.workers = workers
        self._inbox_prefix = f"_INBOX.{connection.user}" if connection.user else "_INBOX"
        self.broker = NatsBroker(
            connection.servers,
            security=(
                SASLPlaintext(username=connection.user, password=connection.password or "")
                if connection.user
                else None
            ),
            # The cheap path faststream offers (bench/framework.py measures each): no
            # FastDepends injection, no telemetry middleware (the intake opens the command's
            # span itself, continuing the sender's traceparent), nothing logged per message.
            apply_types=False,
            logger=None,
            max_reconnect_attempts=-1,
            # Replies to this service arrive under its own prefix: a service user may
            # subscribe only there (pathways.runtime.accounts).
            inbox_prefix=self._inbox_prefix,
        )
        self.intake: CommandIntake | None = None
        self.tokens: TokenStore | None = None
        self.trail: AuditTrail | None = None
        self.store: JetStreamEventStore | None = None
        self.nc: Any = None  # the broker's NATS connection, once started
        self.runners: list[ProjectionRunner] = []
        self._committer: GroupCommitter | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner_tasks: list[asyncio.Task[None]] = []  # one per runner, in the same order
        self._stop = asyncio.Event()
        self._http: uvicorn.Server | None = None
        self._deciding: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(workers)
        if run_intake:
            self._subscribe_commands()

    def _subscribe_commands(self) -> None:
        async def as_message(msg: NatsMessage) -> NatsMessage:
            return msg  # the intake reads the body itself (it refuses what is not JSON)

        # One faststream worker hands each command to a task of its own and answers it when
        # it is decided: faststream's own worker pool (max_workers) cost about four times as
        # much per message as the whole sequential path (bench/framework.py). `workers`
        # bounds how many are decided at once; past that the subscriber waits.
        @self.broker.subscriber(command_wildcard(self.service.name), queue=self.service.name, decoder=as_message,
                                no_reply=True, title=f"{self.service.name} commands")
        async def on_command(msg: NatsMessage) -> None:
            await self._slots.acquire()
            task = asyncio.create_task(self._decide(msg.raw_message))
            self._deciding.add(task)
            task.add_done_callback(self._decided)

    def _decided(self, task: asyncio.Task[None]) -> None:
        self._deciding.discard(task)
        self._slots.release()

    async def _decide(self, raw: Msg) -> None:
        assert self.intake is not None
        sender, _, command = parse_command_subject(raw.subject)
        if not may_be_answered_at(sender, raw.reply or ""):
            # The reply goes out with this service's rights: a sender must not be able to aim
            # it at a key-value bucket, an event subject or another organisation's inbox.
            # Refused unanswered (there is nowhere it may go), and recorded for the auditors.
            log.warning("command whose reply subject is not the sender's inbox: refused, not answered",
                        command=command, organisation=sender)
            await self.intake.refused(sender, command, raw.data, reject(
                RejectionCode.FORBIDDEN, "A command is answered only on the sender's own inbox "
                f"(_INBOX.{sender}.…): its reply subject named somewhere else.").reply())
            return
        traceparent = tracing.traceparent_from_headers(raw.headers)
        reply: Reply | BatchReply
        if command == BATCH:
            reply = await handle_batch(self.intake, sender, raw.data, traceparent)
        else:
            reply = await self.intake.handle(sender, command, raw.data, traceparent)
        try:
            await raw.respond(reply.model_dump_json().encode())
        except Exception:  # the connection went away: the sender resends with the same key
            log.warning("could not answer a command", command=command, organisation=sender)

    async def start(self) -> None:
        plog.configure(self.service.name)
        telemetry.configure(f"pathways-{self.service.name}")
        await self.broker.connect()
        nc = self.broker.connection
        self.nc = nc
        await ensure_stream(nc)
        store = JetStreamEventStore(nc)
        self.tokens = TokenStore(nc)
        self.store = store
        self._committer = GroupCommitter(store) if self.group_commit else None
        self.trail = AuditTrail(self.service.name, self._committer.append if self._committer else store.append)
        # One runner (one consumer, one transaction per batch) for every read model this
        # process keeps: the views its rules consult and the projections it serves. (A runner
        # for the views alone, so a command never waits on the projections, was measured: no
        # faster for a bulk import, and a second consumer's CPU on every event.)
        kept = [*(self.service.views if self.run_intake else ()), *(self.service.projections if self.run_projections else ())]
        runner = self._start_runner(kept, nc) if kept else None
        view_runners = [runner] if runner is not None and self.run_intake and self.service.views else []
        self.intake = CommandIntake(
            self.service.name,
            self.service.handlers,
            store,
            self.service.schemas,
            append=self._committer.append if self._committer else None,
            views=LocalViews(self.service.name, self.engine, view_runners, store, views=self.service.views)
            if view_runners else None,
            trail=self.trail,
            person_keys=PersonKeys(nc),
        )
        if self.run_projections:
            context = BackgroundContext(nc, self.engine, store, self._stop)
            for consumer in self.service.consumers:  # started with the broker, below
                await durable.declare(nc, consumer)
                durable.subscribe(self.broker, consumer, context, self._inbox_prefix)
            for task in self.service.background:
                running = asyncio.create_task(task(context), name=getattr(task, "__name__", "background"))
                running.add_done_callback(_report_ended)
                self._tasks.append(running)
        await self._tables_made()  # before commands, consumers and background tasks run on them
        await self.broker.start()
        # The server must know of the command subscription before we say we are up, or
        # a command sent at once finds no responders.
        await nc.flush()
        if self.http_port is not None:
            config = uvicorn.Config(
                self.http_app(), host=self.http_host, port=self.http_port, log_level="warning", lifespan="off"
            )
            self._http = uvicorn.Server(config)
            serving = asyncio.create_task(self._serve_http(), name="http")
            self._tasks.append(serving)
            while not self._http.started:  # uvicorn says it has started only by this flag
                if serving.done():  # it could not listen: stop what did start, and say why
                    await self.stop()
                    serving.result()
                await asyncio.sleep(0.02)
        log.info("service started", http_port=self.http_port, nats=self.connection.nats_url)

    async def _serve_http(self) -> None:
        assert self._http is not None
        try:
            await self._http.serve()
        except SystemExit:  # uvicorn's way to say it could not start (it has logged the error)
            # A port chosen free can be taken before the service binds it (another platform
            # starting at once); without this the process stayed up, half alive, its API gone.
            raise HttpUnavailable(f"the {self.service.name} service's HTTP API could not listen on "
                                  f"{self.http_host}:{self.http_port} (is the port taken?)") from None

    async def _tables_made(self, within: float = 60.0) -> None:
        """Until every runner has made its read models' tables (or has found another version
        writing them, which /readyz reports): a command, a consumer or an HTTP read at once
        must not meet a missing table. A runner that fails first (its database unreachable)
        ends the wait too; one still waiting after `within` (DDL behind another writer's lock)
        is logged and left to /readyz, so the service still comes up and says why."""
        for runner, task in zip(self.runners, self._runner_tasks, strict=True):
            tried = asyncio.ensure_future(runner.tables_tried.wait())
            try:
                done, _ = await asyncio.wait((tried, task), timeout=within, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    log.warning("read model tables not made yet", projection=runner.name, waited_s=within)
            finally:
                tried.cancel()

    def _start_runner(self, projections: list[Projection], nc: Any) -> ProjectionRunner:
        runner = ProjectionRunner(projections, self.engine, nc, store=self.store)
        self.runners.append(runner)
        running = asyncio.create_task(runner.run(self._stop), name=runner.name)
        running.add_done_callback(_report_ended)
        self._tasks.append(running)
        self._runner_tasks.append(running)
        return runner

    async def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        if self._deciding:  # commands being decided are answered before the connection closes
            await asyncio.wait(set(self._deciding), timeout=5)
        if self._committer is not None:
            await self._committer.close()
        await self.broker.stop()
        self.engine.dispose()
        log.info("service stopped")

    async def caught_up(self, within: float = 30) -> None:
        """Every projection covers the stream as it stands now (within `within` seconds)."""
        await asyncio.wait_for(asyncio.gather(*(r.catch_up() for r in self.runners)), within)

    def http_app(self) -> FastAPI:
        app = FastAPI(
            title=f"Pathways {self.service.name}",
            description=self.service.description,
            version="0.1.0",
        )
        # Endpoints that turn an upload into commands reach the intake through here
        # (see pathways.policy.http.command_intake), the same pipeline as NATS requests.
        app.state.intake = self.intake
        # Read endpoints find who is calling through here (pathways.policy.access.caller), record
        # reads of participants' records (pathways.policy.accountability.record_reads) and, for
        # the audit service, read the stream itself.
        app.state.tokens = self.tokens
        app.state.failed_sign_ins = FailedSignIns()  # per service process: guessing tokens is bounded
        app.state.audit_trail = self.trail
        app.state.person_keys = self.intake.person_keys if self.intake else None  # identities, for the roles allowed
        app.state.store = self.store
        app.state.engine = self.engine  # the read models' database, for `pathways.policy.http.db_session`
        app.add_middleware(BodyLimit)  # 413 past a route's limit, read no further (runtime/bodylimit.py)
        app.add_middleware(SecurityHeaders)  # CSP, no framing, nosniff, no referrer, no-store (runtime/headers.py)

        @app.get("/health", tags=["operations"])
        async def health() -> dict[str, Any]:
            return {
                "service": self.service.name,
                "projections": {p.name: r.position for r in self.runners for p in r.projections},
                "batches": {r.name: {"transactions": r.batches, "events": r.applied} for r in self.runners},
                # How often a command found its aggregates current in memory (DESIGN §4 G10).
                "aggregates": self.intake.loader.cache.report() if self.intake else None,
                # Read models that stopped reading: the stream is not the one they were built from.
                "stalled": {r.name: r.stalled for r in self.runners if r.stalled},
                # Events not applied because another context wrote them (a forgery or a bug).
                "quarantined": {r.name: {"events": r.quarantined, "latest_sequences": list(r.quarantined_at)}
                                for r in self.runners if r.quarantined},
                # The garbage collector's pace and its collections so far (runtime/garbage.py).
                "garbage_collector": garbage.report(),
            }

        @app.get("/healthz", tags=["operations"])
        async def alive() -> dict[str, str]:
            """The process serves: what a restart policy watches."""
            return {"service": self.service.name, "status": "alive"}

        @app.get("/readyz", tags=["operations"], responses={
            200: {"description": "Ready"}, 503: {"description": "Not connected to NATS, or a read model catching up"}})
        async def ready() -> Response:
            """Connected to NATS and every read model caught up with the stream as it stands
            (within two seconds): what a load balancer routes by."""
            nc = self.nc
            behind: list[str] = []
            if nc is None or not nc.is_connected:
                return Response('{"status": "not ready", "reason": "not connected to NATS"}', 503, media_type="application/json")
            unmade = [p.name for r in self.runners if not r.tables_made for p in r.projections]
            if unmade:  # another version writes them, or the database refused: the runner's log says which
                body = json.dumps({"status": "not ready", "reason": "read model tables not made", "projections": unmade})
                return Response(body, 503, media_type="application/json")
            try:
                await self.caught_up(within=2)
            except Exception:  # not within the time, or the stream could not be asked
                behind = [p.name for r in self.runners for p in r.projections]
            if behind:
                body = json.dumps({"status": "not ready", "reason": "catching up", "projections": behind})
                return Response(body, 503, media_type="application/json")
            return Response('{"status": "ready"}', 200, media_type="application/json")

        add_command_routes(app, self.service.handlers)  # none on a read-only service (runtime/commands_http.py)
        if self.service.api is not None:
            app.include_router(self.service.api, dependencies=[Security(BEARER)], responses=READ_REFUSALS)
        return app

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

"""What a command costs the framework before any of Pathways' own code runs: one request
answered by a responder in a process of its own, 50 requests in flight, measured as the
responder's CPU time per request for each way of subscribing:

- faststream as the services were wired before: FastDepends injecting the message, the
  body decoded as JSON, `NatsTelemetryMiddleware`, the reply published by faststream;
- faststream without FastDepends (`apply_types=False`), the body left as bytes (a decoder
  that does nothing), no telemetry middleware, the reply published by faststream;
- the same, answering with `no_reply=True` and a direct respond on the message;
- one typed subscriber per command (25 of them), the body parsed by FastDepends into the
  command's pydantic model, as issue 16 first asked (and as the AsyncAPI generator would
  then see each command): the cheapest typed setting, no middleware, nothing logged;
- a bare nats-py subscription (the floor).

`python bench/framework.py` alone, or as part of `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Result, console, embedded_nats, n
from live import cpu_seconds

VARIANTS = {
    "faststream-default": "faststream, 64 workers: FastDepends, JSON body, telemetry middleware",
    "faststream-lean": "faststream, 64 workers: apply_types=False, bytes body, no telemetry middleware",
    "faststream-lean-respond": "faststream, 64 workers: as lean, no_reply and a direct respond",
    "faststream-handoff": "faststream, one worker handing each message to a task of its own, direct respond",
    "faststream-typed": "faststream, a typed subscriber per command (25), pydantic body, 64 workers each",
    "nats-py": "nats-py subscription, no framework",
}
REPLY = json.dumps({"status": "accepted", "event_ids": ["6f1f4c1e-3b0f-4d8e-9a51-7c5a2c0d9e11"], "sequence": 1}).encode()
SUBJECT = "bench.fw.cmd"
COMMANDS = 25  # subjects the clients spread their requests over, one per command


async def serve(variant: str, url: str, user: str, password: str) -> None:
    ready = asyncio.Event()
    if variant == "nats-py":
        import nats

        nc = await nats.connect(url, user=user, password=password)

        async def answer(msg: Any) -> None:
            await msg.respond(REPLY)

        await nc.subscribe(f"{SUBJECT}.*", queue="fw", cb=answer)
        await nc.flush()
        print("ready", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    from faststream.nats import NatsBroker, NatsMessage
    from faststream.nats.opentelemetry import NatsTelemetryMiddleware
    from faststream.security import SASLPlaintext

    default = variant == "faststream-default"
    quiet = logging.getLogger("faststream.quiet")  # as the services had it: nothing logged per message
    quiet.setLevel(logging.WARNING)
    broker = NatsBroker(url, security=SASLPlaintext(username=user, password=password),
                        middlewares=[NatsTelemetryMiddleware()] if default else [], apply_types=default,
                        logger=quiet if default else None)

    async def as_bytes(msg: Any) -> Any:
        return msg.body

    async def as_message(msg: Any) -> Any:
        return msg  # the handler gets faststream's NatsMessage itself

    if default:
        @broker.subscriber(f"{SUBJECT}.*", queue="fw", max_workers=64)
        async def handle(msg: NatsMessage) -> bytes:
            return REPLY
    elif variant == "faststream-typed":
        from pydantic import BaseModel

        class Command(BaseModel):
            idempotency_key: str
            organisation: str
            actor: str
            data: dict[str, Any]

        def typed(i: int) -> None:
            @broker.subscriber(f"{SUBJECT}.C{i}", queue="fw", max_workers=64)
            async def handle_typed(body: Command) -> bytes:
                return REPLY

        broker = NatsBroker(url, security=SASLPlaintext(username=user, password=password), logger=None)
        for i in range(COMMANDS):
            typed(i)
    elif variant == "faststream-lean":
        @broker.subscriber(f"{SUBJECT}.*", queue="fw", max_workers=64, decoder=as_bytes)
        async def handle_lean(body: bytes) -> bytes:
            return REPLY
    elif variant == "faststream-lean-respond":
        @broker.subscriber(f"{SUBJECT}.*", queue="fw", max_workers=64, decoder=as_message, no_reply=True)
        async def handle_respond(msg: NatsMessage) -> None:
            await msg.raw_message.respond(REPLY)
    else:
        working: set[asyncio.Task[None]] = set()

        async def work(msg: NatsMessage) -> None:
            await msg.raw_message.respond(REPLY)

        @broker.subscriber(f"{SUBJECT}.*", queue="fw", decoder=as_message, no_reply=True)
        async def hand_off(msg: NatsMessage) -> None:
            task = asyncio.create_task(work(msg))
            working.add(task)
            task.add_done_callback(working.discard)

    await broker.start()
    await broker.connection.flush()
    print("ready", file=sys.stderr, flush=True)
    ready.set()
    await asyncio.Event().wait()


async def one_variant(conn: Any, variant: str, count: int) -> Result:
    args = [sys.executable, __file__, "--serve", variant, "--url", conn.nats_url, "--user", conn.user or "",
            "--password", conn.password or ""]
    # A responder beside the event loop: Popen does not block.
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        assert server.stderr is not None
        while "ready" not in await asyncio.to_thread(server.stderr.readline):
            if server.poll() is not None:
                raise RuntimeError(f"the {variant} responder stopped at start")
        nc = await conn.connect("bench-framework")
        body = json.dumps({"idempotency_key": "k", "organisation": "o", "actor": "a", "data": {"x": 1}}).encode()
        for i in range(200):  # warm up
            await nc.request(f"{SUBJECT}.C{i % COMMANDS}", body, timeout=10)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await nc.request(f"{SUBJECT}.C{i % COMMANDS}", body, timeout=30)

        before = cpu_seconds(server.pid)
        t = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(50)))
        seconds = time.perf_counter() - t
        spent = cpu_seconds(server.pid) - before
        await nc.close()
        return Result(f"framework: {VARIANTS[variant]}", count, seconds,
                      {"responder_cpu_us_per_request": 1e6 * spent / count}, kind=f"framework {variant}")
    finally:
        server.kill()
        server.wait(10)


async def framework_costs(conn: Any) -> list[Result]:
    out = []
    for variant in VARIANTS:
        out.append(await one_variant(conn, variant, n(20000)))
        console.print(f"  {out[-1].name}: {out[-1].extra['responder_cpu_us_per_request']:.0f} µs CPU per request")
    return out


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pathways-bench-framework-") as tmp, embedded_nats(Path(tmp)) as (conn, _):
        for r in await framework_costs(conn):
            print(r.name, f"{r.rate:,.0f}/s", r.extra)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--serve")
    parser.add_argument("--url")
    parser.add_argument("--user")
    parser.add_argument("--password")
    cli = parser.parse_args()
    if cli.serve:
        asyncio.run(serve(cli.serve, cli.url, cli.user, cli.password))
    else:
        asyncio.run(main())

"""Send a demo plan through the platform: stage by stage, the steps of a stage concurrently
(those sharing a lane in order), retrying what the platform says may be retried. With many
commands in flight on different aggregates, each service's group commit stores their events
in shared atomic batches, so the load costs a fraction of one fsync per command.

The transport is injected (`send(step) -> reply`), so the same loader runs over NATS from
the CLI and through an in-process client in tests."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import nats.errors
from nats.aio.client import Client
from pathways.core.subjects import command_subject

from pathways_demo.steps import DemoPlan, Stage, Step

Reply = Mapping[str, Any]
Send = Callable[[Step], Awaitable[Reply]]
Outcome = Literal["accepted", "already", "failed"]
Progress = Callable[[Step, Outcome], None]

# Lanes in flight at once: what keeps every service's intake busy (each decides up to 64 at
# once) and lets group commit fill its batches, without queueing more than they take.
CONCURRENCY = 64
# Worth sending again with the same idempotency key: nothing was recorded.
RETRIED_CODES = frozenset({"unavailable", "conflict"})


@dataclass(frozen=True)
class Failure:
    stage: str
    step: Step
    reply: Reply


@dataclass
class LoadReport:
    accepted: int = 0  # newly recorded
    already: int = 0  # answered from history: recorded by an earlier load
    failures: list[Failure] = field(default_factory=list)
    retries: int = 0
    skipped: int = 0  # not sent: an earlier stage failed, and later stages build on it
    stopped_at: str | None = None
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    by_command: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def total(self) -> int:
        return self.accepted + self.already + self.failed

    @property
    def ok(self) -> bool:
        return not self.failures


async def load(
    plan: DemoPlan,
    send: Send,
    *,
    concurrency: int = CONCURRENCY,
    progress: Progress | None = None,
    recorded_up_to: int | None = None,
    attempts: int = 6,
    backoff: float = 0.05,
    stop_on_failure: bool = True,
) -> LoadReport:
    """Run every stage of `plan`, each once the stages it waits for are done (stages that do
    not wait for each other at the same time), at most `concurrency` lanes in flight in all.
    A step counts as `already` when its reply is an acceptance at a stream sequence no later
    than `recorded_up_to` (the stream's last sequence before loading began), i.e. the
    platform answered it from history. Unless told to keep going, no stage starts after one
    has failed (those already running finish)."""
    report = LoadReport()
    gate = asyncio.Semaphore(max(1, concurrency))
    started = time.monotonic()

    async def one(stage: Stage, step: Step) -> None:
        reply = await _send_with_retries(step, send, attempts, backoff, report)
        outcome: Outcome
        if reply.get("status") != "accepted":
            outcome = "failed"
            report.failures.append(Failure(stage.name, step, reply))
        elif recorded_up_to is not None and int(reply.get("sequence", 0)) <= recorded_up_to:
            outcome = "already"
            report.already += 1
        else:
            outcome = "accepted"
            report.accepted += 1
        report.by_command[step.command] += 1
        if progress is not None:
            progress(step, outcome)

    async def lane(stage: Stage, steps: list[Step]) -> None:
        # A lane keeps its place in flight from its first step to its last: each step is sent
        # the moment the one before is answered, instead of queueing again behind every other
        # step of the stage. A long lane (a contract account's charges) is the stage's critical
        # path, so it must not wait a turn of the whole stage per step.
        async with gate:
            for step in steps:
                await one(stage, step)

    waits = stage_order(plan)
    finished = {stage.name: asyncio.Event() for stage in plan.stages}
    begun: set[str] = set()

    async def run(stage: Stage) -> None:
        try:
            for name in waits[stage.name]:
                await finished[name].wait()
            if report.failures and stop_on_failure:
                return  # later stages build on what failed: this one is not sent
            begun.add(stage.name)
            began = time.monotonic()
            await asyncio.gather(*(lane(stage, steps) for steps in lanes(stage)))
            report.stage_seconds[stage.name] = time.monotonic() - began
        finally:
            finished[stage.name].set()

    await asyncio.gather(*(run(stage) for stage in plan.stages))
    if report.failures and stop_on_failure:
        failed = {f.stage for f in report.failures}
        report.stopped_at = next(stage.name for stage in plan.stages if stage.name in failed)
        report.skipped = sum(len(stage.steps) for stage in plan.stages if stage.name not in begun)
    report.seconds = time.monotonic() - started
    return report


def stage_order(plan: DemoPlan) -> dict[str, tuple[str, ...]]:
    """What each stage waits for. Only earlier stages may be named, so the order has no cycle
    and sending the stages one by one in the plan's order is always a valid order too."""
    seen: set[str] = set()
    out: dict[str, tuple[str, ...]] = {}
    for n, stage in enumerate(plan.stages):
        waits = stage.waits_for(plan.stages[n - 1] if n else None)
        unknown = [name for name in waits if name not in seen]
        if unknown or stage.name in seen:
            raise ValueError(f"stage '{stage.name}' waits for {unknown or 'a stage of its own name'}: "
                             "a stage may wait only for earlier stages, and names are unique")
        out[stage.name] = waits
        seen.add(stage.name)
    return out


def lanes(stage: Stage) -> list[list[Step]]:
    """The stage's steps grouped: each lane's steps in their order, unlaned steps alone."""
    grouped: dict[str, list[Step]] = {}
    out: list[list[Step]] = []
    for step in stage.steps:
        if not step.lane:
            out.append([step])
        elif step.lane in grouped:
            grouped[step.lane].append(step)
        else:
            grouped[step.lane] = [step]
            out.append(grouped[step.lane])
    return out


async def _send_with_retries(step: Step, send: Send, attempts: int, backoff: float, report: LoadReport) -> Reply:
    reply: Reply = {}
    for attempt in range(attempts):
        if attempt:
            report.retries += 1
            await asyncio.sleep(min(2.0, backoff * 2**attempt) * (0.5 + random.random()))
        try:
            reply = await send(step)
        except (TimeoutError, OSError, nats.errors.Error) as err:
            # No reply (no responder yet, a lost reply): the same key makes a resend safe.
            reply = {"status": "rejected", "code": "unavailable", "message": f"{type(err).__name__}: {err}"}
        if reply.get("status") == "accepted" or reply.get("code") not in RETRIED_CODES:
            return reply
    return reply


def nats_send(nc: Client, *, correlation_id: str | None = None, timeout: float = 30.0) -> Send:
    """Send each step as its organisation's system would: NATS request-reply on
    pathways.cmd.<org>.<context>.<Command>."""

    async def send(step: Step) -> Reply:
        body = {"idempotency_key": step.key, "organisation": step.organisation, "actor": step.actor, "data": step.data,
                "correlation_id": correlation_id}
        msg = await nc.request(command_subject(step.organisation, step.context, step.command), json.dumps(body).encode(),
                               timeout=timeout)
        reply: Reply = json.loads(msg.data)
        return reply

    return send

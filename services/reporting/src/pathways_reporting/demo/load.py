"""Send a demo plan through the platform: stage by stage, the steps of a stage concurrently
(those sharing a lane in order), retrying what the platform says may be retried.

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
from pathways.subjects import command_subject

from pathways_reporting.demo.plan import DemoPlan, Stage, Step

Reply = Mapping[str, Any]
Send = Callable[[Step], Awaitable[Reply]]
Outcome = Literal["accepted", "already", "failed"]
Progress = Callable[[Step, Outcome], None]

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
    concurrency: int = 32,
    progress: Progress | None = None,
    recorded_up_to: int | None = None,
    attempts: int = 6,
    backoff: float = 0.05,
    stop_on_failure: bool = True,
) -> LoadReport:
    """Run every stage of `plan` in order. A step counts as `already` when its reply is an
    acceptance at a stream sequence no later than `recorded_up_to` (the stream's last
    sequence before loading began), i.e. the platform answered it from history. Unless told
    to keep going, a stage with failures is the last one sent."""
    report = LoadReport()
    gate = asyncio.Semaphore(max(1, concurrency))
    started = time.monotonic()

    async def one(stage: Stage, step: Step) -> None:
        reply = await _send_with_retries(step, send, gate, attempts, backoff, report)
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
        for step in steps:
            await one(stage, step)

    for n, stage in enumerate(plan.stages):
        began = time.monotonic()
        await asyncio.gather(*(lane(stage, steps) for steps in lanes(stage)))
        report.stage_seconds[stage.name] = time.monotonic() - began
        if report.failures and stop_on_failure:
            report.stopped_at = stage.name
            report.skipped = sum(len(later.steps) for later in plan.stages[n + 1 :])
            break
    report.seconds = time.monotonic() - started
    return report


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


async def _send_with_retries(
    step: Step, send: Send, gate: asyncio.Semaphore, attempts: int, backoff: float, report: LoadReport
) -> Reply:
    reply: Reply = {}
    for attempt in range(attempts):
        if attempt:
            report.retries += 1
            await asyncio.sleep(min(2.0, backoff * 2**attempt) * (0.5 + random.random()))
        async with gate:
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

"""The demo plan's building blocks: a command to send (`Step`), the stages they are sent in
(`Stage`), the plan as a whole (`DemoPlan`), a made-up participant (`Person`) and the
builder that gives every step its idempotency key (`_Builder`). Pure data, no I/O; the
programme itself is in plan.py."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pathways_demo.cast import FAR


@dataclass(frozen=True)
class Step:
    """One command as its sender would send it. Steps of a stage run concurrently, except
    that steps sharing a `lane` (they write one aggregate) run in the order given."""

    organisation: str
    context: str
    command: str
    data: dict[str, Any]
    key: str
    actor: str
    lane: str = ""


@dataclass(frozen=True)
class Stage:
    """Steps that may be sent once the stages named in `after` are done (by default the stage
    before it). Stages that do not wait for each other run at the same time, so a long lane
    (a contract account's charges) starts as soon as what it builds on is there."""

    name: str
    steps: list[Step]
    after: tuple[str, ...] | None = None

    def waits_for(self, before: Stage | None) -> tuple[str, ...]:
        if self.after is not None:
            return self.after
        return (before.name,) if before is not None else ()


@dataclass(frozen=True)
class DemoPlan:
    seed: int
    programme_id: str
    commissioner: str
    evaluator: str
    partners: tuple[str, ...]
    participants: tuple[str, ...]  # unique, programme-wide
    stages: tuple[Stage, ...]

    def steps(self) -> Iterator[Step]:
        return (step for stage in self.stages for step in stage.steps)

    def counts(self) -> Counter[str]:
        return Counter(step.command for step in self.steps())

    def __len__(self) -> int:
        return sum(len(stage.steps) for stage in self.stages)


@dataclass
class Person:
    pid: str
    engagement: float
    ward: bool  # in a ward when first enrolled
    enrolled: dict[str, date] = field(default_factory=dict)  # partner code -> day (first partner first)
    consent_on: dict[str, date] = field(default_factory=dict)
    moved_on: date | None = None  # ward -> community
    withdrawn: dict[str, date] = field(default_factory=dict)
    consent_withdrawn_on: date | None = None
    completed: dict[str, date] = field(default_factory=dict)  # partner code -> day (demo.journey)

    def setting(self, day: date) -> str:
        return "ward" if self.ward and (self.moved_on is None or day < self.moved_on) else "community"

    @property
    def photographs(self) -> bool:
        """Three in four also consent to photographs and showcases (by id, so the plan's
        random draws are the same as before consent had purposes)."""
        return int(self.pid[-3:]) % 4 != 3

    def can_attend(self, code: str, day: date) -> bool:
        return code in self.enrolled and self.consent_on[code] <= day < min(
            self.withdrawn.get(code, FAR), self.completed.get(code, FAR), self.consent_withdrawn_on or FAR)


class _Builder:
    def __init__(self, seed: int, programme_id: str) -> None:
        self.seed, self.programme_id = seed, programme_id
        self.stages: list[Stage] = []

    def key(self, what: str, *, shared: bool = False) -> str:
        key = f"demo/{what}" if shared else f"demo/{self.seed}/{self.programme_id}/{what}"
        return key if len(key) <= 128 else f"demo/{hashlib.sha256(key.encode()).hexdigest()}"

    def step(self, org: str, context: str, command: str, data: dict[str, Any], what: str, actor: str, lane: str = "",
             *, shared: bool = False) -> Step:
        body = data if shared else {"programme_id": self.programme_id} | data
        return Step(org, context, command, _json(body), self.key(what, shared=shared), actor, lane)

    def stage(self, name: str, steps: list[Step], after: tuple[str, ...] | None = None) -> None:
        self.stages.append(Stage(name, steps, after))


def _json(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in data.items()}

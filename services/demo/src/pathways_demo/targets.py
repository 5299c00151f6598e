"""The demo's targets: what the commissioner contracted for the year, some met and some not,
set from the plan's own counts so the story holds at any scale (the demo's year is over by
the time anyone loads it, so each target is met or not met)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from pathways_demo.cast import COMMISSIONER, END, PARTNERS, PLANNER, START, Partner

if TYPE_CHECKING:
    from pathways_demo.steps import Step, _Builder


def target_steps(b: _Builder, steps: list[Step], people: int) -> list[Step]:
    """The programme's people, referrals and moves; each contract's sessions, every other one
    set a little past what the partner delivered."""
    delivered = Counter(s.organisation for s in steps if s.command == "RecordSessionDelivered")
    moves = sum(1 for s in steps if s.command == "TransitionParticipant")
    referred = sum(1 for s in steps if s.command == "ReferParticipant")
    wanted: list[tuple[str, str, int, Partner | None]] = [
        ("people", "participants", people + max(2, people // 20), None),  # a few short: not met
        ("referrals", "referrals", max(1, referred - 5), None),  # met
        ("moves", "transitions", max(1, moves - 2), None),  # met
    ]
    for i, p in enumerate(PARTNERS):
        wanted.append((f"sessions-{p.code}", "sessions", max(1, delivered[p.org] + (6 if i % 2 else -3)), p))
    return [b.step(COMMISSIONER, "registry", "SetTarget", {
        "target_id": f"demo-target-{tag}", "indicator": indicator, "target": target,
        "period_start": p.starts_on if p else START, "period_end": END,
        **({"contract_id": p.contract} if p else {})}, f"target/{tag}", PLANNER, "programme")
        for tag, indicator, target, p in wanted]


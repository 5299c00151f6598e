"""What a platform already holds of a demo plan, so that `pathways demo` (and `make run`,
which runs it at every start) neither sends the plan again nor issues new tokens.

- **On record.** Every step's event ids follow from its sender, command and idempotency key
  (`pathways.core.ids.event_ids_for`), so whether a step was recorded can be read from the stream
  without sending anything. A stage starts only once the stages it waits for are done and
  no step has failed (`load`), and every stage leads to one of the plan's last stages; so
  when every step of the last stages is stored, all of the plan is.
- **Tokens.** The demo's dashboard tokens are kept in `$PATHWAYS_HOME/demo-tokens.json`.
  A kept token that still signs in as its organisation and role is handed out again; a new
  one is issued only where none does (the file is gone, or the token was revoked)."""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from pathlib import Path

from pathways.core.ids import event_ids_for
from pathways.core.subjects import EVENTS_ROOT, NO_PROGRAMME
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore

from pathways_demo.cast import HOST_TRUST
from pathways_demo.load import stage_order
from pathways_demo.steps import DemoPlan, Stage, Step

DEMO_AUDITOR = "demo-auditor"  # made up too: for `pathways audit …` (PATHWAYS_TOKEN)


def evidence(plan: DemoPlan) -> list[Step]:
    """The steps whose being stored proves the whole plan is: those of the stages nothing
    waits for (or, where such a stage is empty, of the stages it waits for)."""
    waits = stage_order(plan)
    by_name = {stage.name: stage for stage in plan.stages}
    waited_for = {name for names in waits.values() for name in names}
    out: dict[int, Step] = {}

    def add(stage: Stage) -> None:
        if stage.steps:
            out.update((id(step), step) for step in stage.steps)
        else:
            for name in waits[stage.name]:
                add(by_name[name])

    for stage in plan.stages:
        if stage.name not in waited_for:
            add(stage)
    return list(out.values())


async def already_loaded(store: JetStreamEventStore, plan: DemoPlan) -> bool:
    """Whether every step of the plan is on record, read from the stream (nothing is sent).
    A plan with no steps at all is trivially there."""
    groups: dict[str, set[str]] = defaultdict(set)
    for step in evidence(plan):
        programme = step.data.get("programme_id") or NO_PROGRAMME
        # Every organisation's aggregates of that context in that programme: the step's own
        # aggregate among them, whatever its id is made of.
        groups[f"{EVENTS_ROOT}.{programme}.*.{step.context}.>"].add(
            event_ids_for(step.organisation, step.command, step.key, 1)[0])
    for subjects, wanted in groups.items():
        stored = {json.loads(e.payload).get("id") for e in await store.read_subject(subjects)}
        if not wanted <= stored:
            return False
    return True


def roles(plan: DemoPlan) -> dict[str, str]:
    """Who gets a dashboard token, and as what."""
    return {plan.commissioner: "commissioner", plan.evaluator: "evaluator",
            **dict.fromkeys(plan.partners, "partner"), DEMO_AUDITOR: "auditor", HOST_TRUST: "safeguarding_lead"}


def read_kept(path: Path) -> dict[str, str]:
    """The tokens an earlier run wrote, or none (absent, unreadable or not ours)."""
    with contextlib.suppress(OSError, ValueError):
        kept = json.loads(path.read_text())
        if isinstance(kept, dict):
            return {k: v for k, v in kept.items() if isinstance(k, str) and isinstance(v, str)}
    return {}


async def tokens_for(store: TokenStore, wanted: dict[str, str], kept: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """A token for every organisation in `wanted` (organisation → role): the kept one when it
    still signs in as that organisation and role, otherwise a new one. Returns the tokens
    and the organisations that were issued a new one."""
    out: dict[str, str] = {}
    issued: list[str] = []
    for organisation, role in wanted.items():
        token = kept.get(organisation)
        caller = await store.caller(token) if token else None
        if token and caller is not None and (caller.organisation_id, caller.role) == (organisation, role):
            out[organisation] = token
        else:
            out[organisation] = await store.issue(organisation, role)
            issued.append(organisation)
    return out, issued


def write_tokens(path: Path, tokens: dict[str, str]) -> None:
    """Owner-only: made-up organisations, but tokens are secrets all the same."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(tokens, handle, indent=2)

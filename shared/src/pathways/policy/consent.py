"""Consent by purpose: what a person agreed their data may be used for, each use checked
against its own purpose (DESIGN §4 G5, the UK GDPR's purpose limitation).

- `taking_part`: attending sessions and having them recorded by the partner;
- `sharing_with_commissioner`: the commissioner seeing the person's own records;
- `evaluation`: the evaluator seeing their outcomes and answers;
- `photographs_and_showcases`: being featured at a showcase, in photographs or films.

Until schema v2 of `ConsentRecorded` and `ConsentWithdrawn`, consent was one yes/no per
enrolment. Those v1 events are upcast on read, never rewritten. The information sheet
behind the single question covered taking part, reporting to the commissioner and the
programme's evaluation. It never asked about photographs, so a v1 consent does not cover
showcases. A v1 withdrawal withdrew the one consent there was, so it withdraws every
purpose. `ParticipantEnrolled.consent_given` is read the same way.

Plain values and the core's schemas only: a service's pure rules import this module."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pathways.core.schemas import UnknownSchemaVersion

Purpose = Literal["taking_part", "sharing_with_commissioner", "evaluation", "photographs_and_showcases"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
TAKING_PART: Purpose = "taking_part"
# What a single yes/no consent meant (module docstring).
SINGLE_FLAG: tuple[Purpose, ...] = ("taking_part", "sharing_with_commissioner", "evaluation")

# Which use of a person's records needs which purpose, by the role of who reads them.
# A partner reads its own participants' records under `taking_part`. Auditors and the
# operator read under the platform's legal obligations, which need no consent.
PURPOSE_OF_READER: dict[str, Purpose] = {
    "commissioner": "sharing_with_commissioner",
    "evaluator": "evaluation",
}


def consent_column(purpose: str) -> str:
    """A read model's column for a purpose: `consent` (to taking part) was the only one."""
    return "consent" if purpose == TAKING_PART else f"consent_{purpose}"


def consent_recorded_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """ConsentRecorded v1 (one flag) as v2: the purposes the single question covered.
    Nobody was recorded as taking it, and there was no information version, capacity
    note or review date."""
    return data | {"purposes": list(SINGLE_FLAG), "information_version": None, "recorded_by": None,
                   "capacity_note": None, "review_on": None}


def consent_withdrawn_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """ConsentWithdrawn v1 as v2: withdrawing the one consent withdrew every purpose."""
    return data | {"purposes": list(PURPOSES)}


def purposes_given(event_name: str, version: int, data: dict[str, Any]) -> frozenset[str]:
    """The purposes a registry consent event gives or takes away, whichever schema version
    stored it. Used by readers that see the registry's events as plain JSON (the directory
    each service keeps). The registry's own readers upcast through its schema registry,
    with the same functions."""
    if event_name == "ParticipantEnrolled":
        return frozenset(SINGLE_FLAG) if data.get("consent_given") else frozenset()
    if version not in (1, 2):
        raise UnknownSchemaVersion(f"{event_name} v{version}: this release reads consent events of v1 and v2")
    if version < 2:
        data = (consent_recorded_v1_to_v2 if event_name == "ConsentRecorded" else consent_withdrawn_v1_to_v2)(data)
    return frozenset(data["purposes"])

"""Unit tests of the registry's rules through the intake with the in-memory store: fast,
no server. The same rules are tested over real NATS in tests/."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pathways.core.eventstore.memory import InMemoryEventStore
from pathways.core.intake import CommandIntake
from pathways.policy.consent import PURPOSES, SINGLE_FLAG
from pathways_registry.app import service


def intake(now: datetime = datetime(2025, 11, 1, tzinfo=UTC)) -> CommandIntake:
    return CommandIntake("registry", service.handlers, InMemoryEventStore(), service.schemas, clock=lambda: now)


LATER = datetime(2026, 6, 1, tzinfo=UTC)  # "today" for the journeys: referrals, decisions and completions are not in the future


async def send(i: CommandIntake, org: str, command: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    default_key = hashlib.sha256(f"{command}{json.dumps(data, sort_keys=True)}".encode()).hexdigest()
    body = {"idempotency_key": key or default_key, "organisation": org, "actor": "u", "data": data}
    reply = await i.handle(org, command, json.dumps(body).encode())
    return reply.model_dump(mode="json")


async def programme(i: CommandIntake) -> None:
    for org, kind in [("council", "commissioner"), ("archers", "delivery_partner"), ("studio", "delivery_partner")]:
        assert (await send(i, "operator", "RegisterOrganisation", {"organisation_id": org, "name": org.title(),
                                                                   "kind": kind}))["status"] == "accepted"
    assert (await send(i, "council", "LaunchProgramme", {"programme_id": "p1", "name": "P", "aims": ["a"],
                                                         "starts_on": "2025-10-01",
                                                         "ends_on": "2026-09-30", "budget_pence": 1000}))["status"] == "accepted"
    assert (await send(i, "council", "CommissionPartner", {"programme_id": "p1", "contract_id": "k1", "partner_id": "archers",
                                                           "budget_pence": 600,
                                                           "activities": ["soft archery"], "starts_on": "2025-10-01",
                                                           "ends_on": "2026-09-30"}))["status"] == "accepted"


async def test_budget_cannot_be_overcommitted() -> None:
    i = intake()
    await programme(i)
    reply = await send(i, "council", "CommissionPartner", {"programme_id": "p1", "contract_id": "k2", "partner_id": "studio",
                                                           "budget_pence": 401,
                                                           "activities": ["music"], "starts_on": "2025-10-01",
                                                           "ends_on": "2026-09-30"})
    assert reply["code"] == "rule_violation" and reply["details"][0]["remaining_pence"] == 400


async def test_uncommissioned_partner_cannot_enrol_but_commissioned_one_can() -> None:
    i = intake()
    await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self", "consent_given": True,
            "enrolled_on": "2025-11-01"}
    assert (await send(i, "studio", "EnrolParticipant", data))["code"] == "not_found"  # not commissioned: a stranger
    accepted = await send(i, "archers", "EnrolParticipant", data)
    assert accepted["status"] == "accepted" and accepted["sequence"] == 6


async def test_event_ids_follow_the_idempotency_key() -> None:
    a, b = intake(), intake()
    for i in (a, b):
        await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self", "consent_given": True,
            "enrolled_on": "2025-11-01"}
    ra = await send(a, "archers", "EnrolParticipant", data, key="k")
    rb = await send(b, "archers", "EnrolParticipant", data, key="k")
    assert ra["event_ids"] == rb["event_ids"]
    assert await send(a, "archers", "EnrolParticipant", data, key="k") == ra


async def test_an_erased_participant_is_not_enrolled_again_under_the_same_id() -> None:
    i = intake()
    await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self",
            "consent_given": True, "enrolled_on": "2025-11-01"}
    assert (await send(i, "archers", "EnrolParticipant", data))["status"] == "accepted"
    action = {"programme_id": "p1", "participant_id": "P-1", "on": "2025-12-01"}
    assert (await send(i, "archers", "WithdrawParticipant", action | {"reason": "moved away"}))["status"] == "accepted"
    assert (await send(i, "archers", "EraseParticipantData", action))["status"] == "accepted"
    again = await send(i, "archers", "EnrolParticipant", data, key="again")
    assert again["code"] == "rule_violation" and "new pseudonymous id" in again["message"]
    assert (await send(i, "archers", "EnrolParticipant", data | {"participant_id": "P-2"}))["status"] == "accepted"


def _referral(**overrides: Any) -> dict[str, Any]:
    return {"programme_id": "p1", "referral_id": "r-1", "participant_id": "P-7", "referrer": "clinical_team",
            "referring_organisation": "Forensic service clinical team", "referred_on": "2025-10-20"} | overrides


async def test_a_referral_is_accepted_then_taken_up_by_an_enrolment_that_names_it() -> None:
    i = intake(LATER)
    await programme(i)
    assert (await send(i, "archers", "ReferParticipant", _referral()))["status"] == "accepted"
    again = await send(i, "archers", "ReferParticipant", _referral(referral_id="r-2"))
    assert again["code"] == "rule_violation" and "already has referral 'r-1' (referred)" in again["message"]
    enrol = {"programme_id": "p1", "participant_id": "P-7", "setting": "ward", "referral_source": "clinical_team",
             "consent_given": True, "enrolled_on": "2025-11-01", "referral_id": "r-1"}
    not_yet = await send(i, "archers", "EnrolParticipant", enrol)
    assert not_yet["code"] == "rule_violation" and "accept it before enrolling" in not_yet["message"]
    action = {"programme_id": "p1", "participant_id": "P-7", "referral_id": "r-1"}
    early = await send(i, "archers", "AcceptReferral", action | {"on": "2025-10-19"})
    assert early["code"] == "rule_violation" and "before the referral" in early["message"]
    assert (await send(i, "archers", "AcceptReferral", action | {"on": "2025-10-22"}))["status"] == "accepted"
    twice = await send(i, "archers", "AcceptReferral", action | {"on": "2025-10-23"}, key="second")
    assert twice["code"] == "rule_violation" and "already accepted" in twice["message"]
    wrong = await send(i, "archers", "EnrolParticipant", enrol | {"referral_id": "r-9"})
    assert wrong["code"] == "rule_violation" and wrong["details"][0]["field"] == "referral_id"
    before = await send(i, "archers", "EnrolParticipant", enrol | {"enrolled_on": "2025-10-19"})
    assert before["code"] == "rule_violation"  # before the referral (and before the contract): refused either way
    enrolled = await send(i, "archers", "EnrolParticipant", enrol)
    assert enrolled["status"] == "accepted"
    events = [json.loads(e.payload) for e in i.store._events]  # type: ignore[attr-defined]
    assert events[-1]["type"] == "pathways.registry.ParticipantEnrolled" and events[-1]["data"]["referral_id"] == "r-1"
    taken = await send(i, "archers", "DeclineReferral", action | {"on": "2025-11-02", "reason": "no_capacity"})
    assert taken["code"] == "rule_violation" and "already enrolled" in taken["message"]


async def test_a_declined_referral_cannot_be_enrolled_from_and_the_person_may_be_referred_again() -> None:
    i = intake(LATER)
    await programme(i)
    stranger = await send(i, "studio", "ReferParticipant", _referral())
    assert stranger["code"] == "not_found"  # not commissioned: learns nothing of the programme
    outside = await send(i, "archers", "ReferParticipant", _referral(referred_on="2026-10-01"))
    assert outside["code"] == "rule_violation" and outside["details"][0]["field"] == "referred_on"
    assert (await send(i, "archers", "ReferParticipant", _referral()))["status"] == "accepted"
    action = {"programme_id": "p1", "participant_id": "P-7", "referral_id": "r-1", "on": "2025-10-25"}
    nobody = await send(i, "archers", "DeclineReferral", action | {"participant_id": "P-8", "reason": "not_eligible"})
    assert nobody["code"] == "not_found"
    declined = await send(i, "archers", "DeclineReferral", action | {"reason": "person_declined", "note": "Not this year"})
    assert declined["status"] == "accepted"
    enrol = {"programme_id": "p1", "participant_id": "P-7", "setting": "ward", "referral_source": "clinical_team",
             "consent_given": True, "enrolled_on": "2025-11-01", "referral_id": "r-1"}
    refused = await send(i, "archers", "EnrolParticipant", enrol)
    assert refused["code"] == "rule_violation" and "was declined" in refused["message"]
    assert (await send(i, "archers", "ReferParticipant", _referral(referral_id="r-2", referred_on="2026-01-05")))[
        "status"] == "accepted"
    bad_reason = await send(i, "archers", "DeclineReferral", action | {"referral_id": "r-2", "reason": "busy"})
    assert bad_reason["code"] == "invalid"


async def test_completion_records_where_they_moved_on_and_ends_the_enrolment() -> None:
    i = intake(LATER)
    await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-3", "setting": "ward", "referral_source": "self",
            "consent_given": True, "enrolled_on": "2025-11-01"}
    assert (await send(i, "archers", "EnrolParticipant", data))["status"] == "accepted"
    action = {"programme_id": "p1", "participant_id": "P-3", "on": "2026-03-01"}
    assert (await send(i, "archers", "CompleteParticipation", action | {"moved_on_to": "moon"}))["code"] == "invalid"
    assert (await send(i, "archers", "CompleteParticipation", action | {"moved_on_to": "volunteering"}))["status"] == "accepted"
    after = await send(i, "archers", "TransitionParticipant", action | {"to_setting": "community"})
    assert after["code"] == "rule_violation" and "completed" in after["message"]
    withdraw = await send(i, "archers", "WithdrawParticipant", action | {"reason": "left"})
    assert withdraw["code"] == "rule_violation"
    assert (await send(i, "archers", "EnrolParticipant", data | {"enrolled_on": "2026-04-01"}))["status"] == "accepted"
    left = await send(i, "archers", "WithdrawParticipant", action | {"on": "2026-05-01", "reason": "readmitted to hospital",
                                                                     "moved_on_to": "readmitted"})
    assert left["status"] == "accepted"
    events = [json.loads(e.payload) for e in i.store._events]  # type: ignore[attr-defined]
    assert [e["data"].get("moved_on_to") for e in events if e["type"].endswith(("ParticipantCompleted",
                                                                             "ParticipantWithdrawn"))] == [
        "volunteering", "readmitted"]


async def test_a_referral_is_decided_only_while_the_person_waits_and_each_id_is_used_once() -> None:
    """(found by a review) a referral could be accepted or declined after the person was
    enrolled, an enrolment could leave an open referral "waiting" for ever, a referral id
    could be used again (reporting overwrote the first), and dates could lie in the future
    or before the enrolment."""
    i = intake(LATER)
    await programme(i)
    assert (await send(i, "archers", "ReferParticipant", _referral()))["status"] == "accepted"
    enrol = {"programme_id": "p1", "participant_id": "P-7", "setting": "ward", "referral_source": "clinical_team",
             "consent_given": True, "enrolled_on": "2025-11-01"}
    unnamed = await send(i, "archers", "EnrolParticipant", enrol)
    assert unnamed["code"] == "rule_violation" and "enrol with referral_id 'r-1'" in unnamed["message"]
    action = {"programme_id": "p1", "participant_id": "P-7", "referral_id": "r-1"}
    future = await send(i, "archers", "AcceptReferral", action | {"on": "2026-06-02"})
    assert future["code"] == "rule_violation" and "future" in future["message"]
    assert (await send(i, "archers", "AcceptReferral", action | {"on": "2025-10-22"}))["status"] == "accepted"
    assert (await send(i, "archers", "EnrolParticipant", enrol | {"referral_id": "r-1"}))["status"] == "accepted"
    late = await send(i, "archers", "DeclineReferral", action | {"on": "2025-11-02", "reason": "no_capacity"})
    assert late["code"] == "rule_violation" and "already enrolled" in late["message"]
    done = {"programme_id": "p1", "participant_id": "P-7", "moved_on_to": "education"}
    before = await send(i, "archers", "CompleteParticipation", done | {"on": "2025-10-31"})
    assert before["code"] == "rule_violation" and before["details"][0]["field"] == "on"
    assert (await send(i, "archers", "CompleteParticipation", done | {"on": "2026-03-01"}))["status"] == "accepted"
    reused = await send(i, "archers", "ReferParticipant", _referral(referred_on="2026-04-01"))
    assert reused["code"] == "rule_violation" and "was used before" in reused["message"]
    ahead = await send(i, "archers", "ReferParticipant", _referral(referral_id="r-2", referred_on="2026-07-01"))
    assert ahead["code"] == "rule_violation" and ahead["details"][0]["field"] == "referred_on"
    assert (await send(i, "archers", "ReferParticipant", _referral(referral_id="r-2", referred_on="2026-04-01")))[
        "status"] == "accepted"


async def test_targets_are_the_commissioners_within_the_programme_or_the_contract() -> None:
    i = intake(LATER)
    await programme(i)
    target = {"programme_id": "p1", "target_id": "t1", "indicator": "sessions", "target": 40,
              "period_start": "2025-10-01", "period_end": "2025-12-31", "contract_id": "k1"}
    assert (await send(i, "archers", "SetTarget", target))["code"] == "forbidden"  # a partner of it
    assert (await send(i, "studio", "SetTarget", target))["code"] == "not_found"  # a stranger
    assert (await send(i, "council", "SetTarget", target | {"contract_id": "k9"}))["details"][0]["field"] == "contract_id"
    outside = await send(i, "council", "SetTarget", target | {"period_end": "2026-10-31"})
    assert outside["code"] == "rule_violation" and "within the contract" in outside["message"]
    assert (await send(i, "council", "SetTarget", target | {"indicator": "smiles"}))["code"] == "invalid"
    assert (await send(i, "council", "SetTarget", target))["status"] == "accepted"
    revised = await send(i, "council", "SetTarget", target | {"target": 36}, key="revised")
    assert revised["status"] == "accepted"
    events = [json.loads(e.payload) for e in i.store._events]  # type: ignore[attr-defined]
    assert [(e["data"]["target"], e["data"]["partner_id"]) for e in events if e["type"].endswith("TargetSet")] == [
        (40, "archers"), (36, "archers")]


PURPOSE_SETS = st.none() | st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=4, unique=True)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["RecordConsent", "WithdrawConsent"]), PURPOSE_SETS), max_size=12),
       flag=st.booleans())
async def test_consent_by_purpose_behaves_as_a_set_of_purposes(steps: list[tuple[str, list[str] | None]], flag: bool) -> None:
    """Against a model: recording adds purposes (none named: what the single flag meant)
    and is refused when it adds none; withdrawing removes those named (none named: all) and
    is refused when it removes none. The enrolment's own flag starts the set."""
    i = intake()
    await programme(i)
    enrol = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self",
             "consent_given": flag, "enrolled_on": "2025-11-01"}
    assert (await send(i, "archers", "EnrolParticipant", enrol))["status"] == "accepted"
    held = set(SINGLE_FLAG) if flag else set()
    for n, (command, purposes) in enumerate(steps):
        data = {"programme_id": "p1", "participant_id": "P-1", "on": "2025-11-02"} | (
            {"purposes": purposes} if purposes is not None else {})
        reply = await send(i, "archers", command, data, key=f"step-{n}")
        if command == "RecordConsent":
            asked = set(purposes or SINGLE_FLAG)
            assert reply["status"] == ("rejected" if asked <= held else "accepted"), (held, command, purposes, reply)
            recorded = list(purposes or SINGLE_FLAG)
            held |= asked
        else:
            removed = held & set(purposes or PURPOSES)
            assert reply["status"] == ("accepted" if removed else "rejected"), (held, command, purposes, reply)
            recorded = [p for p in PURPOSES if p in removed]
            held -= removed
        if reply["status"] == "accepted":  # the event says exactly which purposes it gives or takes away
            last = (await i.store.read_subject("pathways.evt.p1.archers.registry.P-1"))[-1].event
            assert last.data["purposes"] == recorded, (command, purposes, last.data)


def test_consent_events_stored_as_one_flag_are_upcast_to_the_purposes_it_covered() -> None:
    from pathways.core.schemas import UnknownSchemaVersion, schema_uri
    from pathways.policy.consent import purposes_given
    from pathways_registry.domain import events as e

    ids = {"programme_id": "p1", "participant_id": "P-1", "partner_id": "archers"}
    recorded = e.schemas.decode(e.ConsentRecorded.event_type, schema_uri("event", "registry", "ConsentRecorded", 1),
                                ids | {"recorded_on": "2025-11-02"})
    assert isinstance(recorded, e.ConsentRecorded)
    assert (recorded.purposes, recorded.recorded_by, recorded.review_on) == (
        ["taking_part", "sharing_with_commissioner", "evaluation"], None, None)
    withdrawn = e.schemas.decode(e.ConsentWithdrawn.event_type, schema_uri("event", "registry", "ConsentWithdrawn", 1),
                                 ids | {"withdrawn_on": "2025-12-01"})
    assert isinstance(withdrawn, e.ConsentWithdrawn) and withdrawn.purposes == list(PURPOSES)
    # v2 data is taken as it is: no upcaster runs over it.
    v2 = e.schemas.decode(e.ConsentWithdrawn.event_type, schema_uri("event", "registry", "ConsentWithdrawn", 2),
                          ids | {"withdrawn_on": "2025-12-01", "purposes": ["evaluation"]})
    assert isinstance(v2, e.ConsentWithdrawn) and v2.purposes == ["evaluation"]
    # A version this release cannot read stops the reader: a newer release's withdrawal
    # skipped or misread would leave consent held that the person took back.
    for version in (0, 3):
        uri = schema_uri("event", "registry", "ConsentWithdrawn", version)
        with pytest.raises(UnknownSchemaVersion):
            e.schemas.decode(e.ConsentWithdrawn.event_type, uri, ids | {"withdrawn_on": "2025-12-01", "purposes": []})
        with pytest.raises(UnknownSchemaVersion):
            purposes_given("ConsentWithdrawn", version, ids | {"withdrawn_on": "2025-12-01", "purposes": []})
    assert not issubclass(UnknownSchemaVersion, ValueError | KeyError)  # never taken for a message that is no event


async def test_a_consent_command_naming_a_purpose_twice_is_invalid_for_recording_and_withdrawing_alike() -> None:
    i = intake()
    await programme(i)
    enrol = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self",
             "consent_given": True, "enrolled_on": "2025-11-01"}
    assert (await send(i, "archers", "EnrolParticipant", enrol))["status"] == "accepted"
    for command in ("RecordConsent", "WithdrawConsent"):
        data = {"programme_id": "p1", "participant_id": "P-1", "on": "2025-11-02", "purposes": ["evaluation", "evaluation"]}
        reply = await send(i, "archers", command, data)
        assert reply["code"] == "invalid" and "each purpose at most once" in json.dumps(reply), (command, reply)

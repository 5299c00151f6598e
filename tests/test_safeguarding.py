"""Safeguarding concerns (issue 18) against a real nats-server of its own, with the registry,
reporting and audit services: a concern is read only by the partner that raised it and the
programme's safeguarding leads, every read is recorded by the concern's opaque reference,
and nothing it says (whom it is about, its category, what happened, what was done, the
outcome) is in the stream, a log line, a read model, the ledger, a refusal's record or any
other caller's answer, over HTTP or NATS."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from pathways.core.ids import OPERATOR_ORGANISATION
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways_audit.sources import DatabaseLedger
from pathways_audit.verify import verify_history

from tests.conftest import ProgrammeSetup, appended_since, enrolment, signed_in, unique
from tests.test_personal_data import Platform, everywhere, platform, signed_checkpoint, stream_text, vkey
from tests.test_reporting import caught_up

__all__ = ["platform"]  # the fixture, shared with the personal data tests

# Made up: no real person or event. Each is a string no other record holds, so a leak is found.
WHAT_HAPPENED = "Disclosed that a visitor (Quentin Brambleworth) takes her allowance each week"
ACTION = "Spoke with the ward's named nurse; visits by Q.B. supervised from now"
OUTCOME = "Allowance paid into her own account; visitor banned from the ward"
PERSON = "pt-concern-hazel"
SECRETS = [WHAT_HAPPENED, ACTION, OUTCOME, PERSON, "financial_or_material", "immediate_risk",
           "local_authority_adult_safeguarding", "risk_removed"]


def concern_data(s: ProgrammeSetup, concern_id: str, **more: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "concern_id": concern_id, "participant_id": PERSON,
            "category": "financial_or_material", "severity": "immediate_risk", "what_happened": WHAT_HAPPENED,
            "raised_on": "2026-01-12"} | more


def leads_work(s: ProgrammeSetup, concern_id: str, **more: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "partner_id": s.partner_a, "concern_id": concern_id, "on": "2026-01-13"} | more


async def accepted(p: Platform, org: str, command: str, data: dict[str, Any]) -> dict[str, Any]:
    reply = await p.client.send(org, command, data)
    assert reply["status"] == "accepted", reply
    return reply


async def get(host: ServiceHost, org: str, role: str, path: str) -> httpx.Response:
    async with await signed_in(host, org, role) as http:
        return await http.get(path)


async def appoint_trust(p: Platform) -> str:
    trust = unique("trust")
    await accepted(p, OPERATOR_ORGANISATION, "RegisterOrganisation",
                   {"organisation_id": trust, "name": "Greenfield Health NHS Trust (test)", "kind": "nhs_trust"})
    await accepted(p, p.s.commissioner, "AppointSafeguardingLead", {"programme_id": p.s.programme_id,
                                                                     "organisation_id": trust})
    return trust


async def test_a_concern_is_read_by_the_raising_partner_and_the_safeguarding_leads_and_no_one_else(
    platform: Platform, capfd: pytest.CaptureFixture[str],
) -> None:
    p, s = platform, platform.s
    trust = await appoint_trust(p)
    await accepted(p, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, PERSON))
    concern = unique("sg")
    before = await JetStreamEventStore(p.nc).last_sequence()
    await accepted(p, s.partner_a, "RaiseConcern", concern_data(s, concern))
    await accepted(p, trust, "RecordConcernAction", leads_work(s, concern, action=ACTION,
                                                               escalated_to="local_authority_adult_safeguarding"))
    await accepted(p, trust, "CloseConcern", leads_work(s, concern, outcome="risk_removed", summary=OUTCOME))
    events, _ = await appended_since(p.nc, before)
    assert [e.event.type.rsplit(".", 1)[1] for e in events] == ["ConcernRaised", "ConcernActionRecorded", "ConcernClosed"]
    await caught_up(p.registry, p.nc)

    # The two who may read it: the partner that raised it, and a lead with a lead's token.
    one = f"/programmes/{s.programme_id}/concerns/{s.partner_a}/{concern}"
    for org, role in [(s.partner_a, "partner"), (trust, "safeguarding_lead")]:
        opened = (await get(p.registry, org, role, one)).json()
        assert (opened["participant_id"], opened["category"], opened["severity"], opened["closed"]) == (
            PERSON, "financial_or_material", "immediate_risk", True), role
        assert [(e["part"], e["by_organisation"]) for e in opened["entries"]] == [
            ("raised", s.partner_a), ("action", trust), ("closed", trust)]
        assert opened["entries"][0]["opened"]["what_happened"] == WHAT_HAPPENED
        assert opened["entries"][1]["opened"] == {"action": ACTION, "escalated_to": "local_authority_adult_safeguarding"}
        assert opened["entries"][2]["opened"] == {"outcome": "risk_removed", "summary": OUTCOME}
        listed = (await get(p.registry, org, role, f"/programmes/{s.programme_id}/concerns")).json()
        assert [(c["concern_id"], c["participant_id"]) for c in listed] == [(concern, PERSON)]

    # Everyone else gets nothing: the commissioner's everyday token, the other partner, the
    # evaluator, an auditor, the operator, a trust that is not a lead here.
    stranger_trust = unique("trust")
    refused_everywhere = [(s.commissioner, "commissioner", 403), (s.partner_b, "partner", 404),
                          (s.evaluator, "evaluator", 403), (unique("auditor"), "auditor", 403),
                          (OPERATOR_ORGANISATION, "operator", 403), (stranger_trust, "safeguarding_lead", 404),
                          (s.commissioner, "safeguarding_lead", 404)]  # not appointed (yet)
    for org, role, status in refused_everywhere:
        answer = await get(p.registry, org, role, one)
        assert answer.status_code == status and PERSON not in answer.text and "Quentin" not in answer.text, (role, answer.text)
        listed_for_them = await get(p.registry, org, role, f"/programmes/{s.programme_id}/concerns")
        # The other partner is answered as a partner with no concerns; the rest are refused outright.
        assert (listed_for_them.status_code, listed_for_them.status_code == 200 and listed_for_them.json()) == (
            200 if org == s.partner_b else status, [] if org == s.partner_b else False), (role, listed_for_them.text)
        assert concern not in listed_for_them.text, role
    # A token for a role that is not a reader never opens one, whatever its organisation leads on.
    assert (await get(p.registry, trust, "commissioner", one)).status_code == 403

    # Stood down, the trust's lead token opens nothing more.
    await accepted(p, s.commissioner, "StandDownSafeguardingLead", {"programme_id": s.programme_id, "organisation_id": trust})
    await caught_up(p.registry, p.nc)
    assert (await get(p.registry, trust, "safeguarding_lead", one)).status_code == 404

    # Every read is on the record, by the concern's reference and never by the person's id.
    _, records = await appended_since(p.nc, before)
    concern_reads = [r.event for r in records if r.event.type.endswith("ParticipantRecordsRead")]
    assert [(r.organisation, r.data["participant_ids"]) for r in concern_reads] == [
        (org, [f"concern:{s.partner_a}:{concern}"]) for org in (s.partner_a, s.partner_a, trust, trust)]
    await caught_up(p.audit, p.nc)
    async with await signed_in(p.audit, unique("auditor"), "auditor") as auditor:  # where an auditor asks
        logged = (await auditor.get(f"/audit/participants/concern:{s.partner_a}:{concern}/reads")).json()
    assert [r["organisation_id"] for r in logged] == [s.partner_a, s.partner_a, trust, trust]

    # Nothing the concern says is anywhere but in its ciphertext: not in the stream (what an
    # auditor's Direct Get reads), a log line, any service's database (the registry's read
    # model, reporting's tables and exports, the audit ledger), nor in the reporting answers.
    for host in (p.registry, p.reporting, p.audit):
        await caught_up(host, p.nc)
    stored = await stream_text(p.nc)
    assert '"sealed":{"alg":"AES-256-GCM"' in stored and concern in stored  # the scan reads the concern's events
    async with await signed_in(p.reporting, s.commissioner, "commissioner") as commissioner:
        shown = "".join([(await commissioner.get(f"/programmes/{s.programme_id}/{path}")).text
                         for path in ("tables/participants", "summary", "exports/participants.csv")])
    scanned = everywhere(p, capfd.readouterr().err + stored + shown)
    assert "ConcernRaised" in scanned
    leaks = [secret for secret in SECRETS if secret != PERSON and secret in scanned]
    assert leaks == []
    # The person's id is in their own enrolment's events, and in nothing about the concern.
    concern_events = [e.payload.decode() for e in events]
    assert not [e for e in concern_events if PERSON in e or "Quentin" in e]

    await signed_checkpoint(p)
    report = await verify_history(JetStreamEventStore(p.nc), vkey(p), ledger=DatabaseLedger(p.audit.engine))
    assert report.ok, report.problems


async def test_strangers_to_a_concern_are_answered_as_for_one_that_does_not_exist(platform: Platform) -> None:
    p, s = platform, platform.s
    trust = await appoint_trust(p)
    await accepted(p, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, PERSON))
    concern = unique("sg")
    await accepted(p, s.partner_a, "RaiseConcern", concern_data(s, concern))

    def anonymous(reply: dict[str, Any], concern_id: str) -> tuple[str, str]:
        return reply["code"], reply["message"].replace(concern_id, "<id>")

    # Over NATS, no one but a lead learns from a reply whether the concern exists.
    for org in (s.partner_b, s.partner_a, s.commissioner, s.evaluator, unique("trust")):
        there = await p.client.send(org, "RecordConcernAction", leads_work(s, concern, action=ACTION),
                                    key=f"act-on-{concern}")  # a key made of the reference
        not_there = await p.client.send(org, "RecordConcernAction", leads_work(s, "sg-none", action=ACTION))
        assert anonymous(there, concern) == anonymous(not_there, "sg-none") and there["code"] == "not_found", org
        assert ACTION not in json.dumps(there)
    # An id guessed under the partner's subjects says nothing either way: a concern named as
    # an enrolment to erase, or one of the partner's people named as a concern to act on.
    for org in (s.partner_b, s.commissioner, trust):
        for wrong, named in [("ApplyRetention", {"programme_id": s.programme_id, "partner_id": s.partner_a,
                                                 "participant_id": concern}),
                             ("RecordConcernAction", leads_work(s, PERSON, action=ACTION))]:
            guessed = await p.client.send(org, wrong, named)
            unused = await p.client.send(org, wrong, named | ({"participant_id": "pt-none"} if "participant_id" in named
                                                               else {"concern_id": "pt-none"}))
            assert guessed["code"] != "conflict" and anonymous(guessed, concern if wrong == "ApplyRetention" else PERSON) \
                == anonymous(unused, "pt-none"), (org, wrong, guessed)

    # The partner cannot raise a concern about someone it never enrolled; the refusal does not
    # name the person, and its record's hash leaves out everything the concern would have said.
    stranger = {"idempotency_key": unique("k"), "organisation": s.partner_b, "actor": "tester",
                "data": concern_data(s, unique("sg"))}
    refused = await p.client.send(s.partner_b, "RaiseConcern", stranger["data"], key=stranger["idempotency_key"])
    assert refused["code"] == "not_found" and PERSON not in json.dumps(refused)
    # A reference the partner already uses for one of its people is taken: the refusal's
    # record does not quote it.
    taken = await p.client.send(s.partner_a, "RaiseConcern", concern_data(s, PERSON))
    assert taken["code"] == "conflict", taken
    await caught_up(p.audit, p.nc)
    async with await signed_in(p.audit, unique("auditor"), "auditor") as auditor:
        records = (await auditor.get("/audit/rejections", params={"limit": 2})).json()
    assert [r["command"] for r in records] == ["RaiseConcern", "RaiseConcern"]
    assert [r for r in records if PERSON in json.dumps(r) or WHAT_HAPPENED in json.dumps(r)] == [], records
    async with await signed_in(p.audit, unique("auditor"), "auditor") as auditor:  # a stranger's try on the concern
        every = (await auditor.get("/audit/rejections", params={"limit": 100})).json()
    tried = [r for r in every if r["command"] == "RecordConcernAction"]
    assert tried and [r for r in tried if concern in json.dumps(r)] == [], tried
    kept = {k: v for k, v in stranger["data"].items()
            if k not in ("concern_id", "participant_id", "category", "severity", "what_happened", "raised_on")}
    record = next(r for r in records if r["organisation_id"] == s.partner_b)
    assert record["body_sha256"] == hashlib.sha256(json.dumps(stranger | {"data": kept}, sort_keys=True,
                                                              separators=(",", ":")).encode()).hexdigest()

    # Over HTTP a lead's work takes a lead's token, and a lead's token sends nothing else.
    async with await signed_in(p.registry, trust, "commissioner") as wrong_token:
        answer = await wrong_token.post(f"/commands/{trust}/RecordConcernAction", json={
            "idempotency_key": unique("k"), "organisation": trust, "actor": "tester",
            "data": leads_work(s, concern, action=ACTION)})
        assert answer.status_code == 403 and "safeguarding_lead role" in answer.text, answer.text
    async with await signed_in(p.registry, s.commissioner, "safeguarding_lead") as lead_token:
        answer = await lead_token.post(f"/commands/{s.commissioner}/SetTarget", json={
            "idempotency_key": unique("k"), "organisation": s.commissioner, "actor": "tester", "data": {}})
        assert answer.status_code == 403 and "sends only that role's commands" in answer.text, answer.text
        batch = await lead_token.post(f"/commands/{s.commissioner}/batch", json={"commands": [{
            "command": "SetTarget", "idempotency_key": unique("k"), "organisation": s.commissioner, "actor": "tester",
            "data": {}}]})
        assert batch.json()["replies"][0]["code"] == "forbidden", batch.text
    async with await signed_in(p.registry, trust, "safeguarding_lead") as lead_token:
        answer = await lead_token.post(f"/commands/{trust}/RecordConcernAction", json={
            "idempotency_key": unique("k"), "organisation": trust, "actor": "tester",
            "data": leads_work(s, concern, action=ACTION)})
        assert answer.status_code == 200, answer.text

    # Only the platform seals, and a closed concern takes nothing more.
    forged = await p.client.send(trust, "RecordConcernAction", leads_work(s, concern, action=ACTION) | {
        "sealed": {"nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"}})
    assert forged["code"] == "invalid", forged
    await accepted(p, trust, "CloseConcern", leads_work(s, concern, outcome="not_substantiated", summary=OUTCOME))
    late = await p.client.send(trust, "RecordConcernAction", leads_work(s, concern, action=ACTION))
    assert late["code"] == "rule_violation" and "closed" in late["message"]
    # A lead is the commissioner itself or an NHS trust, named by the programme's commissioner only.
    for org, who, code in [(s.partner_a, trust, "forbidden"), (s.commissioner, s.partner_b, "rule_violation"),
                           (s.commissioner, trust, "rule_violation")]:  # already a lead
        reply = await p.client.send(org, "AppointSafeguardingLead", {"programme_id": s.programme_id, "organisation_id": who})
        assert reply["code"] == code, (org, who, reply)
    await accepted(p, s.commissioner, "AppointSafeguardingLead", {"programme_id": s.programme_id,
                                                                   "organisation_id": s.commissioner})
    # Stood down, a lead is a stranger to the concerns over NATS too.
    other = unique("sg")
    await accepted(p, s.partner_a, "RaiseConcern", concern_data(s, other))
    await accepted(p, s.commissioner, "StandDownSafeguardingLead", {"programme_id": s.programme_id, "organisation_id": trust})
    gone = await p.client.send(trust, "RecordConcernAction", leads_work(s, other, action=ACTION))
    assert gone["code"] == "not_found", gone

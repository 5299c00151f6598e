"""Command batches (pathways.jetstream.batch): many commands in one request, each decided as if sent
alone and in the batch's order, the accepted ones' events stored in atomic batches; a
batch sent again adds nothing; G1 holds against single commands and a second instance;
a chunk the store refuses is answered command by command; hostile bodies all answered."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from pathways.core.batch_wire import MAX_COMMANDS, batch_body
from pathways.core.eventstore.base import AppendRequest, AppendResult
from pathways.core.intake import CommandIntake
from pathways.jetstream import batch
from pathways.jetstream.batch import BatchReply, handle_batch
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways_registry.app import service as registry_service

from tests.conftest import CommandClient, ProgrammeSetup, appended_since, enrolment, setup_programme, unique


def consent(s: ProgrammeSetup, participant: str, command: str = "RecordConsent") -> tuple[str, dict[str, Any], str]:
    return (command, {"programme_id": s.programme_id, "participant_id": participant, "on": "2026-01-05"}, uuid.uuid4().hex)


async def batch_ids(nc: Client, sequences: list[int]) -> set[str]:
    """The atomic batch each stored message came in (a lone append has none)."""
    out = set()
    for seq in sequences:
        stored = await nc.jsm().get_msg("PATHWAYS_EVENTS", seq, direct=True)
        out.add((stored.headers or {}).get("Nats-Batch-Id") or f"alone-{seq}")
    return out


async def test_a_batch_is_decided_in_order_stored_in_one_commit_and_sent_again_adds_nothing(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    people = [unique("p") for _ in range(6)]
    enrol = [("EnrolParticipant", enrolment(s.programme_id, p, consent_given=False), f"enrol-{p}") for p in people]
    commands = [
        *enrol,
        consent(s, people[0]),  # decided on the enrolment made earlier in this very batch
        consent(s, people[0]),  # a second consent for one who consents now: the rule refuses it
        ("EnrolParticipant", enrolment(s.programme_id, people[1]), f"enrol-{people[1]}"),  # the same command again
        ("EnrolParticipant", {"programme_id": s.programme_id}, "bad-data"),  # does not match the schema
        ("NoSuchCommand", {}, "unknown"),
    ]
    before = await JetStreamEventStore(nats_client).last_sequence()
    answer = await client.send_batch(s.partner_a, commands)
    replies = answer["replies"]
    assert [r["status"] for r in replies] == ["accepted"] * 7 + ["rejected", "accepted", "rejected", "rejected"]
    assert replies[7]["code"] == "rule_violation" and replies[9]["code"] == "invalid" and replies[10]["code"] == "invalid"
    assert replies[8] == replies[1]  # the repeat has the reply its first sending got
    domain, refusals = await appended_since(nats_client, before)
    assert len(domain) == 7 and len(refusals) == 3  # every refusal on the record for the auditors
    assert len(await batch_ids(nats_client, [e.sequence for e in domain])) == 1  # one atomic commit

    last = await JetStreamEventStore(nats_client).last_sequence()
    again = await client.send_batch(s.partner_a, commands)
    assert [r["status"] for r in again["replies"]] == [r["status"] for r in replies]
    assert [r.get("event_ids") for r in again["replies"]] == [r.get("event_ids") for r in replies]
    assert (await appended_since(nats_client, last))[0] == []


async def test_a_request_that_is_no_batch_gets_one_rejection(registry: ServiceHost, client: CommandClient) -> None:
    too_deep = b"[" * 100_000  # json.loads raises RecursionError, not a decoding error
    for body in (b"[]", b'{"commands": []}', b"not json", too_deep, json.dumps({"commands": [{}] * (MAX_COMMANDS + 1)}).encode()):
        reply = await client.raw("org-x", "batch", body)
        assert reply["status"] == "rejected" and reply["code"] == "invalid", reply


async def test_g1_batches_and_single_commands_on_two_instances_give_one_winner_per_aggregate(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: Any, tmp_path: Any
) -> None:
    """Each enrolment may take consent once. Two batches naming every enrolment and a single
    command for each race over two registry instances (their caches stale in turn):
    exactly one consent is stored for each."""
    from tests.conftest import running

    s = await setup_programme(client)
    people = [unique("p") for _ in range(20)]
    enrolled = await client.send_batch(s.partner_a, [
        ("EnrolParticipant", enrolment(s.programme_id, p, consent_given=False), uuid.uuid4().hex) for p in people])
    assert {r["status"] for r in enrolled["replies"]} == {"accepted"}
    (tmp_path / "second").mkdir()
    async with running(registry_service, nats_server, tmp_path / "second"):
        before = await JetStreamEventStore(nats_client).last_sequence()
        answers = await asyncio.gather(
            client.send_batch(s.partner_a, [consent(s, p) for p in people]),
            client.send_batch(s.partner_a, [consent(s, p) for p in reversed(people)]),
            *(client.send(s.partner_a, *consent(s, p)[:2]) for p in people),
        )
    replies = [*answers[0]["replies"], *answers[1]["replies"], *answers[2:]]
    assert len(replies) == 60 and sum(r["status"] == "accepted" for r in replies) == 20
    assert {r["code"] for r in replies if r["status"] == "rejected"} <= {"conflict", "rule_violation"}
    domain, _ = await appended_since(nats_client, before)
    assert sorted(e.event.data["participant_id"] for e in domain) == sorted(people)


class Overtaken(JetStreamEventStore):
    """A store where, just before its `when`-th append, another instance of the service
    records consent for `participant`: the append that follows was decided without it."""

    def __init__(self, nc: Client, when: int, rival: CommandIntake, s: ProgrammeSetup, participant: str) -> None:
        super().__init__(nc, timeout=30)
        self.calls, self.when, self.rival, self.s, self.participant = 0, when, rival, s, participant

    async def append(self, request: AppendRequest) -> AppendResult:
        self.calls += 1
        if self.calls == self.when:
            command, data, key = consent(self.s, self.participant)
            body = json.dumps({"idempotency_key": key, "organisation": self.s.partner_a, "actor": "rival", "data": data})
            assert (await self.rival.handle(self.s.partner_a, command, body.encode())).status == "accepted"
        return await super().append(request)


async def test_a_chunk_the_store_refuses_is_answered_command_by_command(
    registry: ServiceHost, client: CommandClient, nats_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of four events: the second is overtaken by a rival instance on one of its
    aggregates, so the server refuses it whole. Its commands and the later chunks' are each
    decided again on their own: the overtaken one is refused, every other one stored."""
    monkeypatch.setattr(batch, "MAX_BATCH_MESSAGES", 4)
    s = await setup_programme(client)
    people = [unique("p") for _ in range(10)]
    enrolled = await client.send_batch(s.partner_a, [
        ("EnrolParticipant", enrolment(s.programme_id, p, consent_given=False), uuid.uuid4().hex) for p in people])
    assert {r["status"] for r in enrolled["replies"]} == {"accepted"}
    rival = CommandIntake("registry", registry_service.handlers, JetStreamEventStore(nats_client), registry_service.schemas)
    store = Overtaken(nats_client, 2, rival, s, people[5])
    intake = CommandIntake("registry", registry_service.handlers, store, registry_service.schemas)
    before = await store.last_sequence()
    answer = await handle_batch(intake, s.partner_a, batch_body(s.partner_a, "tester", [consent(s, p) for p in people]))
    assert isinstance(answer, BatchReply)
    statuses = [r.status for r in answer.replies]
    assert statuses == ["accepted"] * 5 + ["rejected"] + ["accepted"] * 4
    assert store.calls > 3  # chunk one whole, chunk two refused, then one append per command
    domain, _ = await appended_since(nats_client, before)
    assert sorted(e.event.data["participant_id"] for e in domain) == sorted(people)  # the rival's one included
    assert [e.event.actor for e in domain].count("rival") == 1


def _junk() -> st.SearchStrategy[Any]:
    return st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                        max_leaves=8)


def _item(org: str) -> st.SearchStrategy[Any]:
    command = st.sampled_from(["EnrolParticipant", "RecordConsent", "batch", "", "Nope"]) | _junk()
    return st.fixed_dictionaries({"command": command}, optional={
        "idempotency_key": st.text(max_size=3) | _junk(), "organisation": st.sampled_from([org, "someone-else"]) | _junk(),
        "actor": st.text(max_size=4), "data": _junk(), "extra": _junk()}) | _junk()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_hostile_batches_get_one_reply_per_command_or_one_rejection_and_store_nothing(
    nats_client: Client, data: st.DataObject
) -> None:
    org = "hostile-org"
    store = JetStreamEventStore(nats_client)
    intake = CommandIntake("registry", registry_service.handlers, store, registry_service.schemas)
    body = data.draw(st.one_of(
        st.fixed_dictionaries({"commands": st.lists(_item(org), min_size=1, max_size=8)}),
        _junk(),
    ))
    before = await store.last_sequence()
    answer = await handle_batch(intake, org, json.dumps(body).encode())
    if isinstance(answer, BatchReply):
        assert len(answer.replies) == len(body["commands"])
        assert all(r.status == "rejected" and r.code in {"invalid", "forbidden", "not_found", "rule_violation"}
                   for r in answer.replies)
    else:
        assert answer.code == "invalid"
    assert await store.last_sequence() == before  # nothing valid enough to store, and no trail here


def test_facts_read_outside_a_consultation_are_not_kept_on_the_pooled_connection(tmp_path: Any) -> None:
    """A dashboard or API read of the directory must not leave facts on a pooled connection
    for the next command's consultation to find (found by a review)."""
    from pathways.core.readmodels import make_engine
    from pathways_sessions.readmodel import DIRECTORY

    engine = make_engine(f"sqlite:///{tmp_path / 'memo.db'}")
    DIRECTORY.contracts_table.metadata.create_all(engine)
    with engine.connect() as conn:
        assert DIRECTORY.contracts(conn, "prog", "partner") == []
    with engine.begin() as conn:
        conn.execute(DIRECTORY.contracts_table.insert().values(
            programme_id="prog", contract_id="c1", partner_id="partner", budget_pence=1, activities='["yoga"]',
            starts_on=__import__("datetime").date(2026, 1, 1), ends_on=__import__("datetime").date(2026, 12, 31)))
    with engine.connect() as conn:
        assert [c.contract_id for c in DIRECTORY.contracts(conn, "prog", "partner")] == ["c1"]


async def test_half_a_character_is_refused_as_invalid_not_left_unavailable(registry: ServiceHost, client: CommandClient) -> None:
    """JSON may escape a lone surrogate ("\\ud800"), which no stored text can hold: refused for
    what it is, on its own and in a batch, rather than failing at the append every time it is sent."""
    s = await setup_programme(client)
    data = enrolment(s.programme_id, unique("p"), setting="\ud800")
    body = json.dumps({"idempotency_key": "half", "organisation": s.partner_a, "actor": "t", "data": data}).encode()
    assert b"\\ud800" in body
    alone = await client.raw(s.partner_a, "EnrolParticipant", body)
    item = {"command": "EnrolParticipant", "idempotency_key": "half", "organisation": s.partner_a, "actor": "t", "data": data}
    batched = await client.raw(s.partner_a, "batch", json.dumps({"commands": [item]}).encode())
    assert (alone["status"], alone["code"]) == ("rejected", "invalid"), alone
    assert batched["status"] == "rejected" and batched["code"] == "invalid", batched


async def test_text_that_is_not_utf8_is_refused_as_invalid(registry: ServiceHost, client: CommandClient) -> None:
    """The same half character sent raw (the bytes of a surrogate in "UTF-8") and a whole
    command in UTF-16: both refused as invalid, not stored nor left failing at the append."""
    s = await setup_programme(client)
    data = enrolment(s.programme_id, unique("p"), setting="SURROGATE")
    text = json.dumps({"idempotency_key": unique("raw"), "organisation": s.partner_a, "actor": "t", "data": data})
    raw_surrogate = text.encode().replace(b"SURROGATE", b"\xed\xa0\x80")
    utf16 = text.replace("SURROGATE", "ward").encode("utf-16")
    for body in (raw_surrogate, utf16):
        reply = await client.raw(s.partner_a, "EnrolParticipant", body)
        assert (reply["status"], reply["code"]) == ("rejected", "invalid"), reply
        assert "not valid JSON" in reply["message"]

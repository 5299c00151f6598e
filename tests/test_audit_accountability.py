"""Accountability beyond events, on a server of its own: a rejected command is recorded
(who, what, why; never the body), every read of participants' records through an API is
recorded (who looked at whom), the auditor can ask both questions, and an answer whose
reading cannot be recorded is not given."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats.js.api
import pytest
from pathways.core.subjects import STREAM_NAME
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, running, setup_programme, unique
from tests.test_evaluation import outcome
from tests.test_reporting import caught_up


@dataclass
class Platform:
    nc: Any
    client: CommandClient
    evaluation: ServiceHost
    reporting: ServiceHost
    audit: ServiceHost
    s: ProgrammeSetup
    people: list[str]
    tokens: dict[str, str]

    def http(self, host: ServiceHost, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://test",
                                 headers={"Authorization": f"Bearer {self.tokens[who]}"})

    async def everything_applied(self) -> None:
        for host in (self.evaluation, self.reporting, self.audit):
            await caught_up(host, self.nc)


@pytest.fixture
async def platform(own_nats_server: NatsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Platform]:
    monkeypatch.setenv("PATHWAYS_LEDGER_KEY", str(tmp_path / "keys" / "ledger.key"))
    services = discover()
    nc = await own_nats_server.connection.connect("accountability-test")
    client = CommandClient(nc)
    async with running(services["registry"], own_nats_server, tmp_path), \
            running(services["evaluation"], own_nats_server, tmp_path) as evaluation, \
            running(services["reporting"], own_nats_server, tmp_path) as reporting, \
            running(services["audit"], own_nats_server, tmp_path) as audit:
        s = await setup_programme(client)
        people = [unique("pt") for _ in range(3)]
        for person in people:
            assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person)))["status"] == "accepted"
            reply = await client.send(s.partner_a, "RecordOutcome", outcome(s, person), context="evaluation")
            assert reply["status"] == "accepted", reply
        store = TokenStore(nc)
        tokens = {"a": await store.issue(s.partner_a, "partner"), "evaluator": await store.issue(s.evaluator, "evaluator"),
                  "commissioner": await store.issue(s.commissioner, "commissioner"),
                  "auditor": await store.issue(unique("auditor"), "auditor")}
        p = Platform(nc, client, evaluation, reporting, audit, s, people, tokens)
        await p.everything_applied()
        yield p
    await nc.close()


async def stream_text(nc: Any) -> str:
    store = JetStreamEventStore(nc)
    return "\n".join([e.payload.decode() async for e in store.read_all(1, await store.last_sequence())])


async def test_rejected_commands_are_recorded_with_who_what_and_why_but_never_the_body(platform: Platform) -> None:
    p = platform
    marker = "Zebedee Quillfeather"  # made up; stands for anything personal a body might hold
    body = {"idempotency_key": "k-1", "organisation": p.s.partner_b, "actor": "jo.at.partner-b",
            "data": enrolment(p.s.programme_id, "pt-x") | {"notes": marker, f"{marker} 1980-01-01": "as a key"}}
    payload = json.dumps(body).encode()
    reply = await p.client.raw(p.s.partner_b, "EnrolParticipant", payload)
    assert reply["status"] == "rejected" and reply["code"] == "invalid"
    assert marker in reply["message"]  # the sender is told which of its fields were wrong
    assert await p.client.raw(p.s.partner_b, "EnrolParticipant", payload) == reply  # a retry: refused the same way
    # Sent on A's subject while claiming to be B: forbidden, and recorded against the subject's sender.
    forged = json.dumps(body | {"data": enrolment(p.s.programme_id, "pt-y")}).encode()
    reply = await p.client.raw(p.s.partner_a, "EnrolParticipant", forged)
    assert reply["code"] == "forbidden"
    garbage = b"not json at all"
    reply = await p.client.raw(p.s.partner_a, "RecordOutcome", garbage, context="evaluation")
    assert reply["code"] == "invalid"
    await p.everything_applied()

    async with p.http(p.audit, "auditor") as auditor:
        rows = (await auditor.get("/audit/rejections", params={"limit": 10})).json()
        by_b = (await auditor.get("/audit/rejections", params={"organisation": p.s.partner_b})).json()
    assert [r["command"] for r in rows[:3]] == ["RecordOutcome", "EnrolParticipant", "EnrolParticipant"]
    outcome_row, forged_row, invalid_row = rows[:3]
    assert (invalid_row["organisation_id"], invalid_row["actor"], invalid_row["context"], invalid_row["code"]) == (
        p.s.partner_b, "jo.at.partner-b", "registry", "invalid")
    assert invalid_row["programme_id"] == p.s.programme_id and invalid_row["idempotency_key"] == "k-1"
    assert "notes" in invalid_row["message"] and invalid_row["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert "field not in the schema" in invalid_row["message"]  # a made-up key may be anyone's name: not kept
    assert (forged_row["organisation_id"], forged_row["code"]) == (p.s.partner_a, "forbidden")
    assert (outcome_row["organisation_id"], outcome_row["actor"], outcome_row["code"]) == (p.s.partner_a, "unknown", "invalid")
    assert [r["sequence"] for r in by_b] == [invalid_row["sequence"]]  # the retry is the same record, not a second
    assert marker not in await stream_text(p.nc)


async def test_every_read_of_participants_records_is_recorded_and_answers_who_looked(platform: Platform) -> None:
    p = platform
    async with p.http(p.evaluation, "evaluator") as evaluator:
        outcomes = await evaluator.get(f"/programmes/{p.s.programme_id}/outcomes")
        assert outcomes.status_code == 200 and {r["participant_id"] for r in outcomes.json()} == set(p.people)
    async with p.http(p.reporting, "a") as partner:
        table = await partner.get(f"/programmes/{p.s.programme_id}/tables/participants")
        assert table.status_code == 200
        export = await partner.get(f"/programmes/{p.s.programme_id}/exports/outcomes.csv")
        assert export.status_code == 200 and p.people[0] in export.text
        figures = await partner.get(f"/programmes/{p.s.programme_id}/summary")  # counts only: not a read of anyone
        assert figures.status_code == 200
    async with p.http(p.reporting, "commissioner") as commissioner:
        page = await commissioner.get(f"/dashboard/programmes/{p.s.programme_id}")
        assert page.status_code == 200 and p.people[1] in page.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.evaluation.http_app()), base_url="http://test") as anonymous:
        assert (await anonymous.get(f"/programmes/{p.s.programme_id}/outcomes")).status_code == 401
    await p.everything_applied()

    async with p.http(p.audit, "auditor") as auditor:
        reads = (await auditor.get(f"/audit/participants/{p.people[0]}/reads")).json()
        nobody = (await auditor.get("/audit/participants/pt-never-enrolled/reads")).json()
    seen = [(r["organisation_id"], r["role"], r["service"], r["resource"]) for r in reads]
    base = f"/programmes/{p.s.programme_id}"
    assert seen == [
        (p.s.evaluator, "evaluator", "evaluation", f"GET {base}/outcomes"),
        (p.s.partner_a, "partner", "reporting", f"GET {base}/tables/participants"),
        (p.s.partner_a, "partner", "reporting", f"GET {base}/exports/outcomes.csv"),
        (p.s.commissioner, "commissioner", "reporting", f"GET /dashboard/programmes/{p.s.programme_id}"),
    ]
    assert nobody == []


async def test_an_answer_whose_reading_cannot_be_recorded_is_not_given(platform: Platform) -> None:
    p = platform
    js = p.nc.jetstream()
    info = await js.stream_info(STREAM_NAME)
    # The server itself refuses new events (stream full, discard new): recording the read fails.
    await js.update_stream(_full(info.config, info.state.messages))
    try:
        async with p.http(p.evaluation, "evaluator") as evaluator:
            refused = await evaluator.get(f"/programmes/{p.s.programme_id}/outcomes")
        async with p.http(p.reporting, "a") as partner:
            export = await partner.get(f"/programmes/{p.s.programme_id}/exports/participants.csv")
    finally:
        await js.update_stream(info.config)
    assert refused.status_code == 503 and p.people[0] not in refused.text
    assert export.status_code == 503 and p.people[0] not in export.text
    async with p.http(p.evaluation, "evaluator") as evaluator:
        assert (await evaluator.get(f"/programmes/{p.s.programme_id}/outcomes")).status_code == 200


def _full(config: nats.js.api.StreamConfig, messages: int) -> nats.js.api.StreamConfig:
    body = config.as_dict() | {"max_msgs": messages, "discard": "new"}
    return nats.js.api.StreamConfig.from_response(body)

"""Hostile command bodies on every command subject and every HTTP command route of every
service that takes commands (DESIGN §4 G4: every command gets a reply). Random bytes,
truncated JSON, deep nesting, long numbers, bodies past the size limit and well-formed
envelopes with wrong-typed data: each one gets a reply whose code is in the documented
set (never `unavailable`: a body cannot make the platform fail), nothing but the record
of the refusal is appended, and every service still answers afterwards.

About 1,000 cases by default; the `slow` variant sends 10,000. The counts go into the JUnit report."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from pathways.core.batch_wire import BATCH
from pathways.core.bodies import MAX_BODY, MAX_DEPTH, MAX_INT_DIGITS
from pathways.core.replies import RejectionCode
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, enrolment, setup_programme, unique

ORG = "fuzz-org"  # not a registered organisation: no body it sends may be stored as a fact
CODES = {c.value for c in RejectionCode} - {RejectionCode.UNAVAILABLE.value}


def junk() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12)


def envelope(data: Any, **fields: Any) -> dict[str, Any]:
    return {"idempotency_key": uuid.uuid4().hex, "organisation": ORG, "actor": "fuzzer", "data": data} | fields


def bodies() -> st.SearchStrategy[bytes]:
    valid = json.dumps(envelope(enrolment("prog-fuzz", "pt-fuzz"))).encode()
    deep = st.integers(min_value=MAX_DEPTH - 2, max_value=3000).flatmap(lambda n: st.sampled_from([
        b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n,
        json.dumps(envelope({})).encode()[:-2] + b', "x": ' + b"[" * n + b"]" * n + b"}}"]))
    long_number = st.integers(min_value=MAX_INT_DIGITS - 2, max_value=6000).map(
        lambda n: json.dumps(envelope({"programme_id": "p"})).replace('"p"', "9" * n).encode())
    return st.one_of(
        st.binary(max_size=300),
        st.integers(min_value=0, max_value=len(valid)).map(lambda cut: valid[:cut]),
        deep,
        long_number,
        st.sampled_from([b"", b"null", b"[]", b"1", b'"x"', b"\xff\xfe{\x00}", b'{"a": "\\ud800"}', b"{" * 100_000]),
        junk().map(lambda j: json.dumps(j).encode()),
        junk().map(lambda j: json.dumps(envelope(j)).encode()),
        st.dictionaries(st.sampled_from(["idempotency_key", "organisation", "actor", "data", "correlation_id", "x"]),
                        junk(), max_size=6).map(lambda d: json.dumps(d).encode()),
        st.just(b"{" + b" " * (MAX_BODY + 10) + b"}"),  # past the size limit
    )


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.codes: Counter[str] = Counter()


async def fuzz(hosts: dict[str, ServiceHost], nc: Client, cases: int) -> Tally:
    tally = Tally()
    token = await TokenStore(nc).issue(ORG, "partner")
    client = CommandClient(nc)
    commands = {name: [*sorted(host.service.handlers), BATCH, "NoSuchCommand"] for name, host in hosts.items()}
    apps = {name: host.http_app() for name, host in hosts.items()}
    http = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}",
                                    headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
            for name, app in apps.items()}

    drawn: list[tuple[str, int, bytes, bool]] = []

    # Hypothesis draws the cases (its strategies, its edge cases first); they are then sent
    # over the real NATS and HTTP paths below, each failure naming its body.
    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(context=st.sampled_from(sorted(hosts)), pick=st.integers(min_value=0, max_value=10_000), body=bodies(),
           over_http=st.booleans())
    def draw(context: str, pick: int, body: bytes, over_http: bool) -> None:
        drawn.append((context, pick, body, over_http))

    await asyncio.to_thread(draw)  # in a thread: the services in this process keep their heartbeats meanwhile

    async def one(context: str, pick: int, body: bytes, over_http: bool) -> None:
        command = commands[context][pick % len(commands[context])]
        tally.cases += 1
        if over_http:
            answer = await http[context].post(f"/commands/{ORG}/{command}", content=body)
            if len(body) > MAX_BODY:
                assert answer.status_code == 413, (context, command, answer.status_code)
                tally.codes["413"] += 1
                return
            handler = hosts[context].service.handlers.get(command)
            if handler is not None and handler.model.sent_with_role not in (None, "partner"):
                # A lead's command sent with a partner's token: refused for the token, unread (and recorded).
                assert answer.status_code == 403 and "role" in answer.json()["detail"], (context, command, answer.text)
                tally.codes["403"] += 1
                return
            assert answer.status_code == 422, (context, command, body[:80], answer.status_code, answer.text[:300])
            reply = answer.json()
        else:
            if len(body) > MAX_BODY - 1024:
                return  # past the server's max_payload: the client refuses to send it at all
            reply = await client.raw(ORG, command, body, context=context)
        codes = [r["code"] for r in reply["replies"]] if reply.get("status") == "answered" else [reply.get("code")]
        assert reply.get("status") in ("rejected", "answered") and all(c in CODES for c in codes), (
            context, command, body[:120], reply)
        tally.codes.update(str(c) for c in codes)

    try:
        for case in drawn:
            await one(*case)
    finally:
        for h in http.values():
            await h.aclose()
    return tally


async def run_fuzz(hosts: dict[str, ServiceHost], client: CommandClient, nc: Client, cases: int) -> dict[str, Any]:
    store = JetStreamEventStore(nc)
    before = await store.last_sequence()
    tally = await fuzz(hosts, nc, cases)
    appended = [e async for e in store.read_all(before + 1, await store.last_sequence())]
    assert tally.cases >= cases * 0.9, tally.cases
    assert [e.subject for e in appended if ".audit." not in e.subject] == []  # refusals recorded, no fact stored
    assert {e.event.type for e in appended} <= {"pathways.audit.CommandRejected"}, {e.event.type for e in appended}
    assert tally.codes["invalid"] > cases // 4  # the bodies were read and refused, not waved through
    # Every service still answers, and a real command is still accepted.
    s = await setup_programme(client)
    after = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique("after")))
    assert after["status"] == "accepted"
    for context in hosts:
        assert (await client.raw(ORG, "NoSuchCommand", b"{}", context=context))["code"] == "invalid"
    return {"fuzz_cases": tally.cases, "fuzz_codes": json.dumps(dict(tally.codes)), "fuzz_refusals_recorded": len(appended)}


@pytest.mark.parametrize("cases", [1_000, pytest.param(10_000, marks=pytest.mark.slow, id="10000-slow")])
async def test_hostile_bodies_on_every_command_route_get_a_documented_reply(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    client: CommandClient, nats_client: Client, record_property: Any, cases: int,
) -> None:
    hosts = {"registry": registry, "sessions": sessions, "payments": payments, "evaluation": evaluation}
    for name, value in (await run_fuzz(hosts, client, nats_client, cases)).items():
        record_property(name, value)  # the figures go into the JUnit report

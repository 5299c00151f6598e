"""Across services: one trace from a partner's enrolment to the session that participant
attended, and a service that was down catching up before its rules decide again."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint
from pathways_evaluation.app import service as evaluation_service
from pathways_payments.app import service as payments_service
from pathways_sessions.app import service as sessions_service

from tests.conftest import CommandClient, enrolment, running, setup_programme, unique


def session(programme_id: str) -> dict[str, Any]:
    return {"programme_id": programme_id, "session_id": unique("session"), "activity": "soft archery",
            "site": "Hospital sports hall", "starts_at": "2026-01-20T10:00:00Z", "duration_minutes": 60, "capacity": 10}


async def request(nc: Client, org: str, context: str, command: str, data: dict[str, Any], traceparent: str) -> dict[str, Any]:
    body = {"idempotency_key": uuid.uuid4().hex, "organisation": org, "actor": "partner-system", "data": data}
    msg = await nc.request(f"pathways.cmd.{org}.{context}.{command}", json.dumps(body).encode(),
                           headers={"traceparent": traceparent}, timeout=10)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def test_one_trace_from_enrolment_in_registry_to_attendance_in_sessions(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    s = await setup_programme(client)
    planned = session(s.programme_id)
    assert (await client.send(s.partner_a, "ScheduleSession", planned, context="sessions"))["status"] == "accepted"
    # The partner's system does one piece of work: enrol someone, then record them at a session.
    trace_id, root_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    traceparent = f"00-{trace_id}-{root_span}-01"
    p = unique("p")
    assert (await request(nats_client, s.partner_a, "registry", "EnrolParticipant", enrolment(s.programme_id, p),
                          traceparent))["status"] == "accepted"
    delivered = {"programme_id": s.programme_id, "session_id": planned["session_id"], "attendees": [p], "duration_minutes": 60}
    assert (await request(nats_client, s.partner_a, "sessions", "RecordSessionDelivered", delivered,
                          traceparent))["status"] == "accepted"

    def spans() -> list[ReadableSpan]:
        return [sp for sp in exporter.get_finished_spans() if format(sp.context.trace_id, "032x") == trace_id]

    for _ in range(100):
        if {"projection sessions_directory", "projection sessions_log"} <= {sp.name for sp in spans()}:
            break
        await asyncio.sleep(0.05)
    found = spans()
    by_name = {sp.name: sp for sp in found}
    enrol, attend = by_name["command EnrolParticipant"], by_name["command RecordSessionDelivered"]
    assert enrol.attributes is not None and enrol.attributes["pathways.context"] == "registry"
    assert attend.attributes is not None and attend.attributes["pathways.context"] == "sessions"
    # Connected: sessions learnt of the enrolment in a span whose ancestry leads to the
    # registry's command span, and every span leads back to the partner's own span.
    parents = {format(sp.context.span_id, "016x"): format(sp.parent.span_id, "016x") if sp.parent else None for sp in found}

    def ancestors(span: ReadableSpan) -> list[str]:
        chain, current = [], parents.get(format(span.context.span_id, "016x"))
        while current is not None:
            chain.append(current)
            current = parents.get(current)
        return chain

    learnt = [sp for sp in found if sp.name == "projection sessions_directory"]
    assert any(format(enrol.context.span_id, "016x") in ancestors(sp) for sp in learnt), "not connected to the registry"
    for sp in found:
        assert ancestors(sp)[-1:] == [root_span] or parents[format(sp.context.span_id, "016x")] == root_span, sp.name


async def test_sessions_down_while_others_publish_catches_up_and_its_rules_see_what_it_missed(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    s = await setup_programme(client)
    planned = session(s.programme_id)
    async with running(sessions_service, nats_server, tmp_path) as first:
        assert (await client.send(s.partner_a, "ScheduleSession", planned, context="sessions"))["status"] == "accepted"
        await first.caught_up()
    stored = first.runners[0].position
    # Sessions is down. Registry goes on: two enrolled, then one of them withdraws consent.
    joined, leaving = unique("p"), unique("p")
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, leaving)))["status"] == "accepted"
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, joined)))["status"] == "accepted"
    assert (await client.send(s.partner_a, "WithdrawConsent", {"programme_id": s.programme_id, "participant_id": leaving,
                                                               "on": "2026-01-12"}))["status"] == "accepted"
    missed_from = await JetStreamEventStore(nats_client).last_sequence()
    async with running(sessions_service, nats_server, tmp_path) as restarted:
        ids = {"programme_id": s.programme_id, "session_id": planned["session_id"], "duration_minutes": 60}
        # Sent at once on restart: the rules wait until the directory has caught up.
        refused = await client.send(s.partner_a, "RecordSessionDelivered", ids | {"attendees": [joined, leaving]},
                                    context="sessions")
        assert refused["status"] == "rejected" and "without consent" in refused["message"] and leaving in refused["message"]
        reply = await client.send(s.partner_a, "RecordSessionDelivered", ids | {"attendees": [joined]}, context="sessions")
        assert reply["status"] == "accepted", reply
        assert restarted.runners[0].position >= missed_from > stored


async def test_payments_down_while_a_co_producer_is_registered_accepts_their_time_after_restart(
    registry: ServiceHost, client: CommandClient, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    s = await setup_programme(client)
    async with running(payments_service, nats_server, tmp_path) as first:
        await first.caught_up()
    cp = unique("cp")
    assert (await client.send(s.partner_a, "RegisterCoProducer", {
        "programme_id": s.programme_id, "co_producer_id": cp, "role": "expert by experience", "hourly_rate_pence": 1600,
        "receives_benefits": False}))["status"] == "accepted"
    async with running(payments_service, nats_server, tmp_path):
        reply = await client.send(s.partner_a, "RecordInvolvement", {
            "programme_id": s.programme_id, "contract_id": "contract-0", "involvement_id": unique("inv"),
            "co_producer_id": cp, "worked_on": "2026-01-12", "minutes": 120, "activity": "Interview panel"},
            context="payments")
        assert reply["status"] == "accepted", reply


async def test_evaluation_down_while_a_participant_is_enrolled_records_their_baseline_after_restart(
    registry: ServiceHost, client: CommandClient, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    s = await setup_programme(client)
    async with running(evaluation_service, nats_server, tmp_path) as first:
        await first.caught_up()
    p = unique("p")
    assert (await client.send(s.partner_b, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    async with running(evaluation_service, nats_server, tmp_path):
        reply = await client.send(s.partner_b, "RecordOutcome", {
            "programme_id": s.programme_id, "participant_id": p, "measurement_id": unique("m"), "instrument": "WEMWBS",
            "timepoint": "baseline", "measured_on": "2025-11-20", "answers": [3] * 14}, context="evaluation")
        assert reply["status"] == "accepted", reply


async def test_a_view_runner_that_loses_its_consumer_recovers_and_rules_go_on_deciding(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    js = nats_client.jetstream()
    # A runner far behind a long stream first catches up from history, then makes its consumer.
    await sessions.caught_up()
    names: list[str] = []
    for _ in range(100):
        names = [c.name for c in await js.consumers_info("PATHWAYS_EVENTS") if c.name.startswith("proj_sessions_directory_")]
        if names:
            break
        await asyncio.sleep(0.1)
    assert names
    for name in names:  # as if the server dropped it (inactivity after a long partition)
        await js.delete_consumer("PATHWAYS_EVENTS", name)
    p = unique("p")
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    planned = session(s.programme_id)
    assert (await client.send(s.partner_a, "ScheduleSession", planned, context="sessions"))["status"] == "accepted"
    delivered = {"programme_id": s.programme_id, "session_id": planned["session_id"], "attendees": [p], "duration_minutes": 50}
    reply = await client.send(s.partner_a, "RecordSessionDelivered", delivered, context="sessions")
    assert reply["status"] == "accepted", reply
    assert all(not t.done() for t in sessions._tasks), "a runner died"


async def test_a_message_that_is_not_a_pathways_event_does_not_stop_the_views(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    await nats_client.jetstream().publish(f"pathways.evt.{s.programme_id}.someone.tooling.x1", b"{\"not\": \"a cloudevent\"}")
    p = unique("p")
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    planned = session(s.programme_id)
    assert (await client.send(s.partner_a, "ScheduleSession", planned, context="sessions"))["status"] == "accepted"
    delivered = {"programme_id": s.programme_id, "session_id": planned["session_id"], "attendees": [p], "duration_minutes": 50}
    reply = await client.send(s.partner_a, "RecordSessionDelivered", delivered, context="sessions")
    assert reply["status"] == "accepted", reply

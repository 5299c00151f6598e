"""One trace from a partner's request through the command, the append and the
projection, carried by `traceparent` in NATS headers; logs carry the trace id."""

from __future__ import annotations

import asyncio
import json
import uuid

from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pathways.core import tracing as telemetry
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, enrolment, setup_programme, unique


async def test_traceparent_connects_request_command_append_and_projection(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    s = await setup_programme(client)
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    p = unique("p")
    body = {"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "t", "data": enrolment(s.programme_id, p)}
    msg = await nats_client.request(f"pathways.cmd.{s.partner_a}.registry.EnrolParticipant", json.dumps(body).encode(),
                                    headers={"traceparent": traceparent}, timeout=10)
    reply = json.loads(msg.data)
    assert reply["status"] == "accepted"
    stored = (await JetStreamEventStore(nats_client).read_subject(f"pathways.evt.{s.programme_id}.{s.partner_a}.registry.{p}"))[0]
    assert stored.event.traceparent is not None and stored.event.traceparent.split("-")[1] == trace_id
    for _ in range(100):
        names = {sp.name for sp in exporter.get_finished_spans() if format(sp.context.trace_id, "032x") == trace_id}
        if "projection registry_roster" in names:
            break
        await asyncio.sleep(0.05)
    assert {"command EnrolParticipant", "eventstore.append"} <= names or {"command EnrolParticipant",
                                                                          "eventstore.group_commit"} <= names, names
    assert "projection registry_roster" in names


def test_log_lines_are_json_with_the_trace_id(capfd: object) -> None:
    import structlog
    from pathways.runtime import logging as plog

    plog.configure("test")
    with telemetry.span("unit"):
        expected, _ = telemetry.current_ids()
        structlog.get_logger("t").info("hello", programme="p1")
    err = capfd.readouterr().err  # type: ignore[attr-defined]
    line = json.loads([ln for ln in err.splitlines() if '"hello"' in ln][-1])
    assert line["trace_id"] == expected and line["event"] == "hello" and line["level"] == "info"

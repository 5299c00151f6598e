"""One trace from a partner's request through the command, the append and the
projection, carried by `traceparent` in NATS headers; logs carry the trace id."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pathways.core import tracing as telemetry
from pathways.core.subjects import STREAM_NAME
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
    expected = uuid.uuid4().hex
    with telemetry.span("unit", parent=f"00-{expected}-{uuid.uuid4().hex[:16]}-01"):  # exported or not
        assert telemetry.current_ids()[0] == expected
        structlog.get_logger("t").info("hello", programme="p1")
    err = capfd.readouterr().err  # type: ignore[attr-defined]
    line = json.loads([ln for ln in err.splitlines() if '"hello"' in ln][-1])
    assert line["trace_id"] == expected and line["event"] == "hello" and line["level"] == "info"


async def test_when_nothing_exports_no_span_is_made_and_only_a_senders_trace_travels(
    registry: ServiceHost, client: CommandClient, nats_client: Client, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no span processor, a command sent with a `traceparent` stores events carrying the
    sender's trace, header and envelope alike; one sent without stores events with none (a
    span sampled out would have given each a trace of its own)."""
    monkeypatch.setattr(telemetry, "exporting", lambda: False)  # as under `pathways up` with no collector
    s = await setup_programme(client)
    trace_id = uuid.uuid4().hex
    store = JetStreamEventStore(nats_client)
    stored = {}
    for p, headers in ((unique("p"), {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}), (unique("p"), None)):
        body = {"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "t", "data": enrolment(s.programme_id, p)}
        msg = await nats_client.request(f"pathways.cmd.{s.partner_a}.registry.EnrolParticipant", json.dumps(body).encode(),
                                        headers=headers, timeout=10)
        assert json.loads(msg.data)["status"] == "accepted"
        (stored[headers is not None],) = await store.read_subject(f"pathways.evt.{s.programme_id}.{s.partner_a}.registry.{p}")
    traced, untraced = stored[True], stored[False]
    assert traced.event.traceparent is not None and traced.event.traceparent.split("-")[1] == trace_id
    assert untraced.event.traceparent is None
    js = nats_client.jetstream()
    headers = {seq: (await js.get_msg(STREAM_NAME, seq)).headers or {} for seq in (traced.sequence, untraced.sequence)}
    assert headers[traced.sequence]["traceparent"].split("-")[1] == trace_id and "traceparent" not in headers[untraced.sequence]

"""Telemetry an operator can watch: services started as `pathways serve` with only the
standard `OTEL_EXPORTER_OTLP_*` variables set send their traces and metrics by OTLP. A
receiver in the test (the OTLP/HTTP protocol, decoded with the project's own protobuf
definitions) finds one trace crossing the registry and the reporting service, and the
metrics an operator watches: commands by outcome, their latency, append batch sizes and
each projection's lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pathways.runtime.natsserver import free_port
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, enrolment, setup_programme, unique


class Receiver:
    """What an OTLP/HTTP collector would get: spans as (service, trace id, name), metrics as
    (service, name) → data points' attributes and values."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self.metrics: dict[tuple[str, str], list[tuple[dict[str, Any], float]]] = {}
        self.lock = threading.Lock()

    def take(self, path: str, body: bytes) -> None:
        with self.lock:
            if path == "/v1/traces":
                traces = ExportTraceServiceRequest.FromString(body)
                for resource in traces.resource_spans:
                    service = _service(resource.resource)
                    for scope in resource.scope_spans:
                        self.spans += [(service, s.trace_id.hex(), s.name) for s in scope.spans]
            elif path == "/v1/metrics":
                sent = ExportMetricsServiceRequest.FromString(body)
                for resource in sent.resource_metrics:
                    service = _service(resource.resource)
                    for scope in resource.scope_metrics:
                        for metric in scope.metrics:
                            kind = metric.WhichOneof("data")
                            points = getattr(metric, kind).data_points
                            self.metrics.setdefault((service, metric.name), []).extend(
                                ({a.key: _value(a.value) for a in p.attributes}, _number(p)) for p in points)


def _service(resource: Any) -> str:
    return next((a.value.string_value for a in resource.attributes if a.key == "service.name"), "")


def _value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value"))


def _number(point: Any) -> float:
    if hasattr(point, "bucket_counts"):  # a histogram: how many it counted
        return float(point.count)
    return float(point.as_int if point.WhichOneof("value") == "as_int" else point.as_double)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.take(self.path, self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got, server.server_address[1]
    finally:
        server.shutdown()


def serve(endpoint: NatsEndpoint, home: Path, otlp_port: int, *args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PATHWAYS_NATS_URL": endpoint.connection.nats_url,
        "PATHWAYS_NATS_USER": endpoint.connection.user or "",
        "PATHWAYS_NATS_PASSWORD": endpoint.connection.password or "",
        "PATHWAYS_HOME": str(home),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    return subprocess.Popen([sys.executable, "-m", "pathways.runtime.cli.main", "serve", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_traces_and_metrics_reach_an_otlp_receiver_across_two_services(
    nats_server: NatsEndpoint, nats_client: Client, receiver: tuple[Receiver, int], tmp_path: Path
) -> None:
    got, port = receiver
    http_port = free_port()
    registry = serve(nats_server, tmp_path, port, "registry", "--http-port", str(http_port),
                     "--database-url", f"sqlite:///{tmp_path / 'registry.db'}")
    reporting = serve(nats_server, tmp_path, port, "reporting", "--only", "projections",
                      "--database-url", f"sqlite:///{tmp_path / 'reporting.db'}")
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):  # until the registry is ready (it subscribes before it is)
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{http_port}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        client = CommandClient(nats_client)
        s = await setup_programme(client)
        for _ in range(5):
            reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique("p")))
            assert reply["status"] == "accepted", reply
        refused = await client.send(s.partner_b, "EnrolParticipant", {"programme_id": s.programme_id})
        assert refused["status"] == "rejected"

        def crossing() -> set[str]:
            with got.lock:
                by_service: dict[str, set[str]] = {}
                for service, trace_id, _ in got.spans:
                    by_service.setdefault(service, set()).add(trace_id)
            return by_service.get("pathways-registry", set()) & by_service.get("pathways-reporting", set())

        def metric(service: str, name: str) -> list[tuple[dict[str, Any], float]]:
            with got.lock:
                return list(got.metrics.get((service, name), []))

        for _ in range(200):
            if crossing() and metric("pathways-reporting", "pathways.projection.lag") \
                    and metric("pathways-registry", "pathways.commands"):
                break
            await asyncio.sleep(0.1)
    finally:
        for proc in (registry, reporting):
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)

    assert crossing(), "no trace crosses the registry and the reporting service"
    names = {name for _, trace_id, name in got.spans if trace_id in crossing()}
    assert any(n.startswith("command ") for n in names) and any(n.startswith("projection ") for n in names), names
    lag = metric("pathways-reporting", "pathways.projection.lag")
    assert {a["messaging.consumer.group.name"] for a, _ in lag} >= {"reporting_facts"}, lag
    outcomes = {(a["pathways.command"], a["pathways.outcome"]) for a, _ in metric("pathways-registry", "pathways.commands")}
    assert ("EnrolParticipant", "accepted") in outcomes and ("EnrolParticipant", "invalid") in outcomes, outcomes
    assert metric("pathways-registry", "messaging.process.duration")
    sizes = metric("pathways-registry", "pathways.append.batch.size")
    assert sum(count for _, count in sizes) >= 9, sizes  # an append per accepted command, at least
    assert metric("pathways-registry", "pathways.aggregate_cache.lookups")


@pytest.mark.parametrize(("variables", "exports"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ({}, False),
])
def test_export_is_asked_for_by_the_standard_variables(
    variables: dict[str, str], exports: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathways.runtime import telemetry

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert telemetry._otlp("TRACES") is exports

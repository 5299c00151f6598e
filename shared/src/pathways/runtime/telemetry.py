"""The OpenTelemetry SDK, installed once per process by the runtime: the tracer provider
(sampling spans in only once something exports them), OTLP export of traces and metrics
where the standard variables say, and a flush at shutdown. Code below the runtime uses
the API alone (pathways.core.tracing)."""

from __future__ import annotations

import os
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

log = structlog.get_logger("pathways.telemetry")


class _WhenExported(Sampler):
    """Records a span only when a processor will take it."""

    def __init__(self) -> None:
        self.exporting = False

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None,
                      links: Any = None, trace_state: Any = None) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else None
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.exporting else Decision.DROP, None, state)

    def get_description(self) -> str:
        return "PathwaysWhenExported"


class PathwaysTracerProvider(TracerProvider):
    """The SDK's provider, sampling spans in once anything is there to export them."""

    def __init__(self, resource: Resource) -> None:
        self._when_exported = _WhenExported()
        super().__init__(resource=resource, sampler=self._when_exported)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._when_exported.exporting = True

    def exporting(self) -> bool:
        """What `pathways.core.tracing.exporting` asks: is a processor taking spans?"""
        return self._when_exported.exporting


def configure(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install the tracer provider (and, where OTLP is configured, the meter provider) once
    per process. Where the standard variables say (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the
    `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT` of each signal, with `..._HEADERS`,
    `..._TIMEOUT`, `OTEL_METRIC_EXPORT_INTERVAL`), traces and metrics go out by OTLP over
    HTTP (`http/protobuf`) to a collector (`deploy/otel-collector.yaml`). Spans go to the
    console when PATHWAYS_TRACE_CONSOLE=1. Otherwise nothing is exported and little is made."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if exporter is not None:
            current.add_span_processor(BatchSpanProcessor(exporter))
        return current
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = PathwaysTracerProvider(resource)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if _otlp("TRACES"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if os.environ.get("PATHWAYS_TRACE_CONSOLE") == "1":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    if _otlp("METRICS"):
        from opentelemetry import metrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        metrics.set_meter_provider(MeterProvider([PeriodicExportingMetricReader(OTLPMetricExporter())], resource))
    return provider


def _otlp(signal: str) -> bool:
    """Is OTLP export of this signal asked for, by the standard variables?"""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower() == "none":
        return False
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")):
        return False
    protocol = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in (None, "", "http/protobuf"):
        # gRPC would bring grpcio for no gain here; the collector takes both.
        log.warning("only OTLP over http/protobuf is exported; set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                    protocol=protocol)
        return False
    return True


def shutdown() -> None:
    """Export what is still buffered (a stopping service's last spans and metrics)."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        if isinstance(provider, TracerProvider | MeterProvider):
            provider.shutdown()

"""OpenTelemetry: one tracer for the platform, spans for command, append and projection
steps, and the W3C `traceparent` carried in NATS headers so one trace crosses services."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("pathways")


def configure(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install a tracer provider once per process. Spans are exported to the console only
    when PATHWAYS_TRACE_CONSOLE=1 (an OTLP collector is wired in deploy/)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if exporter is not None:
            current.add_span_processor(BatchSpanProcessor(exporter))
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    elif os.environ.get("PATHWAYS_TRACE_CONSOLE") == "1":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


@contextmanager
def span(name: str, parent: str | None = None, **attributes: Any) -> Iterator[trace.Span]:
    """A span, continuing the trace named by a `traceparent` string when no span is
    active already (a faststream consumer span, say, has already extracted it)."""
    active = trace.get_current_span().get_span_context().is_valid
    ctx = extract(parent) if parent and not active else None
    with _tracer.start_as_current_span(name, context=ctx) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(f"pathways.{key}", value)
        yield current


def start_spans(name: str, traceparents: list[str | None], **attributes: Any) -> list[trace.Span]:
    """One span per distinct trace: a batch that serves several commands shows up in
    each command's trace. The caller ends them."""
    spans = []
    for parent in dict.fromkeys(traceparents):
        current = _tracer.start_span(name, context=extract(parent))
        for key, value in attributes.items():
            current.set_attribute(f"pathways.{key}", value)
        spans.append(current)
    return spans


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def extract(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


def traceparent_from_headers(headers: Mapping[str, str] | None) -> str | None:
    return (headers or {}).get("traceparent")


def current_ids() -> tuple[str | None, str | None]:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")

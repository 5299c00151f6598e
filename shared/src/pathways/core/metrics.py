"""The platform's metrics, for an operator watching it through OpenTelemetry (exported by
OTLP when `OTEL_EXPORTER_OTLP_*` says where: `pathways.runtime.telemetry.configure`).

Names follow the OpenTelemetry messaging conventions where one fits (a command is a
message processed, an event a message sent to the stream or consumed from it; attributes
`messaging.system`, `messaging.destination.name`, `messaging.consumer.group.name`), and are
the platform's own otherwise:

| metric | what it counts |
|---|---|
| `pathways.commands` | commands answered, by context, command and outcome (accepted, retried, or the rejection's code) |
| `messaging.process.duration` | seconds from a command's arrival to its answer, by context and command |
| `messaging.client.sent.messages` | events appended to the stream |
| `pathways.append.batch.size` | events per append to the store (a group commit or a command batch) |
| `messaging.client.consumed.messages` | events applied by a projection, per projection |
| `pathways.projection.redelivered` | events delivered to a projection again that it had already applied |
| `pathways.projection.lag` | events stored that a projection reads and has not applied yet |
| `pathways.projection.lag.duration` | seconds since the newest event it applied was stored, while it is behind (0 caught up) |
| `pathways.aggregate_cache.lookups` | aggregate loads by result: hit, refreshed, miss, new |

Until a meter provider is installed every instrument is the API's no-op: a command pays a
method call, not an aggregation."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from pathways.core.aggregates import AggregateCache

NATS = {"messaging.system": "nats"}
_meter = metrics.get_meter("pathways")

commands = _meter.create_counter("pathways.commands", unit="{command}", description="Commands answered, by outcome")
command_duration = _meter.create_histogram(
    "messaging.process.duration", unit="s", description="From a command's arrival to its answer",
    explicit_bucket_boundaries_advisory=[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10])
sent = _meter.create_counter("messaging.client.sent.messages", unit="{message}", description="Events appended")
append_batch = _meter.create_histogram(
    "pathways.append.batch.size", unit="{event}", description="Events per append to the store",
    explicit_bucket_boundaries_advisory=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
consumed = _meter.create_counter("messaging.client.consumed.messages", unit="{message}",
                                 description="Events applied by a projection")
stalled = _meter.create_counter("pathways.projection.stalled", unit="{stop}",
                                description="Read models stopped: the stream is not the one they were built from")
quarantined = _meter.create_counter("pathways.projection.quarantined", unit="{message}",
                                    description="Events not applied: not from the context that owns them")
redelivered = _meter.create_counter("pathways.projection.redelivered", unit="{message}",
                                    description="Events delivered again to a projection that had applied them")


@dataclass(eq=False)  # held in a weak set: hashed by identity
class Lag:
    """Where one projection runner stands, as its consumer last told it."""

    projections: tuple[str, ...]
    pending: int = 0  # messages it reads, stored after the last one delivered
    newest_applied: float | None = None  # when the newest event it applied was stored (epoch seconds)

    def seconds(self, now: float) -> float:
        return max(0.0, now - self.newest_applied) if self.pending and self.newest_applied is not None else 0.0


# Held weakly: a runner or intake that is gone (a test's, a stopped service's) is no longer reported.
_lags: weakref.WeakSet[Lag] = weakref.WeakSet()
_caches: dict[str, weakref.ref[AggregateCache]] = {}


def watch_lag(projections: Iterable[str]) -> Lag:
    """A runner's lag, reported for each of its projections while the runner keeps it."""
    lag = Lag(tuple(projections))
    _lags.add(lag)
    return lag


def watch_cache(context: str, cache: AggregateCache) -> None:
    _caches[context] = weakref.ref(cache)


def _lag_events(options: CallbackOptions) -> Iterable[Observation]:
    for lag in list(_lags):
        for name in lag.projections:
            yield Observation(lag.pending, {**NATS, "messaging.consumer.group.name": name})


def _lag_seconds(options: CallbackOptions) -> Iterable[Observation]:
    now = time.time()
    for lag in list(_lags):
        for name in lag.projections:
            yield Observation(lag.seconds(now), {**NATS, "messaging.consumer.group.name": name})


def _lookups(options: CallbackOptions) -> Iterable[Observation]:
    for context, ref in list(_caches.items()):
        cache = ref()
        if cache is None:
            continue
        s = cache.stats
        for result, count in (("hit", s.hits), ("refreshed", s.refreshed), ("miss", s.misses), ("new", s.new)):
            yield Observation(count, {"pathways.context": context, "pathways.cache.result": result})


_meter.create_observable_gauge("pathways.projection.lag", [_lag_events], unit="{message}",
                               description="Events a projection reads, stored and not yet applied")
_meter.create_observable_gauge("pathways.projection.lag.duration", [_lag_seconds], unit="s",
                               description="Age of the newest applied event while a projection is behind")
_meter.create_observable_counter("pathways.aggregate_cache.lookups", [_lookups], unit="{lookup}",
                                 description="Aggregate loads by result")


commands_redelivered = _meter.create_counter(
    "pathways.commands.redelivered", unit="{command}",
    description="Commands sent again with the same idempotency key, answered from history")


def answered(context: str, command: str, outcome: str, seconds: float | None = None) -> None:
    """One command answered: `outcome` is accepted or the rejection's code."""
    attributes = {**NATS, "messaging.operation.name": "process", "pathways.context": context, "pathways.command": command}
    commands.add(1, {**attributes, "pathways.outcome": outcome})
    if seconds is not None:
        command_duration.record(seconds, attributes)


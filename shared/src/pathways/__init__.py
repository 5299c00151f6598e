"""Pathways kernel: everything the services share (envelope, schemas, event store,
command intake, projections, telemetry, embedded runtime and CLI)."""

__version__ = "0.1.0"

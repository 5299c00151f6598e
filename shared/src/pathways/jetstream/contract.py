"""The contract a partner integrates from, written to files by `pathways schemas export`:
a JSON Schema per command, event and reply, and the AsyncAPI 3 document of the NATS
subjects they travel on (pathways.jetstream.asyncapi)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pathways.core.replies import Accepted, Rejected
from pathways.core.schemas import SchemaRegistry, command_request_schema, event_envelope_schema, reply_schema
from pathways.jetstream.asyncapi import asyncapi_document


def export_schemas(registry: SchemaRegistry, directory: Path) -> list[Path]:
    """Write every command and event schema as a JSON Schema file, and the AsyncAPI 3.0
    document of the NATS contract (`asyncapi.json`); returns the files."""
    written: list[Path] = []
    for cmd in sorted(registry.commands.values(), key=lambda s: (s.context, s.name)):
        path = directory / "commands" / f"{cmd.context}.{cmd.name}.v{cmd.version}.json"
        written.append(_write_json(path, command_request_schema(cmd)))
    for evt in sorted(registry.events.values(), key=lambda s: s.type):
        path = directory / "events" / f"{evt.context}.{evt.name}.v{evt.version}.json"
        written.append(_write_json(path, event_envelope_schema(evt)))
    for model in (Accepted, Rejected):
        path = directory / "replies" / f"{model.__name__}.json"
        written.append(_write_json(path, reply_schema(model)))
    written.append(_write_json(directory / "asyncapi.json", asyncapi_document(registry)))
    return written


def _write_json(path: Path, body: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path

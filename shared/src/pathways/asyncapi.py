"""The platform's NATS contract as an AsyncAPI 3.0 document, from the command and event
registry (`pathways schemas export` writes it beside the JSON Schemas).

- One channel per command, `pathways.cmd.{organisation}.<context>.<Command>`, whose message
  is the command's envelope with that command's own `data` schema; its send operation
  names the reply (`Accepted` or `Rejected`, on the sender's own inbox).
- One channel per context's events, `pathways.evt.{programme}.{organisation}.<context>.{aggregate}`,
  with every event of that context as a CloudEvent (structured JSON) message.

Written from the registry rather than from faststream's per-command subscribers: the command
path stays one subscriber per service (bench/framework.py: faststream's per-message path
cost about four times the sequential intake), and the contract is the same either way.
Schemas are JSON Schema; each message's `$defs` move to `components.schemas` (named
`<context>.<Name>.<Def>`) so every `$ref` resolves within the one document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pathways.replies import Accepted, Rejected
from pathways.schemas import SchemaRegistry, command_request_schema, event_envelope_schema

VERSION = "3.0.0"


def _lift(schema: dict[str, Any], prefix: str, shared: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its $defs, $schema and $id: each definition moved into `shared` under
    `prefix.Name`, every reference to it pointed there."""
    body = dict(schema)
    defs = body.pop("$defs", {})
    body.pop("$schema", None)
    body.pop("$id", None)

    def point(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: point(v) for k, v in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                out["$ref"] = f"#/components/schemas/{prefix}.{ref.removeprefix('#/$defs/')}"
            return out
        if isinstance(node, list):
            return [point(v) for v in node]
        return node

    for name, definition in defs.items():
        shared[f"{prefix}.{name}"] = point(definition)
    return dict(point(body))


def _parameters(names: Iterable[str]) -> dict[str, Any]:
    described = {"organisation": "An organisation id ([A-Za-z0-9_-]); on a command, your own.",
                 "programme": "A programme id.", "aggregate": "The id of the aggregate the event belongs to."}
    return {name: {"description": described[name]} for name in names}


def asyncapi_document(registry: SchemaRegistry) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for model in (Accepted, Rejected):
        messages[model.__name__] = {"name": model.__name__, "contentType": "application/json",
                                    "payload": _lift(model.model_json_schema(), model.__name__, schemas)}
    channels["replies"] = {"address": None, "description": "The sender's own inbox (_INBOX.<organisation>.…)",
                           "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in ("Accepted", "Rejected")}}
    for cmd in sorted(registry.commands.values(), key=lambda s: (s.context, s.name)):
        key = f"{cmd.context}.{cmd.name}"
        messages[key] = {"name": cmd.name, "title": f"{cmd.name} command", "contentType": "application/json",
                         "summary": (cmd.model.__doc__ or cmd.name).strip(),
                         "payload": _lift(command_request_schema(cmd), key, schemas)}
        channels[key] = {"address": f"pathways.cmd.{{organisation}}.{cmd.context}.{cmd.name}",
                         "parameters": _parameters(["organisation"]),
                         "messages": {key: {"$ref": f"#/components/messages/{key}"}}}
        operations[key] = {
            "action": "send", "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Send {cmd.name} as a NATS request; the reply says whether it was recorded.",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "reply": {"channel": {"$ref": "#/channels/replies"},
                      "messages": [{"$ref": "#/channels/replies/messages/Accepted"},
                                   {"$ref": "#/channels/replies/messages/Rejected"}]},
        }
    by_context: dict[str, list[str]] = {}
    for evt in sorted(registry.events.values(), key=lambda s: s.type):
        key = f"{evt.context}.{evt.name}"
        messages[key] = {"name": evt.name, "title": f"{evt.name} event", "contentType": "application/json",
                         "summary": (evt.model.__doc__ or evt.name).strip(),
                         "payload": _lift(event_envelope_schema(evt), key, schemas)}
        by_context.setdefault(evt.context, []).append(key)
    for context, keys in sorted(by_context.items()):
        channel = f"events.{context}"
        channels[channel] = {
            "address": f"pathways.evt.{{programme}}.{{organisation}}.{context}.{{aggregate}}",
            "parameters": _parameters(["programme", "organisation", "aggregate"]),
            "description": f"The {context} context's facts, as CloudEvents 1.0 (structured JSON) on PATHWAYS_EVENTS.",
            "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in keys},
        }
        operations[channel] = {"action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
                               "summary": f"Read the {context} events (an organisation: its own, from follow-<id>).",
                               "messages": [{"$ref": f"#/channels/{channel}/messages/{key}"} for key in keys]}
    return {
        "asyncapi": VERSION,
        "info": {"title": "Pathways", "version": "0.1.0",
                 "description": "Commands partners send over NATS request-reply, their replies, and the events the "
                                "platform stores on PATHWAYS_EVENTS."},
        "defaultContentType": "application/json",
        "channels": channels, "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }

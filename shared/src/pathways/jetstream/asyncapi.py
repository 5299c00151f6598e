"""The platform's NATS contract as an AsyncAPI 3.0 document, from the command and event
registry (`pathways schemas export` writes it beside the JSON Schemas).

- One server, `nats`, whose real address is the `nats.url` of the sender's credentials file
  (`pathways org add`), entered as a NATS user and password (`userPassword`) from that file.
- One channel per command, `pathways.cmd.{organisation}.<context>.<Command>`, whose message
  is the command's envelope with that command's own `data` schema; its send operation
  names the reply (`Accepted` or `Rejected`), which comes back on the request's NATS reply
  subject: an inbox under the sender's own prefix, `_INBOX.<organisation>.…`.
- One batch channel per context, `pathways.cmd.{organisation}.<context>.batch`: up to
  MAX_COMMANDS of that context's commands in one request, answered `{"replies": [...]}`.
- One channel per context's events, `pathways.evt.{programme}.{organisation}.<context>.{aggregate}`,
  with every event of that context as a CloudEvent (structured JSON) message.
- The follow channel, `_INBOX.{organisation}.follow`: where an organisation's own events
  (those on `pathways.evt.*.<organisation>.>`) are delivered, in order, by the durable
  consumer the platform made for it (pathways.runtime.follow); its receive operation is
  how a partner hears them.

Written from the registry rather than from faststream's per-command subscribers: the command
path stays one subscriber per service handing each message to a task of its own, because
`make bench` (bench/framework.py, 50 requests in flight, 2 cores) measured a typed
faststream subscriber per command, its body parsed into the command's model, at 148 µs of
the responder's CPU per request against 70 µs for the hand-off (and the intake would then
validate the body a second time). The contract is the same either way.
Schemas are JSON Schema; each message's `$defs` move to `components.schemas` (named
`<context>.<Name>.<Def>`) so every `$ref` resolves within the one document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faststream.specification.asyncapi.v3_0_0.schema import (
    ApplicationInfo,
    ApplicationSchema,
    Channel,
    Components,
    Message,
    Operation,
    Reference,
    Server,
)
from faststream.specification.asyncapi.v3_0_0.schema.operations import Action

from pathways.core.batch_wire import BATCH, MAX_COMMANDS
from pathways.core.replies import Accepted, Rejected
from pathways.core.schemas import SchemaRegistry, command_request_schema, event_envelope_schema, reply_schema

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
    described = {"organisation": "An organisation id ([A-Za-z0-9_-]); on a command and on the follow channel, your own.",
                 "programme": "A programme id.", "aggregate": "The id of the aggregate the event belongs to."}
    return {name: {"description": described[name]} for name in names}


def _ref(*path: str) -> dict[str, str]:
    """A reference inside a JSON Schema (a payload)."""
    return {"$ref": "#/" + "/".join(path)}


def _link(*path: str) -> Reference:
    """A reference between the document's own parts (channels, messages, operations)."""
    return Reference(**{"$ref": "#/" + "/".join(path)})


SERVER = Server(
    host="localhost:4222", pathname="", protocol="nats",
    description="A placeholder: the real address is `nats.url` in your organisation's credentials file (written by "
                "`pathways org add <id> --role partner -o <id>.json`, or anew by `pathways org credentials`), never "
                "`connection.json`.",
    security=[_link("components", "securitySchemes", "organisationUser")],
)
SECURITY = {"organisationUser": {
    "type": "userPassword",
    "description": "Your organisation's own NATS user and password, `nats.user` and `nats.password` of the credentials "
                   "file. Set your client's inbox prefix to its `nats.inbox_prefix` (`_INBOX.<your id>`): the server "
                   "lets you hear only that inbox, and a service answers nowhere else.",
}}
REPLY_ADDRESS = {
    "location": "$message.header#/replyTo",
    "description": "The NATS reply subject of the request (the protocol's reply-to, not a header field), which a NATS "
                   "client's request() sets to a new inbox under its inbox prefix. It must be one of the sender's own, "
                   "`_INBOX.<organisation>.…`: a command whose reply subject is anywhere else is refused unanswered "
                   "(and the refusal recorded for the auditors).",
}


def _batch_item(cmd_schema: dict[str, Any], name: str) -> dict[str, Any]:
    """One command of a batch: the command's own body, with `command` naming it."""
    return {"type": "object", "title": f"{name} in a batch", "required": ["command", *cmd_schema["required"]],
            "additionalProperties": False,
            "properties": {"command": {"const": name}} | cmd_schema["properties"]}


def asyncapi_document(registry: SchemaRegistry) -> dict[str, Any]:
    """The document as JSON, built with faststream's own AsyncAPI 3 types (what it would
    generate from subscribers); the fields those types do not model (an operation's
    `reply`, a channel's `parameters`, `replyAddresses`) go in as the extras they allow."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Message] = {}
    channels: dict[str, Channel] = {}
    operations: dict[str, Operation] = {}
    for model in (Accepted, Rejected):
        name = model.__name__
        schemas[name] = _lift(reply_schema(model), name, schemas)
        messages[name] = Message(name=name, contentType="application/json", payload=_ref("components", "schemas", name))
    messages["BatchReply"] = Message(
        name="BatchReply", contentType="application/json",
        summary="The answer to a batch: one ordinary reply per command, in the batch's order.",
        payload={"type": "object", "required": ["replies"], "additionalProperties": False, "properties": {
            "replies": {"type": "array",
                        "items": {"oneOf": [_ref("components", "schemas", m) for m in ("Accepted", "Rejected")]}}}},
    )
    # No address: a reply goes to whichever inbox the request named (each operation's reply address).
    channels["replies"] = Channel(description="The sender's own inbox (_INBOX.<organisation>.…): the reply subject of "
                                              "the request (see each operation's reply address).",
                                  messages={m: _link("components", "messages", m) for m in ("Accepted", "Rejected",
                                                                                            "BatchReply")})

    def reply(*names: str) -> dict[str, Any]:
        return {"address": _ref("components", "replyAddresses", "senderInbox"), "channel": _ref("channels", "replies"),
                "messages": [_ref("channels", "replies", "messages", m) for m in names]}

    by_context_commands: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for cmd in sorted(registry.commands.values(), key=lambda s: (s.context, s.name)):
        key = f"{cmd.context}.{cmd.name}"
        payload = _lift(command_request_schema(cmd), key, schemas)
        # The command's `data` once, for its own message and its batch's (pydantic's defs are class names, never `data`).
        schemas[f"{key}.data"] = payload["properties"]["data"]
        payload["properties"]["data"] = _ref("components", "schemas", f"{key}.data")
        by_context_commands.setdefault(cmd.context, []).append((cmd.name, payload))
        messages[key] = Message(name=cmd.name, title=f"{cmd.name} command", contentType="application/json",
                                summary=(cmd.model.__doc__ or cmd.name).strip(), payload=payload)
        channels[key] = Channel(address=f"pathways.cmd.{{organisation}}.{cmd.context}.{cmd.name}",
                                parameters=_parameters(["organisation"]),
                                messages={key: _link("components", "messages", key)})
        operations[key] = Operation(
            action=Action.SEND, channel=_link("channels", key),
            summary=f"Send {cmd.name} as a NATS request; the reply says whether it was recorded.",
            messages=[_link("channels", key, "messages", key)],
            reply=reply("Accepted", "Rejected"),
        )
    for context, commands in sorted(by_context_commands.items()):
        key = f"batch.{context}"
        messages[key] = Message(
            name=f"{context} batch", title=f"A batch of {context} commands", contentType="application/json",
            summary=f"Up to {MAX_COMMANDS} {context} commands in one request, each decided as if sent alone, in order.",
            payload={"type": "object", "required": ["commands"], "additionalProperties": False, "properties": {
                "commands": {"type": "array", "minItems": 1, "maxItems": MAX_COMMANDS,
                             "items": {"oneOf": [_batch_item(body, name) for name, body in commands]}}}},
        )
        channels[key] = Channel(address=f"pathways.cmd.{{organisation}}.{context}.{BATCH}",
                                parameters=_parameters(["organisation"]),
                                description=f"Many {context} commands at once (an import, a migration). Each command "
                                            "is stored all or none; the batch as a whole is not.",
                                messages={key: _link("components", "messages", key)})
        operations[key] = Operation(
            action=Action.SEND, channel=_link("channels", key),
            summary=f"Send a batch of {context} commands as one NATS request: the reply has one reply per command, "
                    "in order (or one Rejected if the request is no batch at all).",
            messages=[_link("channels", key, "messages", key)],
            reply=reply("BatchReply", "Rejected"),
        )
    by_context: dict[str, list[str]] = {}
    for evt in sorted(registry.events.values(), key=lambda s: s.type):
        key = f"{evt.context}.{evt.name}"
        messages[key] = Message(name=evt.name, title=f"{evt.name} event", contentType="application/json",
                                summary=(evt.model.__doc__ or evt.name).strip(),
                                payload=_lift(event_envelope_schema(evt), key, schemas))
        by_context.setdefault(evt.context, []).append(key)
    for context, keys in sorted(by_context.items()):
        channel = f"events.{context}"
        channels[channel] = Channel(
            address=f"pathways.evt.{{programme}}.{{organisation}}.{context}.{{aggregate}}",
            parameters=_parameters(["programme", "organisation", "aggregate"]),
            description=f"The {context} context's facts, as CloudEvents 1.0 (structured JSON) on PATHWAYS_EVENTS.",
            messages={key: _link("components", "messages", key) for key in keys},
        )
        operations[channel] = Operation(action=Action.RECEIVE, channel=_link("channels", channel),
                                        summary=f"Read the {context} events as the platform stores them (an "
                                                "organisation receives its own on the follow channel).",
                                        messages=[_link("channels", channel, "messages", key) for key in keys])
    every_event = [key for keys in by_context.values() for key in keys]
    channels["follow"] = Channel(
        address="_INBOX.{organisation}.follow",
        parameters=_parameters(["organisation"]),
        description="Your own events: every event on your organisation's subjects (`pathways.evt.*.<your id>.>`), "
                    "delivered in order by the durable consumer the platform made for you (`follow-<your id>`). "
                    "Subscribe, and ask JetStream nothing: while nobody listens it waits. Each message keeps the "
                    "event's own subject (pathways.evt.<programme>.<your id>.<context>.<aggregate>).",
        messages={key: _link("components", "messages", key) for key in every_event},
    )
    operations["follow"] = Operation(action=Action.RECEIVE, channel=_link("channels", "follow"),
                                     summary="Receive your own organisation's events as they are stored.",
                                     messages=[_link("channels", "follow", "messages", key) for key in every_event])
    document = ApplicationSchema(
        asyncapi=VERSION,
        info=ApplicationInfo(title="Pathways", version="0.1.0",
                             description="Commands partners send over NATS request-reply, their replies, and the "
                                         "events the platform stores on PATHWAYS_EVENTS."),
        defaultContentType="application/json",
        servers={"nats": SERVER},
        channels=channels, operations=operations,
        components=Components(messages=messages, schemas=schemas, securitySchemes=SECURITY,
                              replyAddresses={"senderInbox": REPLY_ADDRESS}),
    )
    jsonable: dict[str, Any] = document.to_jsonable()
    # What faststream's types cannot say: a reply channel's address is null where each reply
    # names its own (the spec's dynamic reply; `to_jsonable` leaves out every None), and a
    # server needs no pathname (its type requires one).
    jsonable["channels"]["replies"] = {"address": None} | jsonable["channels"]["replies"]
    if not jsonable["servers"]["nats"]["pathname"]:
        del jsonable["servers"]["nats"]["pathname"]
    return jsonable

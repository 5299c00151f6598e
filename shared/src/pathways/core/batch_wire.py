"""The wire form of a command batch (see pathways.jetstream.batch), for senders: kept apart from the
intake so a CLI that sends batches loads nothing of the service side."""

from __future__ import annotations

import json
from typing import Any

BATCH = "batch"  # the command-name token of a batch: command names are PascalCase, so never this
MAX_COMMANDS = 500  # per request: a reply the sender can wait for, a body within NATS's max payload


def batch_body(organisation: str, actor: str, commands: list[tuple[str, dict[str, Any], str]],
               correlation_id: str | None = None) -> bytes:
    """A batch request of (command, data, idempotency key) as `organisation` sends it."""
    return json.dumps({"commands": [
        {"command": command, "idempotency_key": key, "organisation": organisation, "actor": actor, "data": data}
        | ({"correlation_id": correlation_id} if correlation_id else {})
        for command, data, key in commands
    ]}).encode()


def replies_of(answer: dict[str, Any], sent: int) -> list[dict[str, Any]]:
    """One reply per command sent: a batch refused as a whole (not a batch at all) refuses
    each of its commands the same way."""
    replies = answer.get("replies")
    if isinstance(replies, list) and len(replies) == sent:
        return replies
    return [answer] * sent

"""Identifiers: what an id may look like, and the deterministic event ids that make
retried commands idempotent."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import StringConstraints

# Ids become NATS subject tokens, so they may never hold '.', '*', '>' or spaces.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

# The platform operator's own organisation id: the one sender allowed to register
# organisations. It is never a participant-facing organisation.
OPERATOR_ORGANISATION = "operator"

# A fixed namespace: the same (organisation, command, idempotency key) gives the same
# event ids on every machine and every retry, which is what lets JetStream's
# Nats-Msg-Id de-duplication and the history check recognise a retry.
_EVENT_NAMESPACE = uuid.UUID("6f1f4c1e-3b0f-4d8e-9a51-7c5a2c0d9e11")


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def event_ids_for(organisation: str, command: str, idempotency_key: str, count: int) -> list[str]:
    """The ids of the events a command will emit, decided by its idempotency key."""
    return [
        str(uuid.uuid5(_EVENT_NAMESPACE, f"{organisation}/{command}/{idempotency_key}/{index}"))
        for index in range(count)
    ]

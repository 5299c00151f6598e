"""The two reply shapes every command gets (DESIGN §4)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class RejectionCode(StrEnum):
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RULE_VIOLATION = "rule_violation"
    # Not the sender's fault (the store was unreachable, say): nothing was recorded and
    # the same command may be sent again with the same idempotency key.
    UNAVAILABLE = "unavailable"


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_ids: list[str]
    sequence: int


class Rejected(BaseModel):
    status: Literal["rejected"] = "rejected"
    code: RejectionCode
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


Reply = Accepted | Rejected


class Rejection(Exception):
    """Raised anywhere on the command path to turn into a Rejected reply. Decide
    functions return it rather than raise it, so they stay pure values."""

    def __init__(
        self, code: RejectionCode, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []

    def reply(self) -> Rejected:
        return Rejected(code=self.code, message=self.message, details=self.details)


def reject(code: RejectionCode, message: str, **detail: Any) -> Rejection:
    return Rejection(code, message, [detail] if detail else None)


def no_such_programme(programme_id: str) -> Rejection:
    """What a sender is told of a programme that does not exist, and of one it has no part in
    (not its commissioner, not commissioned for it): the same words, as HTTP answers both
    404. A commissioner must not learn that another's programme exists, nor who runs it, by
    sending commands at its id."""
    return reject(RejectionCode.NOT_FOUND, f"There is no programme '{programme_id}' that you take part in.")

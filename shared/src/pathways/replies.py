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

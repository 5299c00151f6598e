"""The CloudEvents 1.0 envelope every domain event travels in (structured JSON mode).

The bytes stored in JetStream are the canonical JSON of the envelope (sorted keys, no
whitespace), so the audit ledger can hash exactly what is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    programme: str
    organisation: str
    actor: str
    correlationid: str
    causationid: str
    traceparent: str | None = None
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)

    @property
    def context(self) -> str:
        return self.source.rsplit("/", 1)[-1]

    @property
    def name(self) -> str:
        return self.type.rsplit(".", 1)[-1]


def canonical_json(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def utcnow() -> datetime:
    return datetime.now(UTC)

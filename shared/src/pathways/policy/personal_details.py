"""Participants' personal details as the platform's messages carry them: the details a
partner records, and the sealed form an event holds (ciphertext only). Plain models: a
service's events import them without the keys, NATS or cryptography (pathways.policy.personal
seals, opens and erases)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NhsNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]


class PersonalDetails(BaseModel):
    """What a partner may record about who a participant is. Never stored in the clear."""

    # A validation error must not carry the values into a log or a reply.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=200)
    date_of_birth: date | None = None
    contact: str | None = Field(default=None, max_length=300, description="Telephone or e-mail")
    nhs_number: NhsNumber | None = None


class SealedDetails(BaseModel):
    """Personal details as they travel in an event: ciphertext only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alg: Literal["AES-256-GCM"] = "AES-256-GCM"
    nonce: str  # base64, 12 bytes
    ciphertext: str  # base64 (with the 16-byte tag)
    # Whose key seals it: the enrolment's, or, in events stored before keys were per
    # enrolment (which carry no `key`), the person's across the programme.
    key: Literal["enrolment", "programme"] = "programme"

"""Participants' personal details (name, date of birth, contact, NHS number): sealed per
person with AES-256-GCM before they reach an event, with a key per person kept outside the
event stream, in the NATS key-value bucket PATHWAYS_PERSON_KEYS that only the platform's
own user can read. Erasure deletes the key (crypto-shredding): the ciphertext stays in the
stream, so the audit ledger still verifies, and nothing can open it again.

The person's pseudonymous id and programme are the associated data, so a sealed blob
cannot be passed off as another person's."""

from __future__ import annotations

import base64
import os
from datetime import date
from typing import Annotated, Literal

import nats.js.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.aio.client import Client
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pathways.kvbucket import Bucket

BUCKET = "PATHWAYS_PERSON_KEYS"

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


class DetailsErased(Exception):
    """The person's key was deleted: their details cannot be opened by anyone."""


def _associated(programme_id: str, participant_id: str) -> bytes:
    return f"pathways/personal/{programme_id}/{participant_id}".encode()


def seal(key: bytes, programme_id: str, participant_id: str, details: PersonalDetails) -> SealedDetails:
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, details.model_dump_json().encode(), _associated(programme_id, participant_id))
    return SealedDetails(nonce=base64.b64encode(nonce).decode(), ciphertext=base64.b64encode(ciphertext).decode())


def unseal(key: bytes, programme_id: str, participant_id: str, sealed: SealedDetails) -> PersonalDetails:
    try:
        plain = AESGCM(key).decrypt(base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext),
                                    _associated(programme_id, participant_id))
    except InvalidTag:
        raise ValueError("the sealed details do not open with this person's key") from None
    return PersonalDetails.model_validate_json(plain)


class PersonKeys:
    """One AES-256 key per person per programme, in a key-value bucket of its own."""

    def __init__(self, nc: Client) -> None:
        self._kv = Bucket(nc, BUCKET)

    async def _bucket(self) -> KeyValue:
        return await self._kv.open()

    async def ensure_bucket(self) -> None:
        await self._bucket()

    @staticmethod
    def _name(programme_id: str, participant_id: str) -> str:
        return f"{programme_id}.{participant_id}"

    async def key_for(self, programme_id: str, participant_id: str) -> bytes:
        """The person's key, made on first use (two partners enrolling the same person at
        once get the same key: only one create can win)."""
        kv, name = await self._bucket(), self._name(programme_id, participant_id)
        try:
            await kv.create(name, base64.b64encode(AESGCM.generate_key(bit_length=256)))
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # it exists already (or was erased: then `get` says so)
        return await self.existing(programme_id, participant_id)

    async def existing(self, programme_id: str, participant_id: str) -> bytes:
        kv = await self._bucket()
        try:
            entry = await kv.get(self._name(programme_id, participant_id))
        except nats.js.errors.KeyNotFoundError:  # also a deleted (erased) key
            raise DetailsErased(f"{participant_id}'s details in {programme_id} are erased or were never recorded") from None
        if not entry.value:
            raise DetailsErased(f"{participant_id}'s details in {programme_id} are erased")
        return base64.b64decode(entry.value)

    async def erase(self, programme_id: str, participant_id: str) -> None:
        """Delete the key for good: purge removes every stored revision of it."""
        kv = await self._bucket()
        try:
            await kv.purge(self._name(programme_id, participant_id))
        except nats.js.errors.KeyNotFoundError:
            pass

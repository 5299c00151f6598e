"""Participants' personal details (name, date of birth, contact, NHS number): sealed per
enrolment with AES-256-GCM before they reach an event, with a key per person per
enrolling partner kept outside the event stream, in the NATS key-value bucket
PATHWAYS_PERSON_KEYS that only the registry and the platform can reach. Erasure deletes the
key (crypto-shredding): the ciphertext stays in the stream, so the audit ledger still
verifies, and nothing can open it again.

The key belongs to the enrolment, not to the person across the programme: the partner
who recorded the details is the one who may erase them, and its erasure cannot take
another partner's record of the same person with it.

Erasing overwrites the key on disk (`Bucket.erase`), not just marks it deleted. Copies
outside this server's file store (backups of it, a cluster's Raft logs until their next
snapshot) are the operator's to expire.

The ids (programme, partner, participant) are the associated data, so a sealed blob
cannot be passed off as another person's."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Protocol

import nats.js.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.aio.client import Client

from pathways.core.logging import get_logger
from pathways.jetstream.kv import Bucket, make_erasable
from pathways.policy.personal_details import NhsNumber as NhsNumber
from pathways.policy.personal_details import PersonalDetails as PersonalDetails
from pathways.policy.personal_details import SealedDetails as SealedDetails

log = get_logger("pathways.personal")

BUCKET = "PATHWAYS_PERSON_KEYS"

class DetailsErased(Exception):
    """The person's key was deleted: their details cannot be opened by anyone."""


class NotAKey(Exception):
    """The entry under a person's key name is not a key the platform made (an AES-256 key,
    base64): it was written some other way, such as a JetStream answer aimed at the bucket
    before auditors were kept out of JetStream. Nothing is sealed with it: its writer may know it."""


@dataclass(frozen=True)
class EnrolmentRef:
    """Whose details a key seals: a participant as enrolled by one partner in one programme."""

    programme_id: str
    partner_id: str
    participant_id: str

    @property
    def key_name(self) -> str:
        return f"{self.programme_id}.{self.partner_id}.{self.participant_id}"

    @property
    def owner(self) -> str:
        return self.participant_id

    @property
    def programme_key_name(self) -> str:
        """Where the earlier scheme kept the key: one per person per programme."""
        return f"{self.programme_id}.{self.participant_id}"

    def associated_data(self, key: str = "enrolment") -> bytes:
        if key == "programme":
            return f"pathways/personal/{self.programme_id}/{self.participant_id}".encode()
        return f"pathways/personal/{self.programme_id}/{self.partner_id}/{self.participant_id}".encode()


class KeyRef(Protocol):
    """What a key in the bucket seals: an enrolment's personal details, or another record
    kept as closely (a safeguarding concern, say), each under a key name of its own."""

    @property
    def key_name(self) -> str: ...

    @property
    def owner(self) -> str:
        """Whose key it is, in words for an error message (a pseudonymous id, never a name)."""
        ...


# The plaintext is padded to a multiple of this before sealing, so the ciphertext's length
# does not tell a short name from a long one (or whether a contact or NHS number was given).
PAD_TO = 256


def seal_bytes(key: bytes, associated_data: bytes, plain: bytes) -> SealedDetails:
    """AES-256-GCM over `plain`, padded, bound to `associated_data` (so a blob cannot be
    passed off as another record's). Any record sealed in an event goes through here."""
    nonce = os.urandom(12)
    padded = plain + b" " * (-len(plain) % PAD_TO)  # JSON ignores trailing whitespace
    ciphertext = AESGCM(key).encrypt(nonce, padded, associated_data)
    return SealedDetails(nonce=base64.b64encode(nonce).decode(), ciphertext=base64.b64encode(ciphertext).decode(),
                         key="enrolment")


def open_bytes(key: bytes, associated_data: bytes, sealed: SealedDetails) -> bytes:
    try:
        return AESGCM(key).decrypt(base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), associated_data)
    except InvalidTag:
        raise ValueError("the sealed record does not open with this key") from None


def seal(key: bytes, enrolment: EnrolmentRef, details: PersonalDetails) -> SealedDetails:
    return seal_bytes(key, enrolment.associated_data(), details.model_dump_json().encode())


def unseal(key: bytes, enrolment: EnrolmentRef, sealed: SealedDetails) -> PersonalDetails:
    try:
        plain = open_bytes(key, enrolment.associated_data(sealed.key), sealed)
    except ValueError:
        raise ValueError("the sealed details do not open with this person's key") from None
    return PersonalDetails.model_validate_json(plain)


class PersonKeys:
    """One AES-256 key per enrolment, in a key-value bucket of its own whose stream lets a
    single value be securely deleted."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._kv = Bucket(nc, BUCKET, erasable=True)

    async def ensure_bucket(self) -> None:
        """Make the bucket (the platform does this before services start). A bucket made by
        an earlier version, whose stream denies deleting a message, is remade erasable with
        its keys copied across (`kvbucket.make_erasable`): a purge there would leave the
        bytes on disk."""
        moved = await make_erasable(self._nc, self._kv)
        if moved is not None:
            log.warning("remade the people's keys bucket so that erasure overwrites a key on disk", keys=moved)

    async def key_for(self, ref: KeyRef) -> bytes:
        """The record's key, made on first use (two retries of one enrolment racing get
        the same key: only one create can win). Called only once `decide` has accepted."""
        kv = await self._kv.open()
        try:
            await kv.create(ref.key_name, base64.b64encode(AESGCM.generate_key(bit_length=256)))
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # it exists already
        return await self.existing(ref)

    async def existing(self, ref: KeyRef, sealed: SealedDetails | None = None) -> bytes:
        """The key that opens `sealed` (by default, the record's own key)."""
        kv = await self._kv.open()
        name = ref.key_name
        if sealed is not None and sealed.key == "programme" and isinstance(ref, EnrolmentRef):
            name = ref.programme_key_name
        try:
            entry = await kv.get(name)
        except nats.js.errors.KeyNotFoundError:  # also an erased key
            raise DetailsErased(f"{ref.owner}'s details are erased or were never recorded") from None
        if not entry.value:
            raise DetailsErased(f"{ref.owner}'s details are erased")
        try:
            key = base64.b64decode(entry.value, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise NotAKey(f"the entry under {ref.owner}'s key name is not a key the platform made")
        return key

    async def erase(self, ref: KeyRef) -> bool:
        """Delete the record's key for good, overwriting it on disk (for an enrolment, also
        the key of the earlier scheme that sealed the same person's details across the
        programme, if any). True if there was one to erase; erasing again is harmless (the
        registry's shredder repeats erasures after a crash)."""
        erased = await self._kv.erase(ref.key_name)
        if isinstance(ref, EnrolmentRef):
            erased = await self._kv.erase(ref.programme_key_name) or erased
        return erased

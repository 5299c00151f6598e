"""The operator's side of checkpoints: the Ed25519 signing key and signing a checkpoint
as a C2SP signed note. Verification lives in `verifier.py`, which auditors run alone."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pathways.policy.ledger.verifier import SIGNATURE_PREFIX, Checkpoint, VerifierKey, key_id_of


class CheckpointSigner:
    def __init__(self, key: Ed25519PrivateKey, name: str) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError(f"a log's name has no spaces or '+': {name!r}")
        self._key = key
        self.name = name
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.vkey = VerifierKey(name, key_id_of(name, public), public)

    def sign(self, checkpoint: Checkpoint) -> str:
        if checkpoint.origin != self.name:
            raise ValueError(f"this key signs checkpoints of '{self.name}', not '{checkpoint.origin}'")
        body = checkpoint.body()
        signature = self._key.sign(body.encode())
        blob = base64.b64encode(self.vkey.key_id + signature).decode()
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {blob}\n"


def generate_key(path: Path) -> Ed25519PrivateKey:
    """A new signing key written owner-only (PKCS#8 PEM); refuses to overwrite one."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    try:
        return load_key(path)
    except FileNotFoundError:
        try:
            return generate_key(path)
        except FileExistsError:  # another process created it a moment ago
            return load_key(path)

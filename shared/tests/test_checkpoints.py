"""Signed checkpoints in the C2SP signed-note format: the specification's own example
verifies (so other tools can read ours), and what we sign opens only unaltered, only with
the right key, and only as a well-formed checkpoint."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pathways.policy.ledger.signing import CheckpointSigner, generate_key, load_or_create_key
from pathways.policy.ledger.verifier import Checkpoint, CheckpointError, VerifierKey, open_checkpoint, open_note

# The example of https://c2sp.org/signed-note ("Verifier keys" and "Signed notes").
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n\u2014 example.com/foo "
             "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
ROOT = hashlib.sha256(b"a root").digest()


def test_the_signed_note_specification_example_verifies() -> None:
    key = VerifierKey.parse(SPEC_VKEY)
    assert key.name == "example.com/foo" and key.key_id.hex() == "530d903a"
    assert str(key) == SPEC_VKEY
    assert open_note(SPEC_NOTE, key) == "This is an example message.\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        open_note(SPEC_NOTE.replace("example message", "example massage"), key)
    with pytest.raises(CheckpointError, match="signature line"):
        open_note(SPEC_NOTE.replace("\u2014", "-"), key)  # a hyphen is not the em dash


def test_what_we_sign_opens_with_our_key_only_and_only_unaltered() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "pathways.test/ledger")
    note = signer.sign(Checkpoint("pathways.test/ledger", 42, ROOT, ("time 2026-11-22T10:00:00.000000Z",)))
    body = f"pathways.test/ledger\n42\n{base64.b64encode(ROOT).decode()}\ntime 2026-11-22T10:00:00.000000Z\n"
    assert note.startswith(body + "\n\u2014 ")
    opened = open_checkpoint(note, str(signer.vkey))
    assert (opened.size, opened.root, opened.time) == (42, ROOT, "2026-11-22T10:00:00.000000Z")
    for altered in (note.replace("\n42\n", "\n43\n"), note.replace("10:00:00", "11:00:00")):
        with pytest.raises(CheckpointError, match="does not verify"):
            open_checkpoint(altered, signer.vkey)
    stranger = CheckpointSigner(Ed25519PrivateKey.generate(), "pathways.test/ledger")
    forged = stranger.sign(Checkpoint("pathways.test/ledger", 42, ROOT))
    with pytest.raises(CheckpointError, match="no signature by"):
        open_checkpoint(forged, signer.vkey)
    # A witness's cosignature beside ours is ignored, not an error.
    witness = CheckpointSigner(Ed25519PrivateKey.generate(), "witness.example")
    cosigned = note + witness.sign(Checkpoint("witness.example", 1, ROOT)).split("\n\n", 1)[1]
    assert open_checkpoint(cosigned, signer.vkey).size == 42


def test_malformed_checkpoints_and_keys_are_refused() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "log")
    for body in ("log\n", "log\n-1\nAAAA\n", "log\n01\n" + base64.b64encode(ROOT).decode() + "\n", "log\n5\nnot-base64\n"):
        blob = base64.b64encode(signer.vkey.key_id + b"\0" * 64).decode()
        with pytest.raises(CheckpointError):
            open_checkpoint(f"{body}\n\u2014 log {blob}\n", signer.vkey)
    other_log = CheckpointSigner(Ed25519PrivateKey.generate(), "log")
    with pytest.raises(CheckpointError):
        open_checkpoint(other_log.sign(Checkpoint("log", 1, ROOT)), signer.vkey)
    for bad in ("nonsense", "log+zz+AAAA", SPEC_VKEY.replace("530d903a", "530d903b")):
        with pytest.raises(CheckpointError):
            VerifierKey.parse(bad)
    with pytest.raises(ValueError):
        CheckpointSigner(Ed25519PrivateKey.generate(), "a name with spaces")


def test_the_signing_key_is_owner_only_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "ledger.key"
    key = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path).public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    with pytest.raises(FileExistsError):
        generate_key(path)

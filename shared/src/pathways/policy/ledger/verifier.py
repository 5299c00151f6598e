"""A small standalone verifier for the Pathways audit ledger.

This file deliberately imports nothing but the Python standard library (and, to check an
Ed25519 signature, the `cryptography` package), so an auditor can copy this one file out
of the repository and check what the ledger tells them without trusting (or installing)
any of the rest of Pathways:

    python verifier.py --key ledger.vkey proof.json checkpoint.txt

The ledger is an RFC 6962 Merkle tree (the same tree as Certificate Transparency, RFC 9162,
and the transparency-dev/merkle Go module), so proofs produced here can also be checked by
any existing RFC 6962 verifier, and vice versa.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Checkpoint",
    "CheckpointError",
    "ProofError",
    "VerifierKey",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "root_from_inclusion_proof",
    "verify_bundle",
    "verify_consistency",
    "verify_inclusion",
]

# ---------------------------------------------------------------------------------------
# Section 1: RFC 6962 hashing and Merkle proof verification (RFC 9162 §2.1.3.2, §2.1.4.2)
#
# The algorithms follow transparency-dev/merkle proof/verify.go: an inclusion proof is
# split into an "inner" part (siblings below the point where the path to the leaf
# leaves the path to the tree's last leaf, which may sit on either side) and a "border"
# part (siblings above it, which are always on the left). The edge cases are also theirs:
#   * index must be < size;
#   * size1 == size2 needs an empty proof and equal roots;
#   * size1 == 0 is consistent with anything, but only with an empty proof;
#   * a proof of the wrong length is rejected before any hashing.
# Stricter than verify.go in one respect: every hash in a proof (and the leaf hash) must
# be exactly 32 bytes, so that malformed input is reported as such rather than as a
# root mismatch.
# ---------------------------------------------------------------------------------------

HASH_SIZE = 32
"""Length in bytes of every hash in the tree (SHA-256)."""

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of a tree with no leaves (RFC 6962 §2.1)."""


class ProofError(ValueError):
    """A proof did not verify, or could not even be checked because its inputs are malformed.

    It subclasses ValueError so that callers who only care "was this input acceptable?"
    can catch one familiar exception; the message says what exactly was wrong.
    """


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): the hash of a leaf.

    The 0x00 prefix (versus 0x01 for interior nodes) is RFC 6962's domain separation: it
    stops anyone passing off an interior node as a leaf (a second-preimage attack).
    """
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node from its two children."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _check_size_args(**values: int) -> None:
    # Reject negative sizes/indexes up front: Python ints do not wrap like Go's uint64,
    # and a negative index would otherwise produce nonsense bit arithmetic.
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProofError(f"{name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ProofError(f"{name} must be >= 0, got {value}")


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof[{i}] is {len(h)} bytes, want {HASH_SIZE}")


def _decompose_inclusion(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof for leaf `index` in a tree of `size` into (inner, border) lengths.

    `inner` is the height at which the paths to `index` and to `size - 1` diverge; below it
    the sibling may be on either side. Above it the path runs along the right border of
    the tree, where a sibling exists (on the left) only at the levels where `index` has a
    1 bit, and levels where the border node has no sibling are skipped entirely.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Hash up the inner part of a path; bit i of `index` says which side the sibling at level i is on."""
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 0:
            seed = _sha256(_NODE_PREFIX + seed + h).digest()
        else:
            seed = _sha256(_NODE_PREFIX + h + seed).digest()
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    """Like _chain_inner, but only use siblings to the LEFT of the path.

    That reconstructs the hash of the same subtree as it was in the *earlier* tree, which
    did not yet have any of the leaves to the right; it is how a consistency proof lets
    one set of hashes produce both the old root and the new one.
    """
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = _sha256(_NODE_PREFIX + h + seed).digest()
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    """Hash up the right border, where every sibling in the proof is on the left."""
    for h in proof:
        seed = _sha256(_NODE_PREFIX + h + seed).digest()
    return seed


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Compute the root that `proof` claims for leaf `index` (hash `leaf_hash`) in a tree of `size` leaves.

    Useful when the caller wants to compare against several candidate roots, or report the
    computed one; verify_inclusion is the usual entry point. Requires 0 <= index < size.
    """
    _check_size_args(index=index, size=size)
    if index >= size:
        raise ProofError(f"leaf index {index} is out of range for tree size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf_hash)} bytes, want {HASH_SIZE}")
    inner, border = _decompose_inclusion(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"wrong inclusion proof length {len(proof)} for leaf {index} of {size}, want {inner + border}")
    _check_hashes(proof)
    result = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that the leaf with hash `leaf_hash` is at `index` in the tree of `size` leaves whose root is `root`.

    Returns None on success and raises ProofError otherwise, so a forgotten return-value
    check can never turn a failed verification into a silent pass.
    """
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of tree size {size} does not match the root: "
            f"computed {computed.hex()}, expected {root.hex()}"
        )


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of `size2` leaves with root `root2` is an append-only extension of the tree of
    `size1` leaves with root `root1` (RFC 9162 §2.1.4.2). Raises ProofError if not.

    This is what lets an auditor who saw an earlier checkpoint be sure no recorded event has
    since been changed, removed or reordered.
    """
    _check_size_args(size1=size1, size2=size2)
    if size1 > size2:
        raise ProofError(f"tree size1 {size1} > size2 {size2}: a log cannot shrink")
    if size1 == size2:
        if len(proof) != 0:
            raise ProofError(f"sizes are equal ({size1}) but the consistency proof has {len(proof)} hashes, want 0")
        if root1 != root2:
            raise ProofError(f"trees of the same size {size1} have different roots: {root1.hex()} != {root2.hex()}")
        return
    if size1 == 0:
        # The empty tree is a prefix of every tree; there is nothing to prove.
        if len(proof) != 0:
            raise ProofError(f"consistency proof from the empty tree must be empty, got {len(proof)} hashes")
        return
    if len(proof) == 0:
        raise ProofError(f"empty consistency proof between different sizes {size1} and {size2}")
    _check_hashes(proof)

    # The proof is (almost) an inclusion proof for leaf size1-1 in the tree of size2,
    # starting not at the leaf but at the largest perfect subtree ending at size1
    # (level `shift`), whose hash is proof[0] unless that subtree is the whole old tree,
    # in which case the verifier already knows it as root1.
    inner, border = _decompose_inclusion(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner -= shift  # shift < inner, since size1 < size2
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise ProofError(
            f"wrong consistency proof length {len(proof)} between sizes {size1} and {size2}, want {start + inner + border}"
        )
    path = proof[start:]
    mask = (size1 - 1) >> shift  # the seed's index on level `shift`

    hash1 = _chain_border_right(_chain_inner_right(seed, path[:inner], mask), path[inner:])
    if hash1 != root1:
        raise ProofError(
            f"consistency proof does not reproduce the root at size {size1}: computed {hash1.hex()}, expected {root1.hex()}"
        )
    hash2 = _chain_border_right(_chain_inner(seed, path[:inner], mask), path[inner:])
    if hash2 != root2:
        raise ProofError(
            f"consistency proof does not reproduce the root at size {size2}: computed {hash2.hex()}, expected {root2.hex()}"
        )


# ---------------------------------------------------------------------------------------
# Section 2: signed checkpoints (C2SP signed-note and tlog-checkpoint)
# ---------------------------------------------------------------------------------------
# A checkpoint is the text "<origin>\n<tree size>\n<base64 root>\n" (plus optional
# extension lines, here "time <RFC 3339>"), followed by a blank line and one signature line
# per signer: "— <key name> <base64(4-byte key id ‖ Ed25519 signature)>". The same format as
# Go's sumdb, Sigsum and the transparency-dev witnesses, so tools nobody here wrote can
# check it. A verifier key ("vkey") is "<name>+<hex key id>+<base64(0x01 ‖ public key)>".

SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space, never a hyphen
ED25519 = 0x01


class CheckpointError(ValueError):
    """A checkpoint that is malformed or not signed by the trusted key."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @property
    def time(self) -> str | None:
        """The signing time the platform puts in an extension line, if any."""
        for line in self.extensions:
            if line.startswith("time "):
                return line[5:]
        return None


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes  # 32 raw Ed25519 bytes

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        try:
            name, key_hex, encoded = vkey.strip().split("+", 2)  # the name has no "+"; base64 may
            raw = base64.b64decode(encoded, validate=True)
            key_id = bytes.fromhex(key_hex)
        except ValueError:
            raise CheckpointError("not a verifier key: expected <name>+<hex key id>+<base64 key>") from None
        if len(raw) != 33 or raw[0] != ED25519 or len(key_id) != 4:
            raise CheckpointError("the verifier key is not an Ed25519 key")
        key = cls(name, key_id, raw[1:])
        if key_id_of(name, key.public_key) != key_id:
            raise CheckpointError("the verifier key's id does not match its name and public key")
        return key

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([ED25519]) + self.public_key).decode()}"


def key_id_of(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def parse_checkpoint_body(body: str) -> Checkpoint:
    if not body.endswith("\n"):
        raise CheckpointError("a checkpoint's text must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint needs an origin, a tree size and a root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin or not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
        raise CheckpointError(f"not a checkpoint: bad origin or tree size {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise CheckpointError("the checkpoint's root hash is not base64") from None
    if len(root) != 32:
        raise CheckpointError("the checkpoint's root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise CheckpointError("a checkpoint has no empty lines")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_note(note: str, vkey: VerifierKey | str) -> str:
    """The text of a signed note, if the trusted key signed it; otherwise CheckpointError.
    Signatures by other keys (a witness's, say) are ignored, as the format requires; a
    signature by the trusted key that does not verify rejects the whole note."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = VerifierKey.parse(vkey) if isinstance(vkey, str) else vkey
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("not a signed note: no blank line before the signatures")
    body, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        raise CheckpointError("a signed note ends with a newline")
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError(f"not a signature line: {line[:40]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CheckpointError("a signature is not base64") from None
        if name != key.name or blob[:4] != key.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[4:], body.encode())
        except InvalidSignature:
            raise CheckpointError(f"the signature by '{key.name}' does not verify: the text was altered or forged") from None
        return body
    raise CheckpointError(f"the note carries no signature by '{key.name}' (key id {key.key_id.hex()})")


def open_checkpoint(note: str, vkey: VerifierKey | str) -> Checkpoint:
    """The checkpoint in a signed note, if the trusted key signed it."""
    key = VerifierKey.parse(vkey) if isinstance(vkey, str) else vkey
    checkpoint = parse_checkpoint_body(open_note(note, key))
    if checkpoint.origin != key.name:
        raise CheckpointError(f"the checkpoint is for log '{checkpoint.origin}', not '{key.name}'")
    return checkpoint


# ---------------------------------------------------------------------------------------
# Section 3: proof bundles (what `pathways audit prove / consistency` save), and main()
# ---------------------------------------------------------------------------------------


def verify_bundle(bundle: dict[str, Any], vkey: VerifierKey | str) -> str:
    """Check a saved proof with nothing but the trusted key; returns what it proves."""
    key = VerifierKey.parse(vkey) if isinstance(vkey, str) else vkey
    kind = bundle.get("kind")
    if kind == "inclusion":
        checkpoint = open_checkpoint(bundle["checkpoint"], key)
        if checkpoint.size != bundle["tree_size"]:
            raise ProofError(f"the proof is for a log of {bundle['tree_size']} events, the checkpoint for {checkpoint.size}")
        event = base64.b64decode(bundle["event_base64"], validate=True)
        proof = [bytes.fromhex(h) for h in bundle["proof"]]
        verify_inclusion(leaf_hash(event), int(bundle["leaf_index"]), checkpoint.size, proof, checkpoint.root)
        try:
            described = json.loads(event)
            what = f"event {described.get('id')} ({described.get('type')})"
        except ValueError:
            what = "the message"
        return (f"{what} is entry {int(bundle['leaf_index']) + 1} of the log of {checkpoint.size} events "
                f"signed by {key.name}" + (f" at {checkpoint.time}" if checkpoint.time else ""))
    if kind == "consistency":
        old = open_checkpoint(bundle["old_checkpoint"], key)
        new = open_checkpoint(bundle["new_checkpoint"], key)
        proof = [bytes.fromhex(h) for h in bundle["proof"]]
        verify_consistency(old.size, new.size, proof, old.root, new.root)
        return f"the log of {old.size} events is a prefix of the log of {new.size} events, both signed by {key.name}"
    raise ProofError(f"not a proof bundle (kind {kind!r})")


def main(argv: Sequence[str] | None = None) -> int:
    """python verifier.py --key ledger.vkey proof.json [checkpoint.txt ...]"""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Check Pathways ledger proofs and checkpoints with the public key alone.")
    parser.add_argument("--key", required=True, help="the verifier key (vkey), or a file holding it")
    parser.add_argument("files", nargs="+", help="proof bundles (.json) or signed checkpoints")
    args = parser.parse_args(argv)
    text = args.key
    try:
        with open(text) as handle:
            text = handle.read()
    except OSError:
        pass
    key = VerifierKey.parse(text)
    failed = 0
    for name in args.files:
        with open(name) as handle:
            body = handle.read()
        try:
            if body.lstrip().startswith("{"):
                print(f"OK   {name}: {verify_bundle(json.loads(body), key)}")
            else:
                print(f"OK   {name}: checkpoint of {open_checkpoint(body, key).size} events")
        except (ProofError, CheckpointError, ValueError, KeyError) as err:
            failed += 1
            print(f"FAIL {name}: {err}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Proofs for an auditor to keep: each a JSON bundle holding everything the standalone
verifier needs besides the public key (the signed checkpoint, the proof hashes and, for
inclusion, the event exactly as stored)."""

from __future__ import annotations

import base64
from typing import Any

from pathways.policy.ledger.merkle import consistency_proof, inclusion_proof, root_at
from pathways.policy.ledger.verifier import Checkpoint, CheckpointError, VerifierKey, open_checkpoint
from sqlalchemy import Connection, select

from pathways_audit import ledger, records


class ProofUnavailable(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _checkpoint_row(conn: Connection, tree_size: int | None) -> Any:
    if tree_size is None:
        row = records.latest_checkpoint(conn)
        if row is None:
            raise ProofUnavailable(409, "No checkpoint has been signed yet; the first is due within seconds.")
        return row
    row = conn.execute(select(records.CHECKPOINTS).where(records.CHECKPOINTS.c.tree_size == tree_size)).first()
    if row is None:
        raise ProofUnavailable(404, f"There is no signed checkpoint of size {tree_size}.")
    return row


def inclusion(conn: Connection, event: str, tree_size: int | None = None) -> tuple[Any, Any, list[bytes]]:
    """(ledger entry, checkpoint row, proof) that the event is in the signed log."""
    entry = ledger.entry_for(conn, event)
    if entry is None:
        raise ProofUnavailable(404, f"The ledger has no event '{event}' (yet).")
    checkpoint = _checkpoint_row(conn, tree_size)
    if checkpoint.tree_size < entry.sequence:
        raise ProofUnavailable(409, (
            f"Sequence {entry.sequence} is not covered by "
            + ("that checkpoint" if tree_size else f"a signed checkpoint yet (the latest covers {checkpoint.tree_size})")
            + "; checkpoints are signed every few seconds."))
    proof = inclusion_proof(entry.sequence - 1, int(checkpoint.tree_size), ledger.node_reader(conn))
    return entry, checkpoint, proof


def inclusion_bundle(entry: Any, checkpoint: Any, proof: list[bytes], payload: bytes) -> dict[str, Any]:
    return {
        "kind": "inclusion",
        "sequence": int(entry.sequence),
        "leaf_index": int(entry.sequence) - 1,
        "event_id": entry.event_id,
        "tree_size": int(checkpoint.tree_size),
        "checkpoint": checkpoint.note,
        "event_base64": base64.b64encode(payload).decode(),
        "proof": [h.hex() for h in proof],
    }


def consistency(conn: Connection, old_note: str, vkey: VerifierKey, tree_size: int | None = None) -> dict[str, Any]:
    """A proof that the log the auditor's old checkpoint describes is a prefix of the log
    now (or of the checkpoint of `tree_size`)."""
    try:
        old: Checkpoint = open_checkpoint(old_note, vkey)
    except CheckpointError as err:
        raise ProofUnavailable(422, f"That checkpoint does not verify with this ledger's key: {err}") from None
    new = _checkpoint_row(conn, tree_size)
    if old.size > new.tree_size:
        raise ProofUnavailable(409, f"Your checkpoint (size {old.size}) is newer than checkpoint {new.tree_size}.")
    read = ledger.node_reader(conn)
    if old.size > 0 and root_at(old.size, read) != old.root:
        # Signed by our key but not our history: the log was rewritten after it was signed.
        raise ProofUnavailable(409, (
            f"This ledger's root at size {old.size} differs from the one your checkpoint was signed with: the history "
            "you were shown then has been rewritten since. Keep your checkpoint as evidence."))
    proof = consistency_proof(old.size, int(new.tree_size), read) if 0 < old.size else []
    return {
        "kind": "consistency",
        "old_size": old.size,
        "new_size": int(new.tree_size),
        "old_checkpoint": old_note,
        "new_checkpoint": new.note,
        "proof": [h.hex() for h in proof],
    }

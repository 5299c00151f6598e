"""The audit service: the ledger, its checkpoints, proofs and replay."""

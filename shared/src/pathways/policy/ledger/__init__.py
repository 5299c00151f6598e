"""The audit ledger: an RFC 6962 / RFC 9162 Merkle tree over the event log, with proofs an outsider can check."""

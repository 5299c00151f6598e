"""The core: the envelope, ids, subjects, replies, schemas, the decider contract, the command
intake, the event store contract and its in-memory store, projections with their tracking
and rebuild. It imports no NATS, no cryptography and no platform policy: every layer above
builds on it (tests/test_layers.py keeps it so)."""

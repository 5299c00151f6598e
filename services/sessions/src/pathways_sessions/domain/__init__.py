"""The sessions domain: pure events, commands, state and rules (no I/O)."""

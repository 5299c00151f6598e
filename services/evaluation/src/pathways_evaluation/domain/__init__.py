"""The evaluation domain: pure scoring, events, commands, state and rules (no I/O)."""

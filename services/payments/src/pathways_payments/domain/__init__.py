"""The payments domain: pure events, commands, state and rules (no I/O). Money is integer pence."""

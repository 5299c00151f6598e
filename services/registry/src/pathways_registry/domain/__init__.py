"""The registry's pure domain: events, commands, aggregate states and decide functions.
No I/O here: everything is a value in, a value out."""

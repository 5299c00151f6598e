"""The platform's home ($PATHWAYS_HOME) is its owner's alone.

It holds read models of special-category health data (pseudonymous, but a roster is still
a list of who is on a forensic ward's programme), the logs, the platform's own NATS
credentials and the JetStream store. The home is 0700 and every file in it 0600: the
process's umask is 077 from the start, so what it and its children create (SQLite files
and their WAL, logs, the nats-server's store) is private as it is made, and a home an
earlier version left 0755 / 0644 is put right on the way in."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIRECTORY, PRIVATE_FILE = 0o700, 0o600


def keep_private(home: Path, *, recursive: bool = True) -> None:
    """Make `home` (and its parents if missing) and keep it and everything in it private
    (with `recursive=False`, what lies directly in it: a service's database and log);
    every later file this process or its children create is private too."""
    os.umask(0o077)
    home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    home.chmod(PRIVATE_DIRECTORY)
    for path in home.rglob("*") if recursive else home.glob("*"):
        if path.is_symlink():
            continue  # not ours to change: it points elsewhere
        try:
            path.chmod(PRIVATE_DIRECTORY if path.is_dir() else PRIVATE_FILE)
        except OSError:  # gone meanwhile, or another user's: nothing to put right here
            continue

"""The platform's home ($PATHWAYS_HOME) is its owner's alone.

It holds read models of special-category health data (pseudonymous, but a roster is still
a list of who is on a forensic ward's programme), the logs, the platform's own NATS
credentials and the JetStream store. The home is 0700 and every file in it 0600: the
process's umask is 077 from the start, so what it and its children create (SQLite files
and their WAL, logs, the nats-server's store) is private as it is made, and a home an
earlier version left 0755 / 0644 is put right on the way in (group and others lose their
rights; the owner's are kept)."""

from __future__ import annotations

import os
from pathlib import Path

from pathways.core.logging import get_logger

log = get_logger("pathways.home")

PRIVATE_DIRECTORY, PRIVATE_FILE = 0o700, 0o600


def keep_private(home: Path, *, recursive: bool = True) -> None:
    """Make `home` (and its parents if missing) and keep it and everything in it private
    (with `recursive=False`, what lies directly in it: a service's database and log);
    every later file this process or its children create is private too."""
    os.umask(0o077)
    home.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    try:
        home.chmod(PRIVATE_DIRECTORY)
    except PermissionError:
        log.warning("the platform's home belongs to another user and cannot be made private; its read models and "
                    "logs may be readable by others", home=str(home))
    for path in home.rglob("*") if recursive else home.glob("*"):
        if path.is_symlink():
            continue  # not ours to change: it points elsewhere
        try:
            # Group and others lose every right; the owner keeps theirs (a script stays runnable).
            owner = PRIVATE_DIRECTORY if path.is_dir() else PRIVATE_FILE
            path.chmod(path.stat().st_mode & 0o700 | owner)
        except OSError:  # gone meanwhile, or another user's: nothing to put right here
            continue


def database_url(home: Path | None = None, service: str = "readmodels") -> str:
    url = os.environ.get("PATHWAYS_DATABASE_URL")
    if url:
        return url
    base = home or Path(os.environ.get("PATHWAYS_HOME", ".pathways"))
    keep_private(base, recursive=False)  # read models of health data: the owner's alone (keep_private above)
    return f"sqlite:///{(base / f'{service}.db').resolve()}"

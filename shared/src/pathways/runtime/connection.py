"""How a process finds NATS: environment variables (deploy/, docker-compose) or the
connection.json that `pathways up` writes under $PATHWAYS_HOME."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nats-py is imported when a connection is made: every CLI command reads this module
    from nats.aio.client import Client


def pathways_home() -> Path:
    return Path(os.environ.get("PATHWAYS_HOME", ".pathways")).resolve()


# What connection.json says of itself: a partner who finds it must not build on it.
PLATFORM_ONLY = ("The platform's own NATS user, which every permission lets through: for the platform's processes and "
                 "its operator's `pathways` commands only. Never give it to a partner system; each organisation connects "
                 "with its own credentials (`pathways org add ID --role ... -o creds.json`).")


@dataclass
class ConnectionInfo:
    nats_url: str
    user: str | None = None
    password: str | None = None
    services: dict[str, str] = field(default_factory=dict)  # name -> HTTP base URL
    home: str | None = None

    @property
    def servers(self) -> list[str]:
        """Every server's URL: `nats_url` may name a cluster's nodes, separated by commas."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    async def connect(self, name: str = "pathways", **kwargs: Any) -> Client:
        import nats

        from pathways.runtime.accounts import ORG_USER_PREFIX, PLATFORM_INBOX, SERVICE_USER_PREFIX, inbox_prefix

        # Replies come back where the connecting user may hear them and a service will answer:
        # a service's own inbox, an organisation's own (`org-<id>`: _INBOX.<id>), or the platform's.
        user = self.user or ""
        own = (f"_INBOX.{user}" if user.startswith(SERVICE_USER_PREFIX)
               else inbox_prefix(user.removeprefix(ORG_USER_PREFIX)) if user.startswith(ORG_USER_PREFIX)
               else PLATFORM_INBOX)
        kwargs.setdefault("inbox_prefix", own)
        return await nats.connect(
            self.servers,
            user=self.user,
            password=self.password,
            name=name,
            max_reconnect_attempts=-1,
            **kwargs,
        )

    def redacted(self) -> dict[str, Any]:
        body = asdict(self)
        body["password"] = "***" if self.password else None
        body["nats_url"] = redacted_servers(self.nats_url)
        return body

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # Owner-only: it holds credentials.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"about": PLATFORM_ONLY} | asdict(self), handle, indent=2)
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> ConnectionInfo:
        body = json.loads(path.read_text())
        body.pop("about", None)
        return cls(**body)


def redacted_servers(url: str) -> str:
    """A server list without the user and password any URL in it carries: everything up to
    its last `@`, as the client reads it (`nats://u:p@ss@host`, or `u:p@host` with no scheme)."""
    return ",".join(re.sub(r"^([a-z]+://)?.*@", r"\1", u.strip()) for u in url.split(","))


def connection_file(home: Path | None = None) -> Path:
    return (home or pathways_home()) / "connection.json"


def resolve_connection(home: Path | None = None) -> ConnectionInfo:
    """Environment first (PATHWAYS_NATS_URL, _USER, _PASSWORD), then connection.json."""
    url = os.environ.get("PATHWAYS_NATS_URL")
    if url:
        return ConnectionInfo(
            url, os.environ.get("PATHWAYS_NATS_USER"), os.environ.get("PATHWAYS_NATS_PASSWORD")
        )
    path = connection_file(home)
    if not path.exists():
        raise FileNotFoundError(
            f"No running Pathways found: {path} does not exist. Start one with "
            "`pathways up` (or `make run`), or set PATHWAYS_NATS_URL."
        )
    return ConnectionInfo.read(path)

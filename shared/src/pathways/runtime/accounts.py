"""Who may connect to NATS, and what each may publish and read: the server enforces it,
so an organisation's system cannot act for another whatever it sends.

- The platform's own user (services, the operator's CLI) may do everything.
- Each organisation has a user of its own, `org-<id>`, whose password is kept only as a
  bcrypt hash (in $PATHWAYS_HOME/organisations.json and in the server's config):
  - it may publish commands only on `pathways.cmd.<its id>.>`; the events on its own
    subjects arrive on its inbox from the consumer the platform made for it (pathways.runtime.follow);
  - it receives replies only on its own inboxes, `_INBOX.<its id>.>` (its client connects
    with that inbox prefix), so it cannot read another organisation's replies, and the
    services answer a command only there (`may_be_answered_at`), so it cannot have one
    sent to another organisation either;
  - an auditor publishes nothing at all: it reads the stream through the audit service
    (`pathways audit … --via service`, GET /audit/stream), not from JetStream. A JetStream
    request names the subject its answer is published on, the server's permissions check
    only the subject a request is sent to, and an answer published on `$KV.<bucket>.<key>`
    is stored in that bucket: with Direct Get alone an auditor could create entries in the
    bucket of people's keys (under a future enrolment's name) or of tokens.
- Adding, rotating or revoking an organisation rewrites the included authorization file
  and tells the running server to reload it: no restart, and a revoked organisation's
  open connections are closed by the server at once."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt

from pathways.core.ids import is_valid_id
from pathways.core.subjects import COMMANDS_ROOT, STREAM_NAME
from pathways.policy.roles import ROLES

ORG_USER_PREFIX = "org-"
SERVICE_USER_PREFIX = "svc-"
AUTHORIZATION_FILE = "authorization.conf"
REGISTER_FILE = "organisations.json"
SERVICES_FILE = "service-credentials.json"
AUTHORIZATION_HEADER = ("# Written by `pathways org add|credentials|revoke|services` from the organisations it has\n"
                        "# registered: edit it with those commands, not by hand. Passwords are bcrypt hashes.\n")

def nats_user(organisation_id: str) -> str:
    return ORG_USER_PREFIX + organisation_id


def inbox_prefix(organisation_id: str) -> str:
    """Where an organisation's client receives its replies (nats-py: connect(inbox_prefix=…))."""
    return f"_INBOX.{organisation_id}"


# The platform's own clients' inboxes (the operator's CLI, the demo loader). No organisation
# id can be this token ('~' is not in an id), so no organisation can be answered there.
PLATFORM_INBOX = "_INBOX.~platform"


def may_be_answered_at(sender: str, reply: str) -> bool:
    """A command's reply goes only to the sender's own inboxes (or the platform's): a sender
    that names another organisation's inbox would have the service send it that reply (the
    service may publish to every inbox; the organisation may not read another's)."""
    return reply.startswith((f"{inbox_prefix(sender)}.", f"{PLATFORM_INBOX}."))


@dataclass(frozen=True)
class NatsNeeds:
    """What a service's NATS user needs beyond what every service has, declared by the
    service itself (`ServiceDefinition.nats`), so the platform's kernel names no service."""

    keeps_person_keys: bool = False  # reaches PATHWAYS_PERSON_KEYS (seals, opens and erases people's keys)
    own_consumers: tuple[str, ...] = ()  # durable consumers with fixed names that only it may use


def _fixed_consumer_subjects(names: Iterable[str]) -> list[str]:
    """Every API subject that pulls from, changes or deletes these consumers, or acknowledges
    their deliveries (a forged acknowledgement would make the key shredder skip an erasure)."""
    return [subject for name in sorted(names) for subject in (
        f"$JS.API.CONSUMER.*.{STREAM_NAME}.{name}", f"$JS.API.CONSUMER.*.{STREAM_NAME}.{name}.>",
        f"$JS.API.CONSUMER.*.*.{STREAM_NAME}.{name}",  # MSG.NEXT, DURABLE.CREATE, LEADER.STEPDOWN
        f"$JS.ACK.{STREAM_NAME}.{name}.>")]


def needs_of(services: Iterable[str]) -> dict[str, NatsNeeds]:
    """Each named service's declared needs (a name no installed service has needs nothing)."""
    from pathways.runtime.service import find_service  # here: only the server's configuration needs the services

    out = {}
    for name in services:
        service = find_service(name)
        out[name] = service.nats if service is not None else NatsNeeds()
    return out


def permissions(organisation_id: str, role: str) -> dict[str, Any]:
    replies = [f"{inbox_prefix(organisation_id)}.>"]
    if role == "auditor":
        return {"publish": {"deny": [">"]}, "subscribe": {"allow": replies}}
    # Its commands only: its own facts arrive on its inbox (pathways.runtime.follow), asked for by nothing.
    return {"publish": {"allow": [f"{COMMANDS_ROOT}.{organisation_id}.>"]}, "subscribe": {"allow": replies}}


def service_inbox(service: str) -> str:
    return f"_INBOX.svc-{service}"


def service_permissions(service: str, needs: NatsNeeds | None = None,
                        others_consumers: Iterable[str] = ()) -> dict[str, Any]:
    """A service appends its own context's events and audit records, reads the stream and
    the token bucket, answers requests and takes its own commands. It creates nothing (the
    platform makes the stream and buckets), sends no commands, takes no other service's,
    and hears only its own inbox. What more it needs it declares (`NatsNeeds`): the bucket
    of people's keys, and consumers of fixed names that no one else may touch."""
    needs = needs or NatsNeeds()
    stream = STREAM_NAME
    publish = [
        # Its own context's facts, and audit records on its own aggregates only (accountability.written_by).
        f"pathways.evt.*.*.{service}.>", f"pathways.evt.*.*.audit.reads-{service}",
        f"pathways.evt.*.*.audit.rejections-{service}",
        "$JS.API.INFO", f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}.>", f"$JS.API.CONSUMER.INFO.{stream}.>", f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>", f"$JS.ACK.{stream}.>",
        "$JS.API.STREAM.INFO.KV_PATHWAYS_TOKENS", "$JS.API.STREAM.MSG.GET.KV_PATHWAYS_TOKENS",
        "$JS.API.DIRECT.GET.KV_PATHWAYS_TOKENS.>",
        "_INBOX.>",  # replies to whoever asked (the host answers inboxes only)
    ]
    if needs.keeps_person_keys:
        publish += ["$KV.PATHWAYS_PERSON_KEYS.>", "$JS.API.STREAM.INFO.KV_PATHWAYS_PERSON_KEYS",
                    "$JS.API.STREAM.MSG.GET.KV_PATHWAYS_PERSON_KEYS", "$JS.API.DIRECT.GET.KV_PATHWAYS_PERSON_KEYS.>",
                    # erasure overwrites the key's message on disk (pathways.jetstream.kv)
                    "$JS.API.STREAM.MSG.DELETE.KV_PATHWAYS_PERSON_KEYS"]
    # Another service's consumers of fixed names (the registry's key shredder): not this one's to touch.
    deny = _fixed_consumer_subjects(set(others_consumers) - set(needs.own_consumers))
    return {"publish": {"allow": publish, "deny": deny}, "subscribe": {"allow": [f"{COMMANDS_ROOT}.*.{service}.*",
                                                                    f"{service_inbox(service)}.>"]}}


class ServiceAccounts:
    """Each service's own NATS user (`svc-<name>`): its password, owner-only, for `pathways
    up` to hand to the service's process, and its bcrypt hash for the server."""

    def __init__(self, home: Path) -> None:
        self.path = home / SERVICES_FILE

    def load(self) -> dict[str, dict[str, str]]:
        try:
            loaded: dict[str, dict[str, str]] = json.loads(self.path.read_text())
            return loaded
        except FileNotFoundError:
            return {}

    def ensure(self, services: list[str]) -> dict[str, dict[str, str]]:
        accounts = self.load()
        for name in services:
            if name not in accounts:
                password = secrets.token_urlsafe(32)
                accounts[name] = {"password": password,
                                  "bcrypt": bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=11)).decode()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(accounts, handle, indent=2)
        return accounts


@dataclass(frozen=True)
class OrganisationAccess:
    organisation_id: str
    role: str
    password_bcrypt: str
    issued_at: str


class OrganisationRegister:
    """The organisations that may connect to NATS (owner-only JSON, hashes only)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / REGISTER_FILE

    def load(self) -> dict[str, OrganisationAccess]:
        try:
            body = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {k: OrganisationAccess(**v) for k, v in body.items()}

    def _save(self, entries: dict[str, OrganisationAccess]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({k: asdict(v) for k, v in sorted(entries.items())}, handle, indent=2)
        tmp.replace(self.path)

    def issue(self, organisation_id: str, role: str) -> str:
        """Give the organisation a new NATS password (replacing any earlier one); returns
        it, the only time it exists in plain text."""
        if not is_valid_id(organisation_id):
            raise ValueError(f"'{organisation_id}' is not a valid organisation id ([A-Za-z0-9_-]+)")
        if organisation_id == "operator":
            raise ValueError("'operator' is the platform itself; it uses the platform's own credentials")
        if organisation_id.startswith(SERVICE_USER_PREFIX):
            # Its inbox, _INBOX.<id>, would be a service's own (_INBOX.svc-<service>): it could hear its replies.
            raise ValueError(f"'{organisation_id}': ids starting '{SERVICE_USER_PREFIX}' are the platform's services'")
        if role not in ROLES or role == "operator":
            raise ValueError(f"Unknown role '{role}'; an organisation is one of "
                             f"{', '.join(r for r in ROLES if r != 'operator')}.")
        password = secrets.token_urlsafe(32)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=11)).decode()
        entries = self.load()
        entries[organisation_id] = OrganisationAccess(organisation_id, role, hashed, datetime.now(UTC).isoformat())
        self._save(entries)
        return password

    def revoke(self, organisation_id: str) -> bool:
        entries = self.load()
        if entries.pop(organisation_id, None) is None:
            return False
        self._save(entries)
        return True


def authorization_config(
    platform_user: str | None, platform_password: str | None, organisations: dict[str, OrganisationAccess],
    services: dict[str, dict[str, str]] | None = None,
) -> str:
    """The server's `authorization` block: the platform's user and one per organisation.
    Without the platform's credentials (a deployment's server reads them from its
    environment) the block names $PATHWAYS_NATS_USER and $PATHWAYS_NATS_PASSWORD."""
    services = services or {}
    needs = needs_of(services)
    fixed = {consumer for n in needs.values() for consumer in n.own_consumers}
    users = [json.dumps({"user": nats_user(org.organisation_id), "password": org.password_bcrypt,
                         "permissions": permissions(org.organisation_id, org.role)}) for org in organisations.values()]
    users += [json.dumps({"user": SERVICE_USER_PREFIX + name, "password": account["bcrypt"],
                          "permissions": service_permissions(name, needs[name], fixed)})
              for name, account in sorted(services.items())]
    if platform_user is not None and platform_password is not None:
        # Like every other user, only its hash is in the server's configuration.
        hashed = bcrypt.hashpw(platform_password.encode(), bcrypt.gensalt(rounds=11)).decode()
        platform = json.dumps({"user": platform_user, "password": hashed})
    else:
        platform = "{ user: $PATHWAYS_NATS_USER, password: $PATHWAYS_NATS_PASSWORD }"
    # JSON objects are valid NATS configuration syntax.
    return (AUTHORIZATION_HEADER + "authorization {\n  users: [\n    " + ",\n    ".join([platform, *users])
            + "\n  ]\n}\n")


def write_authorization(home: Path, platform_user: str | None, platform_password: str | None) -> Path:
    """(Re)write the authorization file the server's config includes; owner-only."""
    path = home / AUTHORIZATION_FILE
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(authorization_config(platform_user, platform_password, OrganisationRegister(home).load(),
                                          ServiceAccounts(home).load()))
    tmp.replace(path)
    return path

"""Who is calling over HTTP: per-organisation bearer tokens with a role.

Tokens live in the JetStream key-value bucket PATHWAYS_TOKENS, keyed by the SHA-256 of the
token, so every service sees an issue or a revocation at once without a restart, and the
bucket never holds a usable token. A plain SHA-256 is enough here (not a slow password
hash): a token is 256 random bits, so there is nothing to guess from its hash.

Services look tokens up per request; a browser sends the same token in an HttpOnly cookie
set by a dashboard's login form.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue

# FastAPI's Request is Starlette's: imported from there, so that the CLI (which uses the token
# store, not the web framework) does not import all of FastAPI. FastAPI reads this annotation
# at run time to see which parameter takes the request, so it cannot be a typing-only import.
from starlette.requests import Request

from pathways.jetstream.kv import Bucket, live_values
from pathways.policy.roles import ROLES, Role

BUCKET = "PATHWAYS_TOKENS"
COOKIE = "pathways_token"
TOKEN_PREFIX = "pwt_"


@dataclass(frozen=True)
class Caller:
    organisation_id: str
    role: Role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._kv = Bucket(nc, BUCKET)

    async def _bucket(self) -> KeyValue:
        return await self._kv.open()

    async def ensure_bucket(self) -> None:
        await self._bucket()

    async def issue(self, organisation_id: str, role: str) -> str:
        """A new token for the organisation; only its hash is stored. Returned once."""
        if role not in ROLES:
            raise ValueError(f"Unknown role '{role}'; use one of {', '.join(ROLES)}.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = {"organisation_id": organisation_id, "role": role, "issued_at": datetime.now(UTC).isoformat()}
        await (await self._bucket()).put(token_hash(token), json.dumps(record).encode())
        return token

    async def caller(self, token: str) -> Caller | None:
        try:
            entry = await (await self._bucket()).get(token_hash(token))
        except nats.js.errors.KeyNotFoundError:  # also raised for a deleted (revoked) key
            return None
        record = _token_record(entry.value)
        return Caller(record["organisation_id"], record["role"]) if record is not None else None

    async def forget(self, token: str) -> None:
        """Revoke one token (a short-lived one the operator's CLI issued itself)."""
        kv = await self._bucket()
        try:
            await kv.delete(token_hash(token))
        except nats.js.errors.KeyNotFoundError:
            pass

    async def revoke(self, organisation_id: str) -> int:
        """Revoke every token of the organisation; returns how many. Takes effect on the
        next request to any service."""
        kv = await self._bucket()
        revoked = 0
        for key, record in await self._records():
            if record["organisation_id"] == organisation_id:
                await kv.delete(key)
                revoked += 1
        return revoked

    async def listing(self) -> list[dict[str, str]]:
        """Who holds tokens (organisation, role, when issued); never the tokens."""
        return [record for _, record in await self._records()]

    async def _records(self) -> list[tuple[str, dict[str, str]]]:
        # Every sequence of the bucket's stream, not nats-py's `keys()`: that lists through a
        # watcher which can end before it has seen every key when the server is slow, and a
        # revocation that missed a token would leave the organisation signed in.
        await self._bucket()  # made if it is not there yet
        found = []
        for key, value in (await live_values(self._nc.jetstream(), self._kv)).items():
            record = _token_record(value)
            if record is not None:
                found.append((key, record))
        return found


def _token_record(value: bytes | None) -> dict[str, Any] | None:
    """A token's record, or None for anything else found in the bucket: a request's answer
    can be made to land on `$KV.PATHWAYS_TOKENS.<key>` (its reply subject names it), and such
    an entry must sign no one in and break no listing."""
    try:
        record = json.loads(value or b"")
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("organisation_id"), str) or record.get("role") not in ROLES:
        return None
    return record


def _http_error(status: int, detail: str, headers: dict[str, str] | None = None) -> Exception:
    """The HTTPException FastAPI answers with. Imported when one is raised: only a service
    serving HTTP raises one, and the CLI should not pay for importing FastAPI."""
    from fastapi import HTTPException

    return HTTPException(status, detail, headers=headers)


def header_token(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`: what a partner system sends."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def bearer_token(request: Request) -> str | None:
    """The header's token, or the dashboard's sign-in cookie: what reads accept."""
    return header_token(request) or request.cookies.get(COOKIE)


class FailedSignIns:
    """Guessing tokens is bounded, without letting a guesser lock others out.

    After `limit` failed sign-ins from one address within `window` seconds, that address is
    throttled until the window has passed (and while the guesses go on): a token from it is
    answered 429 *without being looked up*, so a guesser learns nothing from its guesses and
    costs the platform nothing for them, unless it is a token that signed in successfully
    within the last `window` seconds on this process (kept as SHA-256 digests, at most
    MAX_KNOWN). Behind `pathways up` every local user is 127.0.0.1, and behind a NAT a whole
    site shares one address: the people already signed in carry on, and only a token first
    used while its address is throttled waits the window out. Each service process counts on
    its own."""

    MAX_KNOWN = 10_000
    MAX_ADDRESSES = 10_000

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._known: OrderedDict[bytes, float] = OrderedDict()  # digest of a token that signed in -> when
        # Ordered by each address's latest failure, oldest first: forgetting is O(1) each.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        while failures and failures[0] < now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def check(self, address: str) -> None:
        now = time.monotonic()
        failures = self._recent(address, now)
        if len(failures) >= self.limit:
            wait = int(failures[0] + self.window - now) + 1
            raise _http_error(429, f"Too many failed sign-ins from this address; try again in {wait} s.",
                              headers={"Retry-After": str(wait)})

    def known(self, token: str) -> bool:
        """Did this token sign in successfully within the window?"""
        when = self._known.get(hashlib.sha256(token.encode()).digest())
        return when is not None and when >= time.monotonic() - self.window

    def succeeded(self, token: str) -> None:
        digest = hashlib.sha256(token.encode()).digest()
        self._known[digest] = time.monotonic()
        self._known.move_to_end(digest)
        while len(self._known) > self.MAX_KNOWN:
            self._known.popitem(last=False)

    def failed(self, address: str) -> None:
        now = time.monotonic()
        self._recent(address, now)
        # The last `limit` failures are all a refusal needs: a guesser cannot grow the table.
        self._failures.setdefault(address, deque(maxlen=self.limit)).append(now)
        self._failures.move_to_end(address)
        # Forget addresses whose latest failure is older than the window, then, if every
        # one left is recent, the longest quiet: the table cannot grow without end.
        while self._failures:
            oldest, failures = next(iter(self._failures.items()))
            if failures[-1] >= now - self.window and len(self._failures) <= self.MAX_ADDRESSES:
                break
            del self._failures[oldest]

    def __len__(self) -> int:
        return len(self._failures)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def check_token(request: Request, token: str | None) -> Caller | None:
    """The caller a token stands for, counting failures against the client's address."""
    address = client_address(request)
    store: TokenStore | None = getattr(request.app.state, "tokens", None)
    failures: FailedSignIns | None = getattr(request.app.state, "failed_sign_ins", None)
    if store is None or failures is None:
        raise _http_error(503, "Authentication is not available on this instance.")
    if token and not failures.known(token):
        try:
            failures.check(address)  # throttled: refused unread, unless it signed in just now
        except Exception:
            failures.failed(address)  # a guesser who keeps on stays refused
            raise
    found = await store.caller(token) if token else None
    if found is None and token:
        failures.failed(address)
    elif found is not None and token:
        failures.succeeded(token)
    return found


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller, or 401 (429 after repeated failures).
    The host puts the token store on `app.state.tokens`."""
    return await _signed_in(request, bearer_token(request))


async def _signed_in(request: Request, token: str | None) -> Caller:
    found = await check_token(request, token)
    if not token:
        raise _http_error(401, "Sign in: send 'Authorization: Bearer <token>'.", headers={"WWW-Authenticate": "Bearer"})
    if found is None:
        raise _http_error(401, "That token is not valid (unknown or revoked).", headers={"WWW-Authenticate": "Bearer"})
    return found


async def sender(organisation: str, request: Request) -> Caller:
    """FastAPI dependency for routes that send commands as `organisation` (a path or query
    parameter): the token must belong to that organisation, and auditors send nothing.

    Only the Authorization header signs a command, never the dashboard's cookie. A page on
    any other site (or another port of the same host: SameSite does not tell ports apart)
    can make a browser post a form with the cookie attached, but it cannot add a header:
    so no page can send a command as whoever is signed in to the dashboard (CSRF)."""
    token = header_token(request)
    if token is None and request.cookies.get(COOKIE):
        raise _http_error(401, "Commands are signed with 'Authorization: Bearer <token>'; the dashboard's sign-in "
                               "cookie does not send commands.", headers={"WWW-Authenticate": "Bearer"})
    who = await _signed_in(request, token)
    if who.organisation_id != organisation:
        raise _http_error(403, f"This token belongs to '{who.organisation_id}'; it cannot send commands as '{organisation}'.")
    if who.role == "auditor":
        raise _http_error(403, "An auditor reads; it does not send commands.")
    return who

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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

import nats.js.errors
from fastapi import HTTPException, Request
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

Role = Literal["commissioner", "partner", "evaluator", "auditor", "operator"]
ROLES: tuple[str, ...] = get_args(Role)
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
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._kv = await js.create_key_value(KeyValueConfig(bucket=BUCKET, history=1, storage=StorageType.FILE))
        return self._kv

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
        if not entry.value:
            return None
        record = json.loads(entry.value)
        return Caller(record["organisation_id"], record["role"])

    async def revoke(self, organisation_id: str) -> int:
        """Revoke every token of the organisation; returns how many. Takes effect on the
        next request to any service."""
        kv = await self._bucket()
        revoked = 0
        for key, record in await self._records(kv):
            if record["organisation_id"] == organisation_id:
                await kv.delete(key)
                revoked += 1
        return revoked

    async def listing(self) -> list[dict[str, str]]:
        """Who holds tokens (organisation, role, when issued); never the tokens."""
        return [record for _, record in await self._records(await self._bucket())]

    async def _records(self, kv: KeyValue) -> list[tuple[str, dict[str, str]]]:
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        found = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue
            if entry.value:
                found.append((key, json.loads(entry.value)))
        return found


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller, or 401. The host puts the token store
    on `app.state.tokens`."""
    store: TokenStore | None = getattr(request.app.state, "tokens", None)
    token = bearer_token(request)
    if store is None:
        raise HTTPException(503, "Authentication is not available on this instance.")
    if not token:
        raise HTTPException(401, "Sign in: send 'Authorization: Bearer <token>'.", headers={"WWW-Authenticate": "Bearer"})
    found = await store.caller(token)
    if found is None:
        raise HTTPException(401, "That token is not valid (unknown or revoked).", headers={"WWW-Authenticate": "Bearer"})
    return found

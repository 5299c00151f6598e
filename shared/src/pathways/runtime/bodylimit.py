"""Request bodies read no further than their route needs: 413 past the limit.

A command is at most MAX_BODY bytes (pathways.core.bodies, the nats-server's max_payload), a
register upload at most MAX_UPLOAD, anything else (a sign-in form, a kept checkpoint) at
most MAX_OTHER. A body that says its length is refused before a byte of it is read; one
sent in chunks is refused as soon as the chunks pass the limit. (Before, a 50 MiB body was
read and parsed whole.)"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathways.core.bodies import MAX_BODY

MAX_UPLOAD = 16 * 1024 * 1024  # a register of about 200,000 rows
MAX_OTHER = 64 * 1024
LIMITS = (("/commands/", MAX_BODY), ("/imports/", MAX_UPLOAD))


def limit_for(path: str) -> int:
    return next((limit for prefix, limit in LIMITS if path.startswith(prefix)), MAX_OTHER)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        # Read it here, counting: the app would read it whole anyway, and a 413 can still be sent.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, given = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal given
            if given:
                return await receive()  # a disconnect, once the app waits for one
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    detail = json.dumps({"detail": f"The request body is larger than the {limit:,} bytes this route reads."}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(detail)).encode())]})
    await send({"type": "http.response.body", "body": detail})

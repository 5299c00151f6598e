"""Security headers on every response of every service (API, dashboard, report).

- `Content-Security-Policy`: pages load nothing from anywhere but the service, run no
  script (charts are inline SVG, drawn on the server), submit forms only to the service,
  and may not be framed by another site (`frame-ancestors 'none'`, and `X-Frame-Options`
  for browsers that know only that). Styles may be inline: the dashboard's stylesheet and
  pygal's SVG carry theirs. FastAPI's /docs page is the exception: Swagger UI is a script
  and its files come from a CDN, so that page alone may load them.
- `X-Content-Type-Options: nosniff`: a CSV export or a JSON reply is never read as HTML.
- `Referrer-Policy: no-referrer`: a programme id in a URL does not leave with a link.
- `Cache-Control: no-store`: answers hold people's records (pseudonymous or not); no
  browser or proxy keeps a copy.

A pure ASGI middleware: it adds a few headers to the start of each response and costs no
more than that (Starlette's BaseHTTPMiddleware would wrap every body in a stream)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
         "frame-ancestors 'none'; base-uri 'none'")
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS = (f"default-src 'none'; script-src 'self' 'unsafe-inline' {DOCS_CDN}; style-src 'self' 'unsafe-inline' {DOCS_CDN}; "
        "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
DOCS_PATHS = ("/docs", "/redoc")

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = (DOCS if path.startswith(DOCS_PATHS) else PAGES).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in COMMON if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

"""`POST /commands/{organisation}/{Command}`: the same command intake as NATS request-reply,
over HTTP, documented so a partner can try it from /docs.

- One route per command the service takes, its request body the command's envelope with
  the command's own `data` schema, and `/commands/{organisation}/batch`. Only a service
  that takes commands has them (reporting and audit have none).
- Replies as documented models: 200 `Accepted`, 422 `Rejected` (refused: the code says
  why), 503 `Rejected` (`unavailable`: send it again), 401/403 for who may send, 413 past
  the body limit, 415 for a body that is not JSON.
- The body is documented, not parsed by FastAPI: the intake decodes it itself, within its
  limits, and records every refusal for the auditors (pathways.core.bodies, pathways.core.intake).
- Signed by the Authorization header only (pathways.policy.access.sender: never the dashboard's
  cookie), which the `HTTPBearer` scheme puts behind the Authorize button."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema

from pathways.core.batch_wire import BATCH
from pathways.core.commands import CommandEnvelope, CommandHandler
from pathways.core.intake import CommandIntake
from pathways.core.replies import Accepted, Rejected, RejectionCode, reject
from pathways.jetstream.batch import BatchReply, handle_batch
from pathways.policy.access import Caller, sender
from pathways.policy.http import command_intake
from pathways.policy.roles import refusal_to_send, refusals_for

BEARER = HTTPBearer(auto_error=False, scheme_name="token",
                    description="A token from `pathways tokens issue ORG --role ...` (or `pathways org add`).")

REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or one that is not valid"},
    403: {"description": "The token's organisation is not the one named in the path, or an auditor's"},
    413: {"description": "The body is larger than the platform reads (1 MiB)"},
    415: {"description": "The body is not sent as application/json"},
    422: {"model": Rejected, "description": "Refused: invalid, forbidden, not_found, conflict or rule_violation"},
    503: {"model": Rejected, "description": "unavailable: nothing was recorded; send it again with the same key"},
}


def _json_only(request: Request) -> None:
    # A browser sends a cross-site form as text/plain, urlencoded or multipart without
    # asking first; it must ask before sending application/json (CSRF).
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "A command is JSON: send it with 'Content-Type: application/json'.")


async def _send(command: str, organisation: str, request: Request, intake: CommandIntake, who: Caller) -> Response:
    _json_only(request)
    await _may_send(who, organisation, command, intake, await request.body())
    reply = await intake.handle(organisation, command, await request.body())
    status = 200 if reply.status == "accepted" else 503 if reply.code == "unavailable" else 422
    return Response(reply.model_dump_json(), status_code=status, media_type="application/json")


async def _may_send(who: Caller, organisation: str, command: str, intake: CommandIntake, raw: bytes) -> None:
    """403 for a token whose role does not send this command (pathways.policy.roles), the
    refusal recorded for the auditors as the batch route records it."""
    handler = intake.handlers.get(command)
    why = refusal_to_send(who.role, command, handler.model.sent_with_role) if handler is not None else None
    if why is not None:
        await intake.refused(organisation, command, raw, reject(RejectionCode.FORBIDDEN, why).reply())
        raise HTTPException(403, why)


async def send_batch(organisation: str, request: Request, who: Caller = Depends(sender),
                     intake: CommandIntake = Depends(command_intake)) -> Response:
    """Up to 500 commands in one request, each answered in order as if sent alone
    (`{"commands": [{"command": "EnrolParticipant", ...envelope...}, ...]}`)."""
    _json_only(request)
    batch = await handle_batch(intake, organisation, await request.body(),
                               refusal=refusals_for(who.role))
    status = 200 if isinstance(batch, BatchReply) else 422
    return Response(batch.model_dump_json(), status_code=status, media_type="application/json")


def _route_for(command: str, doc: str) -> Any:
    async def send(organisation: str, request: Request, who: Caller = Depends(sender),
                   intake: CommandIntake = Depends(command_intake)) -> Response:
        return await _send(command, organisation, request, intake, who)

    send.__doc__ = doc
    return send


def _body_schemas(handlers: Mapping[str, CommandHandler[Any, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each command's body as a `$ref` into the document's components, and those components:
    every model a body is made of (the envelope, the command, a nested PersonalDetails), named
    once for the whole service. A `$defs` inside a request body, pydantic's default, is
    not resolvable from where OpenAPI puts it: a client generator or schemathesis skips it."""
    envelopes: dict[str, type[BaseModel]] = {
        name: create_model(f"{name}Envelope", __base__=CommandEnvelope, data=(handler.model, ...))
        for name, handler in handlers.items()}
    refs, definitions = models_json_schema([(e, "validation") for e in envelopes.values()],
                                           ref_template="#/components/schemas/{model}")
    return {name: refs[(e, "validation")] for name, e in envelopes.items()}, definitions.get("$defs", {})


def _with_components(app: FastAPI, schemas: dict[str, Any]) -> None:
    """`app.openapi()` with these schemas among its components (FastAPI knows only the
    models of its own parameters and responses)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components = generate().setdefault("components", {}).setdefault("schemas", {})
            for name, schema in schemas.items():
                if components.setdefault(name, schema) != schema:
                    raise RuntimeError(f"two different schemas are both called {name!r} in the OpenAPI document")
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document


def add_command_routes(app: FastAPI, handlers: Mapping[str, CommandHandler[Any, Any]]) -> None:
    """The routes of a service that takes these commands (none if it takes none), their
    bodies documented in the app's components."""
    if not handlers:
        return
    bodies, components = _body_schemas(handlers)
    router = APIRouter(prefix="/commands", tags=["commands"], dependencies=[Security(BEARER)])
    for name, handler in sorted(handlers.items()):
        send = _route_for(name, (handler.model.__doc__ or name).strip())
        router.add_api_route(
            f"/{{organisation}}/{name}", send, methods=["POST"], name=name, summary=name, response_model=Accepted,
            responses=REFUSALS, openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": bodies[name]}}}})
    router.add_api_route(f"/{{organisation}}/{BATCH}", send_batch, methods=["POST"], name=BATCH, summary="A batch of commands",
                         response_model=BatchReply, responses=REFUSALS)
    # Any other name: refused by the intake as over NATS (422 `invalid`, naming the commands
    # there are) and recorded for the auditors, not a bare 404.
    router.add_api_route("/{organisation}/{command}", send_unknown, methods=["POST"], include_in_schema=False)
    app.include_router(router)
    _with_components(app, components)


async def send_unknown(organisation: str, command: str, request: Request, who: Caller = Depends(sender),
                       intake: CommandIntake = Depends(command_intake)) -> Response:
    return await _send(command, organisation, request, intake, who)

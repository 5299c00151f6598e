"""What every service's HTTP routes share: a session on its read models, its command
intake, and refusals in the shapes its OpenAPI documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request
from sqlmodel import Session

from pathways.core.intake import CommandIntake


def unprocessable(message: str, *where: str) -> HTTPException:
    """A 422 shaped as FastAPI documents every 422 (`HTTPValidationError`: a list of
    problems, each with where, what and a type), so a client reads one shape whichever
    check refused the request."""
    return HTTPException(422, [{"loc": list(where), "msg": message, "type": "value_error"}])


# What a read route of a service can answer besides its result (and FastAPI's own 422).
READ_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token (Authorization: Bearer, or the dashboard's cookie), or one that is not valid"},
    403: {"description": "The caller's role may not read this, or a partner asked for another partner's rows"},
    404: {"description": "No such programme (or record) that the caller can see"},
}


def db_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a session on the read models of the service serving the request
    (the engine its host put on the app: runtime/host.py)."""
    with Session(request.app.state.engine) as session:
        yield session


def command_intake(request: Request) -> CommandIntake:
    """FastAPI dependency: the service's command intake, for endpoints that turn an
    upload into commands."""
    intake: CommandIntake | None = getattr(request.app.state, "intake", None)
    if intake is None:
        raise HTTPException(503, "This instance does not accept commands (it runs projections only).")
    return intake

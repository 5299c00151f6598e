"""The roles a signed-in organisation acts in: its own module, so the CLI's help texts can
name them without importing the token store and the web framework behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

# A safeguarding lead's token reads the safeguarding concerns of the programmes its organisation
# leads on, and nothing else: the commissioner's everyday token never opens a concern.
Role = Literal["commissioner", "partner", "evaluator", "auditor", "operator", "safeguarding_lead"]
ROLES: tuple[str, ...] = get_args(Role)

# Roles whose tokens send only the commands made for them (`CommandData.sent_with_role`):
# a safeguarding lead's token records a lead's work and nothing else.
OWN_COMMANDS_ONLY = ("safeguarding_lead",)


def refusal_to_send(role: str, command: str, sent_with_role: str | None) -> str | None:
    """Why a token of `role` may not send `command` over HTTP, or None if it may. Over NATS an
    organisation has one user and no roles: there its rules decide (a lead's commands check
    that the sender leads on the programme)."""
    if sent_with_role is not None and role != sent_with_role:
        return f"{command} is sent with a token for the {sent_with_role} role, not the {role} role."
    if sent_with_role is None and role in OWN_COMMANDS_ONLY:
        return f"A token for the {role} role sends only that role's commands; {command} is not one."
    return None


def refusals_for(role: str) -> Callable[[str, Any], str | None]:
    """`refusal_to_send` for a token of `role`, as a command batch asks it (name, model)."""
    return lambda command, model: refusal_to_send(role, command, model.sent_with_role)

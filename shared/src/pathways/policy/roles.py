"""The roles a signed-in organisation acts in: its own module, so the CLI's help texts can
name them without importing the token store and the web framework behind it."""

from __future__ import annotations

from typing import Literal, get_args

# A safeguarding lead's token reads the safeguarding concerns of the programmes its organisation
# leads on, and nothing else: the commissioner's everyday token never opens a concern.
Role = Literal["commissioner", "partner", "evaluator", "auditor", "operator", "safeguarding_lead"]
ROLES: tuple[str, ...] = get_args(Role)

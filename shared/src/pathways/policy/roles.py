"""The roles a signed-in organisation acts in: its own module, so the CLI's help texts can
name them without importing the token store and the web framework behind it."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["commissioner", "partner", "evaluator", "auditor", "operator"]
ROLES: tuple[str, ...] = get_args(Role)

"""Commands imported when they are named, not before.

Every `pathways` command is a process of its own, and importing a service (FastAPI,
SQLAlchemy, faststream and the service's domain behind it) takes seconds. So the group
knows its commands by where they live (`module:attribute`), and imports one only when it
is run or when a help text lists it. Services announce their commands as entry points in
the `pathways.commands` group of their pyproject, which is read from the installed
metadata without importing the service."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

COMMANDS_GROUP = "pathways.commands"

# The kernel's own command groups that import more than the CLI needs to start.
KERNEL_LAZY = {
    "tokens": "pathways.runtime.cli.tokens:tokens_cli",
    "org": "pathways.runtime.cli.org:org_cli",
}


def service_commands() -> dict[str, str]:
    """`pathways <name>` → where its Typer app lives, for every installed service."""
    return {ep.name: ep.value for ep in entry_points(group=COMMANDS_GROUP)}


class LazyGroup(TyperGroup):
    """A Typer group some of whose subcommands are imported on first use."""

    lazy: ClassVar[dict[str, str]] = {}  # set by `main` before the app runs

    def list_commands(self, ctx: Any) -> list[str]:
        eager = super().list_commands(ctx)
        return eager + sorted(name for name in self.lazy if name not in eager)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        # A group even when the app has one command, as `add_typer` mounts it: `pathways payments run-csv`.
        command = typer.main.get_group(load(self.lazy[cmd_name]))
        command.name = cmd_name
        self.add_command(command, cmd_name)
        return command


def load(where: str) -> typer.Typer:
    module, _, attribute = where.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    if not isinstance(found, typer.Typer):
        raise TypeError(f"{where} is not a Typer app")
    return found

"""The CLI starts fast because it imports only what the command named needs (issue 13,
part 6). Proven by counting what a real `pathways` process imported, not by timing it:
a kernel command loads no service and none of the heavy frameworks; a service's command
loads that service's CLI and nothing of the other services. Every command has a help text."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

# What a command that does not serve, project or query must not pay for at start.
HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "faststream", "opentelemetry.sdk", "nats", "httpx", "scipy")
SERVICES = ("pathways_registry", "pathways_sessions", "pathways_payments", "pathways_evaluation", "pathways_reporting",
            "pathways_audit", "pathways_demo")

PROBE = """
import json, sys
sys.argv = ["pathways", *json.loads(sys.argv[1])]
from pathways.runtime.cli.main import main
try:
    main()
except SystemExit as done:
    code = done.code or 0
sys.stdout.flush()
print("\\n@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported_by(*argv: str) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True, timeout=60)
    help_text, _, found = done.stdout.rpartition("\n@@")
    assert found, done.stderr
    record = json.loads(found)
    return record["code"], set(record["modules"]), help_text


def roots(modules: set[str], names: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == n or m.startswith(n + ".") for n in names)}


@pytest.mark.parametrize("argv", [("status", "--help"), ("tokens", "--help"), ("tokens", "issue", "--help"),
                                  ("org", "--help"), ("schemas", "--help"), ("rebuild", "--help"), ("serve", "--help")])
def test_a_kernel_command_imports_no_service_and_no_heavy_framework(argv: tuple[str, ...]) -> None:
    code, modules, help_text = imported_by(*argv)
    assert code == 0
    assert "Usage" in help_text
    assert roots(modules, SERVICES) == set()
    assert roots(modules, HEAVY) == set()


@pytest.mark.parametrize(("command", "service", "sub"), [
    ("audit", "pathways_audit", "verify"), ("programme", "pathways_registry", "show"),
    ("payments", "pathways_payments", "run-csv"), ("import", "pathways_sessions", "attendance"),
    ("demo", "pathways_demo", None)])
def test_a_service_command_imports_its_own_cli_only(command: str, service: str, sub: str | None) -> None:
    code, modules, help_text = imported_by(command, "--help")
    assert code == 0
    assert "Usage" in help_text
    if sub is not None:  # mounted as a group even when it has one command, as `add_typer` did
        assert f" {sub} " in help_text
    assert roots(modules, SERVICES) <= roots(modules, (service,))
    assert f"{service}.app" not in modules  # the service itself (its handlers, API and projections) is not loaded
    assert roots(modules, ("sqlalchemy", "fastapi", "faststream", "scipy")) == set()


def test_the_top_level_help_lists_every_command_of_the_kernel_and_the_services() -> None:
    code, _, help_text = imported_by("--help")
    assert code == 0
    for name in ("up", "serve", "status", "schemas", "rebuild", "tokens", "org", "audit", "programme", "payments",
                 "import", "demo"):
        assert f" {name} " in help_text, name


def test_an_unknown_command_says_so() -> None:
    code, modules, _ = imported_by("no-such-command")
    assert code == 2
    assert roots(modules, SERVICES) == set()


def test_every_command_and_option_has_a_help_text() -> None:
    from pathways.runtime.cli.lazy import KERNEL_LAZY, LazyGroup, service_commands
    from pathways.runtime.cli.main import app

    LazyGroup.lazy = KERNEL_LAZY | service_commands()
    root = typer.main.get_command(app)
    missing: list[str] = []

    def walk(command: object, path: str) -> None:
        ctx = typer.Context(command)  # type: ignore[arg-type]
        if not (getattr(command, "help", None) or getattr(command, "short_help", None)):
            missing.append(path)
        for param in getattr(command, "params", []):
            if isinstance(param, typer.core.TyperOption) and not param.help and param.name != "help":
                missing.append(f"{path} --{param.name}")
            if isinstance(param, typer.core.TyperArgument) and not param.help:
                missing.append(f"{path} <{param.name}>")
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), f"{path} {name}")

    walk(root, "pathways")
    assert missing == []

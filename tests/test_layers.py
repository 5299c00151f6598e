"""A service's domain (its commands, events, state and pure decide functions) imports no
database, NATS, cryptography or web code: the rules can be read, tested and replayed on
their own, and a change to the platform's plumbing cannot reach them. Each service is
imported in a fresh interpreter, so nothing another test loaded counts."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("nats", "sqlalchemy", "sqlmodel", "cryptography", "fastapi", "faststream", "starlette", "uvicorn")

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [m.name for m in pkgutil.iter_modules(package.__path__)]
for name in names:
    importlib.import_module(f"{sys.argv[1]}.{name}")
print(json.dumps({"modules": names, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


@pytest.mark.parametrize("service", ["registry", "sessions", "payments", "evaluation"])
def test_a_domain_imports_no_database_nats_cryptography_or_web_code(service: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, f"pathways_{service}.domain"], capture_output=True, text=True,
                          timeout=60, check=True)
    found = json.loads(done.stdout)
    assert {"commands", "events", "decide"} <= set(found["modules"]), found["modules"]
    assert not set(FORBIDDEN) & set(found["loaded"]), sorted(set(FORBIDDEN) & set(found["loaded"]))


def test_every_projection_handles_only_event_types_that_exist_and_every_emitted_event_has_a_schema() -> None:
    """A handler keyed by a misspelt type would never run; an event class a service can
    emit without a schema would fail at its first append. Both are caught here, not in
    production."""
    import inspect

    from pathways.core.schemas import EventData
    from pathways.policy.accountability import AUDIT_SCHEMAS
    from pathways.runtime.service import all_schemas, discover

    services = discover()
    known = set(all_schemas(services).events) | set(AUDIT_SCHEMAS.events)
    for service in services.values():
        for projection in service.all_projections:
            unknown = set(projection.by_type) - known
            assert not unknown, (service.name, projection.name, sorted(unknown))
        domain = __import__(f"pathways_{service.name}.domain.events", fromlist=["events"]) if service.handlers else None
        if domain is None:
            continue
        emitted = [cls for _, cls in inspect.getmembers(domain, inspect.isclass)
                   if issubclass(cls, EventData) and cls is not EventData and cls.__module__ == domain.__name__]
        assert emitted, service.name
        for cls in emitted:
            assert f"pathways.{service.name}.{cls.__name__}" in service.schemas.events, (service.name, cls.__name__)


def test_every_rule_is_given_the_facts_class_its_handler_declares_and_the_reads_fill_its_fields() -> None:
    """Typed reads: a rule names its facts by attribute, and the handler says which dataclass
    they come in. A rule annotated with one class while its handler builds another (or the
    default NoFacts) would fail at its first command; so would a read loaded under a name the
    dataclass has no field for. Consultations are checked when they run (facts_of names the
    mismatch) and every consulting command runs in its service's tests."""
    import dataclasses
    import inspect
    import typing
    from datetime import datetime

    from pathways.core.commands import CommandContext
    from pathways.runtime.service import discover

    class AnyField:
        """A command whose every field is the same made-up id: enough to name what is read."""

        def __getattr__(self, name: str) -> str:
            return "made-up-id"

    ctx = CommandContext("made-up-org", "someone", "test", datetime(2026, 1, 1))
    checked = 0
    for service in discover().values():
        for name, handler in service.handlers.items():
            hints = typing.get_type_hints(handler.decide)
            facts_param = list(inspect.signature(handler.decide).parameters)[3]
            assert hints[facts_param] is handler.facts, (service.name, name, hints[facts_param], handler.facts)
            params = getattr(handler.facts, "__dataclass_params__", None)
            assert params is not None and params.frozen, (service.name, name, "facts must be a frozen dataclass")
            fields = {f.name for f in dataclasses.fields(handler.facts)}
            read = set(handler.reads(AnyField(), ctx)) if handler.reads else set()  # type: ignore[arg-type]
            assert read <= fields, (service.name, name, sorted(read - fields))
            if handler.consults is None:
                assert read == fields, (service.name, name, "nothing fills", sorted(fields - read))
            checked += 1
    assert checked >= 30, checked



# The kernel's layers, lowest first: a module may import the kernel only from its own layer
# or those below it (pathways.testing, the test support, sits on top of them all).
LAYERS = ("core", "jetstream", "policy", "runtime", "testing")
KERNEL = Path(__file__).resolve().parents[1] / "shared" / "src" / "pathways"


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else 0  # `pathways` itself: its version


def _kernel_imports(path: Path) -> set[str]:
    """Every `pathways.…` module a kernel file imports, at the top or inside a function
    (an import deferred for speed is still a dependency)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "pathways" else [f"pathways.{a.name}" for a in node.names]
            found.update(n for n in names if n == "pathways" or n.startswith("pathways."))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pathways."))
    return found


def test_each_kernel_layer_imports_only_the_layers_below_it() -> None:
    """core ← jetstream (the NATS adapter) ← policy ← runtime. A rule that moved policy
    into the core, or made the core reach for NATS, fails here with the line to undo."""
    modules = sorted(KERNEL.rglob("*.py"))
    assert len(modules) > 60, len(modules)
    upward = []
    for path in modules:
        parts = path.relative_to(KERNEL.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module != "pathways":
            assert module.split(".")[1] in LAYERS, f"{module} is in no layer"
        upward += [(module, imported) for imported in sorted(_kernel_imports(path)) if _layer(imported) > _layer(module)]
    assert not upward, upward


def test_the_core_loads_no_nats_cryptography_web_framework_or_layer_above_it() -> None:
    """Every module of `pathways.core`, imported in a fresh interpreter: what it brings with
    it is what a service's rules, a test or a replay tool pays for the core."""
    probe = PROBE.replace('print(json.dumps({"modules": names, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))',
                          'print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))')
    done = subprocess.run([sys.executable, "-c", probe, "pathways.core"], capture_output=True, text=True, timeout=60,
                          check=True)
    found = json.loads(done.stdout)
    assert {"commands", "intake", "projection", "schemas", "envelope", "views"} <= set(found["modules"]), found["modules"]
    loaded = set(found["loaded"])
    heavy = sorted({m.split(".")[0] for m in loaded} & (set(FORBIDDEN) - {"sqlalchemy", "sqlmodel"}))
    assert not heavy, heavy  # read models are the core's (projections, tracking): SQL is allowed there
    above = sorted(m for m in loaded if m.startswith(("pathways.jetstream", "pathways.policy", "pathways.runtime")))
    assert not above, above


def test_the_kernel_names_no_service() -> None:
    """Services declare what they need (commands, NATS permissions, consumers) and the
    kernel finds them by entry point; a kernel that sent to "registry" by name would break
    the day the registry's commands moved. The programme directory is the one exception by
    design: it follows the registry's published event types (pathways.policy.directory)."""
    from pathways.runtime.service import discover

    names = set(discover())
    assert {"registry", "sessions", "payments", "evaluation"} <= names, names
    # AUDIT_CONTEXT is the context of the audit trail the kernel keeps (refusals, reads);
    # the audit service takes its name from it, not the other way round.
    kept = {"AUDIT_CONTEXT"}
    named = []
    for path in sorted(KERNEL.rglob("*.py")):
        tree = ast.parse(path.read_text())
        exempt = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and any(isinstance(target, ast.Name) and target.id in kept for target in node.targets)}
        if path.relative_to(KERNEL).as_posix() == "policy/consent.py":
            continue  # "evaluation" there is a purpose a person consents to (the use of their data), not the service
        named += [(str(path.relative_to(KERNEL)), node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names and id(node) not in exempt]
    assert not named, named

"""A service's domain (its commands, events, state and pure decide functions) imports no
database, NATS, cryptography or web code: the rules can be read, tested and replayed on
their own, and a change to the platform's plumbing cannot reach them. Each service is
imported in a fresh interpreter, so nothing another test loaded counts."""

from __future__ import annotations

import json
import subprocess
import sys

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

    from pathways.accountability import AUDIT_SCHEMAS
    from pathways.schemas import EventData
    from pathways.service import all_schemas, discover

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

    from pathways.commands import CommandContext
    from pathways.service import discover

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


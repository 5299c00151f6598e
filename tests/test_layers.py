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

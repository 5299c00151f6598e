"""`make bench` at a tiny scale: every row of the table is still produced, the JSON is
written, no part fails, and no process of the run is left behind. (The figures at this
scale mean nothing; that the code behind each of them still runs is what is checked.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.mark.timeout(600)
def test_the_bench_at_a_tiny_scale_produces_every_row_and_leaves_nothing_running(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = os.environ | {"BENCH_SCALE": "0.001", "BENCH_OUT": str(out), "TMPDIR": str(tmp_path)}
    env.pop("PATHWAYS_NATS_URL", None)
    run = subprocess.run([sys.executable, "run.py"], cwd=BENCH, env=env, capture_output=True, text=True, timeout=580)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["failures"] == {}, record["failures"]
    produced = {r["kind"] for r in record["results"]}
    assert set(record["expected_kinds"]) <= produced, sorted(set(record["expected_kinds"]) - produced)
    assert record["sync_interval"] == "always" and record["machine"]["cpus"] == os.cpu_count()
    assert any("target >= 3" in k for k in record["ratios"]) and any("target >= 0.70" in k for k in record["ratios"])
    assert run.returncode == 0, run.stderr[-3000:]
    assert processes_mentioning(str(tmp_path)) == []

"""How long a `pathways` command takes before it does anything: process wall time of
`--help` for the kernel commands (target < 0.5 s) and a service command (< 1 s), the
median of a few runs each.

A Python without compiled bytecode recompiles every module it imports at each start (this
machine sets PYTHONDONTWRITEBYTECODE, so nothing is cached on first use), which is why
`make setup` compiles the environment once; the row says whether it found bytecode."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import SCALE, Result, console

KERNEL = ("status", "tokens", "org", "schemas")
SERVICE = ("audit",)
TARGET_S = {"kernel": 0.5, "service": 1.0}


def _pathways() -> Path:
    return Path(sys.executable).with_name("pathways")


def _wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def cli_start() -> list[Result]:
    runs = 3 if SCALE < 0.5 else 7
    compiled = any(Path(__file__).parents[1].joinpath("shared", "src", "pathways", "cli").glob("__pycache__/*.pyc"))
    out = []
    for group, commands in (("kernel", KERNEL), ("service", SERVICE)):
        for command in commands:
            walls = [_wall([str(_pathways()), command, "--help"]) for _ in range(runs)]
            median = statistics.median(walls)
            console.print(f"  pathways {command} --help: {median * 1000:.0f} ms (median of {runs})")
            out.append(Result(f"CLI start: pathways {command} --help", 1, median,
                              {"wall_ms": round(median * 1000, 1), "target_ms": TARGET_S[group] * 1000,
                               "group": group, "bytecode": compiled}, kind=f"cli {group}"))
    return out


def cli_ratios(by_name: dict[str, Result]) -> dict[str, float]:
    out = {}
    for group, target in TARGET_S.items():
        walls = [r.seconds for r in by_name.values() if r.kind == f"cli {group}"]
        if walls:
            out[f"slowest {group} command start, s (target < {target})"] = max(walls)
    return out

"""`make bench`: every figure of DESIGN §5 beside its yardstick, measured in one run.

- the command path through the whole platform as `pathways up` runs it (every service and
  projection live), 1 / 10 / 50 clients, against raw `js.publish` of the same bytes on the
  same server and against the `eventsourcing` peer; paced at 1,000/s; a command that
  consults a view; one command against an aggregate holding 10 to 100 k events;
- the bulk paths: a register import against a raw atomic batch, and the demo load;
- the registry alone (`serve registry --only intake`) and faststream's own costs, per
  request and per event read by a durable consumer;
- the reporting read model rebuilt from 1 M events against a raw replay, and its
  dashboard queries; the audit ledger's verify rate.

Every NATS figure is taken with `sync_interval: always` (an acknowledged event is on disk).
A part that fails is reported and the others still run; the JSON (bench/results/, or
BENCH_OUT) is always written, with the failures in it. Sizes scale with BENCH_SCALE
(`BENCH_SCALE=0.1 make bench` is a quick run; below 0.01 every part runs in seconds, which
is what CI does so no part can rot)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bulk import bulk, bulk_ratios
from cli import cli_ratios, cli_start
from commands import HISTORY_SIZES, registry_alone, whole_platform
from common import SCALE, TINY, Result, console, embedded_nats, print_ratios, print_results, write_record
from consumers import consumer_costs, consumer_ratios
from framework import framework_costs
from ledger import ledger_benchmark, ledger_ratios
from live import running_platform
from peer import eventsourcing_peer
from reporting import reporting_ratios, reporting_rebuild_and_queries

# What every run must produce, whatever its scale (CI checks each is there).
EXPECTED_KINDS = (
    "peer one", "peer batch", "raw publish 1", "raw publish 10", "raw publish 50", "raw batch",
    "command path 1", "command path 10", "command path 50", "paced", "consulting",
    *(f"history {i}" for i in range(len(HISTORY_SIZES))),
    "register import", "import ratio", "demo load", "registry alone",
    "framework faststream-default", "framework faststream-handoff", "framework faststream-typed",
    "consumer pathways-pull", "consumer faststream-batch", "consumer faststream-each",
    "consumer nats-py", "reporting load", "reporting replay", "reporting rebuild", "dashboard query",
    "dashboard page",
    "ledger", "cli kernel", "cli service",
)


def reporting_kind(name: str) -> str:
    if name.startswith("query: dashboard page"):
        return "dashboard page"
    if name.startswith("query: "):
        return "dashboard query"
    if name.startswith("raw: whole-stream read"):
        return "reporting replay"
    if name.startswith("reporting: rebuild"):
        return "reporting rebuild"
    return "reporting load" if name.startswith("reporting: load") else "reporting decode"


class Run:
    """The parts of one run: each one's results, or why it failed."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.failures: dict[str, str] = {}
        self.version = ""

    async def part(self, name: str, measure: Callable[[], Awaitable[list[Result]]]) -> None:
        console.rule(f"[bold]{name}")
        t = time.perf_counter()
        try:
            self.results += await measure()
        except Exception as err:  # one broken part must not cost the others their figures
            self.failures[name] = f"{type(err).__name__}: {err}"
            console.print(f"[red]{name} failed[/red]: {self.failures[name]}")
            traceback.print_exc()
        console.print(f"  ({time.perf_counter() - t:.0f} s)")

    def ratios(self) -> dict[str, float]:
        by_kind = {r.kind: r for r in self.results if r.kind}
        by_name = {r.name: r for r in self.results}
        out: dict[str, float] = {}

        def ratio(label: str, over: str, under: str, field: str = "rate") -> None:
            if over in by_kind and under in by_kind:
                a, b = by_kind[over], by_kind[under]
                over_value, under_value = (a.rate, b.rate) if field == "rate" else (float(a.extra[field]), float(b.extra[field]))
                if under_value:  # at a tiny scale a CPU figure can be below the clock's tick: no ratio then
                    out[label] = over_value / under_value

        ratio("command path, whole platform, 50 clients / eventsourcing peer one-event-per-save (target >= 3)",
              "command path 50", "peer one")
        for clients in (1, 10, 50):
            ratio(f"command path / raw js.publish of the same bytes, {clients} in flight",
                  f"command path {clients}", f"raw publish {clients}")
        ratio("raw atomic batch / peer batch save", "raw batch", "peer batch")
        ratio("registry alone / whole platform, 50 clients", "registry alone", "command path 50")
        ratio("framework CPU per request: a typed faststream subscriber per command / the services' hand-off",
              "framework faststream-typed", "framework faststream-handoff", "responder_cpu_us_per_request")
        if "paced" in by_kind:
            out["paced at 1,000/s offered: p99 ms (target < 20)"] = by_kind["paced"].extra["p99_ms"]
        last = f"history {len(HISTORY_SIZES) - 1}"
        ratio(f"command p50 with {HISTORY_SIZES[-1]:,} events in its history / with {HISTORY_SIZES[0]} (target: flat, 1.0)",
              last, "history 0", "p50_ms")
        out |= consumer_ratios([r for r in self.results if r.kind.startswith("consumer ")])
        for section in (bulk_ratios, reporting_ratios, ledger_ratios, cli_ratios):
            try:
                out |= section(by_name)
            except (KeyError, ValueError):
                pass  # its part failed: reported under failures
        return out


async def main() -> Path:
    load_before = os.getloadavg()
    console.print(f"{os.cpu_count()} cores, load average {load_before[0]:.2f}; every NATS figure with "
                  f"sync_interval: always; scale {SCALE}{' (tiny: only that every row is produced)' if TINY else ''}")
    run = Run()
    with tempfile.TemporaryDirectory(prefix="pathways-bench-") as tmp:
        home = Path(tmp)
        await run.part("CLI start", lambda: asyncio.to_thread(cli_start))
        await run.part("peer: eventsourcing on SQLite", lambda: asyncio.to_thread(eventsourcing_peer, home))

        async def platform_parts() -> list[Result]:
            with running_platform(home / "platform") as platform:
                out = await whole_platform(platform)
                try:
                    out += await bulk(platform)
                except Exception as err:
                    run.failures["bulk paths"] = f"{type(err).__name__}: {err}"
                    traceback.print_exc()
                return out

        await run.part("whole platform (pathways up): command path, history, bulk", platform_parts)
        with embedded_nats(home / "own") as (conn, version):
            run.version = version
            await run.part("registry alone (serve registry --only intake)",
                           lambda: _one(registry_alone(conn, home / "alone")))
            await run.part("faststream's own costs per request", lambda: framework_costs(conn))

            async def reporting() -> list[Result]:
                out = await reporting_rebuild_and_queries(conn, home)
                for r in out:
                    r.kind = reporting_kind(r.name)
                return out

            await run.part("reporting: rebuild and dashboard", reporting)

        with embedded_nats(home / "consumers") as (conn, _):  # a stream of its own, with nothing else on it
            await run.part("durable consumers: the runner's pull, faststream's and nats-py's",
                           lambda: consumer_costs(conn))

        async def ledger() -> list[Result]:
            results, _ = await ledger_benchmark(home)
            for r in results:
                r.kind = "ledger"
            return results

        await run.part("audit ledger", ledger)
    print_results(run.results)
    ratios = run.ratios()
    print_ratios(ratios)
    produced = {r.kind for r in run.results}
    missing = [k for k in EXPECTED_KINDS if k not in produced]
    load_after = os.getloadavg()
    console.print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); {os.cpu_count()} cores")
    for name, why in run.failures.items():
        console.print(f"[red]FAILED[/red] {name}: {why}")
    if missing:
        console.print(f"[red]rows not produced[/red]: {', '.join(missing)}")
    out = Path(os.environ["BENCH_OUT"]) if os.environ.get("BENCH_OUT") else None
    return write_record(run.results, ratios, run.version, extra={
        "failures": run.failures, "missing": missing, "expected_kinds": list(EXPECTED_KINDS),
        "load_average": {"before": load_before, "after": load_after},
    }, out=out)


async def _one(result: Awaitable[Result]) -> list[Result]:
    return [await result]


if __name__ == "__main__":
    record = asyncio.run(main())
    import json

    sys.exit(1 if json.loads(record.read_text())["failures"] or json.loads(record.read_text())["missing"] else 0)

"""What a durable consumer costs, for each way of reading the stream a projection could use:
the CPU its process spends per event draining a backlog, how long an event takes to reach
the handler when events arrive one at a time, and the CPU an idle consumer burns.

- `pathways-pull`: the projection runner's own pull (`pathways.jetstream.pull.Pull`): batches of up to
  1,000 with a 5 s wait, the server's idle heartbeats saying how far it has looked;
- `faststream-batch`: faststream's JetStream pull subscriber handing the handler a list
  (`PullSub(batch=True)`), collecting for at most 20 ms (the runner's linger) so that a
  lone event is not held back for the default 5 s;
- `faststream-each`: faststream's pull subscriber, 1,000 per fetch, one handler call per
  message (faststream's ack policy MANUAL: nothing acknowledged, as the runner);
- `nats-py`: nats-py's `pull_subscribe` and `fetch(1000)` with no framework (the floor).

Every variant reads one consumer with a filter subject matching half the stream, with no
acknowledgement (the position lives in the read model's own transaction), in a process of
its own whose CPU is read from /proc. `python bench/consumers.py` alone, or in `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import TINY, Result, console, embedded_nats, n
from live import cpu_seconds

VARIANTS = {
    "pathways-pull": "the runner's pull: 1,000 per request, 5 s wait, idle heartbeats",
    "faststream-batch": "faststream pull subscriber, batch=True, 1,000 or 20 ms",
    "faststream-each": "faststream pull subscriber, 1,000 per fetch, a handler call per message",
    "nats-py": "nats-py pull_subscribe and fetch(1000), no framework",
}
READ = "pathways.evt.registry.>"  # what the consumer reads; the other half goes to `sessions`
LINGER = 0.02
IDLE_SECONDS = 0.5 if TINY else 3.0
# Seconds with no event before the rest count as lost (a loaded machine starts slowly; the
# tiny run in the suite only checks the bench still runs, and a loss is reported either way).
QUIET = 5.0 if TINY else 30.0


class Tally:
    """What the handler does with each event in every variant: note its stream sequence and
    when it was published, and say when the expected count is reached."""

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.seen = 0
        self.last = 0
        self.latencies: list[float] = []
        self.done = asyncio.Event()
        self.at = time.monotonic()

    def take(self, raw: Any) -> None:
        self.last = raw.metadata.sequence.stream
        sent = raw.headers.get("sent") if raw.headers else None
        if sent:
            self.latencies.append(time.time() - float(sent))
        self.seen += 1
        self.at = time.monotonic()
        if self.seen >= self.expect:
            self.done.set()

    async def settle(self, quiet: float) -> int:
        """Wait for the expected count, or until nothing has come for `quiet` seconds;
        returns how many never came. With no acknowledgement (as every variant here reads),
        a message the server sent to a pull request that had already expired on the
        client is gone: a short fetch timeout on a loaded machine loses some."""
        self.at = time.monotonic()
        while not self.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), quiet)
            if time.monotonic() - self.at >= quiet:
                break
        return max(0, self.expect - self.seen)


def config(name: str) -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    return ConsumerConfig(name=name, durable_name=name, filter_subjects=[READ], deliver_policy=DeliverPolicy.ALL,
                          ack_policy=AckPolicy.NONE, inactive_threshold=60.0, mem_storage=True)


async def consume(variant: str, url: str, user: str, password: str, backlog: int, trickle: int) -> None:
    """The child: drain the backlog, report, take the trickle, report, then idle until killed."""
    import nats

    tally = Tally(backlog)
    nc = await nats.connect(url, user=user, password=password)
    js = nc.jetstream()
    if variant == "pathways-pull":
        from pathways.core.subjects import STREAM_NAME
        from pathways.jetstream.pull import Pull

        await js.add_consumer(STREAM_NAME, config=config("bench-pull"))
        pull = Pull(nc, "bench-pull")
        stopping: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def run_pull() -> None:
            while await pull.next(stopping):
                while pull.buffer:
                    item = pull.buffer.popleft()
                    if not isinstance(item, int):  # an int is a heartbeat's "looked this far"
                        tally.take(item)

        print("ready", flush=True)
        await pull.start()
        task = asyncio.create_task(run_pull())
    elif variant == "nats-py":
        from nats.errors import TimeoutError as FetchTimeout

        sub = await js.pull_subscribe(READ, durable="bench-raw", config=config("bench-raw"))

        async def run_raw() -> None:
            while True:
                try:
                    for msg in await sub.fetch(1000, timeout=5):
                        tally.take(msg)
                except FetchTimeout:
                    pass

        print("ready", flush=True)
        task = asyncio.create_task(run_raw())
    else:
        from faststream import AckPolicy
        from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
        from faststream.security import SASLPlaintext
        from pathways.core.subjects import STREAM_NAME

        broker = NatsBroker(url, security=SASLPlaintext(username=user, password=password), apply_types=False,
                            logger=None)  # nothing logged per message
        stream = JStream(STREAM_NAME, declare=False)

        async def as_message(msg: Any) -> Any:
            return msg  # faststream's message itself: no JSON decoding

        if variant == "faststream-batch":
            @broker.subscriber(READ, stream=stream, durable="bench-fs-batch", config=config("bench-fs-batch"),
                               pull_sub=PullSub(batch_size=1000, timeout=LINGER, batch=True),
                               ack_policy=AckPolicy.MANUAL, decoder=as_message)
            async def handle_batch(msg: NatsMessage) -> None:
                for raw in msg.raw_message:
                    tally.take(raw)
        else:
            @broker.subscriber(READ, stream=stream, durable="bench-fs-each", config=config("bench-fs-each"),
                               pull_sub=PullSub(batch_size=1000, timeout=5.0),
                               ack_policy=AckPolicy.MANUAL, decoder=as_message)
            async def handle_each(msg: NatsMessage) -> None:
                tally.take(msg.raw_message)

        print("ready", flush=True)
        await broker.start()
        task = None
    lost = await tally.settle(QUIET)  # the backlog
    print(f"drained {tally.last}", flush=True)
    tally.expect, tally.seen, tally.done = trickle, 0, asyncio.Event()
    lost += await tally.settle(QUIET)  # the lone events
    print("trickled " + json.dumps({"latencies": tally.latencies, "lost": lost}), flush=True)
    await asyncio.Event().wait()
    del task


async def publish(js: Any, count: int, *, paced: float = 0.0) -> None:
    """`count` events to the consumer's subjects, as many again to another context's."""
    body = json.dumps({"specversion": "1.0", "type": "ParticipantEnrolled", "data": {"x": 1}}).encode()
    acks = []
    for i in range(count):
        headers = {"sent": repr(time.time())} if paced else None
        acks.append(js.publish(f"pathways.evt.registry.org{i % 7}.p{i}", body, headers=headers))
        acks.append(js.publish(f"pathways.evt.sessions.org{i % 7}.s{i}", body))
        if paced:
            await asyncio.gather(*acks)
            acks.clear()
            await asyncio.sleep(paced)
        elif len(acks) >= 2000:
            await asyncio.gather(*acks)
            acks.clear()
    await asyncio.gather(*acks)


async def one_variant(conn: Any, variant: str, backlog: int, trickle: int) -> Result:
    from pathways.core.subjects import EVENTS_ROOT, STREAM_NAME

    nc = await conn.connect("bench-consumers")
    js = nc.jetstream()
    await js.add_stream(name=STREAM_NAME, subjects=[f"{EVENTS_ROOT}.>"])
    await publish(js, backlog)
    args = [sys.executable, __file__, "--consume", variant, "--url", conn.nats_url, "--user", conn.user or "",
            "--password", conn.password or "", "--backlog", str(backlog), "--trickle", str(trickle)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        assert child.stdout is not None

        async def line(prefix: str, within: float) -> str:
            try:
                got = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), within)  # type: ignore[union-attr]
            except TimeoutError:
                child.kill()
                raise RuntimeError(f"{variant}: no {prefix!r} within {within:.0f} s; {child.stderr.read()[-2000:]}") from None  # type: ignore[union-attr]
            if not got.startswith(prefix):
                child.kill()
                raise RuntimeError(f"{variant}: expected {prefix!r}, got {got!r}; {child.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            return got[len(prefix):].strip()

        await line("ready", 60)
        before, t = cpu_seconds(child.pid), time.perf_counter()
        await line("drained", 300)
        seconds, drain_cpu = time.perf_counter() - t, cpu_seconds(child.pid) - before
        await publish(js, trickle, paced=0.01)
        trickled = json.loads(await line("trickled", 120))
        latencies = sorted(trickled["latencies"]) or [float("nan")]
        idle_before = cpu_seconds(child.pid)
        await asyncio.sleep(IDLE_SECONDS)
        idle = (cpu_seconds(child.pid) - idle_before) / IDLE_SECONDS
        return Result(f"consumer: {VARIANTS[variant]}", backlog, seconds, {
            "cpu_us_per_event": 1e6 * drain_cpu / backlog,
            "lone_event_p50_ms": 1e3 * statistics.median(latencies),
            "lone_event_p99_ms": 1e3 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "idle_cpu_ms_per_s": 1e3 * idle,
            "events_lost": trickled["lost"],
        }, kind=f"consumer {variant}")
    finally:
        child.kill()
        child.wait(10)
        await js.delete_stream(STREAM_NAME)
        await nc.close()


async def consumer_costs(conn: Any, only: list[str] | None = None) -> list[Result]:
    out = []
    for variant in only or VARIANTS:
        out.append(await one_variant(conn, variant, n(100_000), min(n(300), 300)))
        x = out[-1].extra
        console.print(f"  {variant}: {out[-1].rate:,.0f} events/s, {x['cpu_us_per_event']:.1f} µs CPU per event, "
                      f"lone event p50 {x['lone_event_p50_ms']:.1f} ms, idle {x['idle_cpu_ms_per_s']:.1f} ms CPU/s"
                      + (f", [red]{x['events_lost']} events never came[/red]" if x["events_lost"] else ""))
    return out


def consumer_ratios(results: list[Result]) -> dict[str, float]:
    """Each variant's CPU per event over the runner's own pull's (below 1: cheaper than it)."""
    own = next((r.extra["cpu_us_per_event"] for r in results if r.kind == "consumer pathways-pull"), None)
    if not own:  # not measured, or below the CPU clock's tick (a tiny run)
        return {}
    return {f"consumer CPU per event, {r.kind.removeprefix('consumer ')} / pathways-pull":
            r.extra["cpu_us_per_event"] / own for r in results if r.kind != "consumer pathways-pull"}


async def main(only: list[str] | None) -> None:
    with tempfile.TemporaryDirectory(prefix="pathways-bench-consumers-") as tmp, embedded_nats(Path(tmp)) as (conn, _):
        results = await consumer_costs(conn, only)
        for k, v in consumer_ratios(results).items():
            console.print(f"{k}: [bold]{v:.2f}[/bold]")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--consume", choices=list(VARIANTS))
    parser.add_argument("--url")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--backlog", type=int)
    parser.add_argument("--trickle", type=int)
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="measure only these variants")
    cli = parser.parse_args()
    if cli.consume:
        asyncio.run(consume(cli.consume, cli.url, cli.user, cli.password, cli.backlog, cli.trickle))
    else:
        asyncio.run(main(cli.only))

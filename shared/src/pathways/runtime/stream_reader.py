"""The stream read in a process of its own, for a rebuild (`pathways.core.rebuild`).

A rebuild spends about a quarter of its time in the NATS client: parsing the protocol and
each message's headers, a callback per message. Read in the rebuilding process, that work
takes turns with the writes under the GIL; read here, in a child, it runs on the other core
while the parent writes. The child holds up to AHEAD_BYTES ready, so the parent finds its
next batch waiting whenever it finishes one.

The child connects with the same connection (its URL and credentials in its environment,
never on its command line) and writes frames to its stdout: an 8-byte length, then a
pickled chunk of (sequence, subject, payload, stored at). A zero length ends the history.
The pickle comes from this module in a process the parent started, not from outside.
A child that stops without the end frame fails the read, with what it said on stderr;
a read that is closed early (its rebuild failed, or was cancelled) kills the child."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import struct
import sys
from collections.abc import AsyncGenerator, Awaitable
from typing import TYPE_CHECKING, BinaryIO

from pathways.core.eventstore.base import StoredEvent
from pathways.runtime.connection import ConnectionInfo, redacted_servers

if TYPE_CHECKING:  # not imported in the child, which starts faster without SQLAlchemy
    from pathways.core.rebuild import EventBatches

CHUNK = 1_000  # events per frame
AHEAD_BYTES = 16 * 2**20  # what the child holds ready: more than one rebuild batch (10,000 events of about 1 KB)
FRAME = struct.Struct(">Q")
STDERR_KEPT = 40  # lines of the child's stderr quoted when it fails
STDERR_BYTES = 16_384  # of which at most this much
MAGIC = b"pathways-stream-reader/1\n"  # its first bytes: anything else on its stdout is not a frame
# The parent is connected already, so a child that cannot connect in this long will not: it
# gives up and says why (the client itself would try for ever).
CONNECT_WITHIN = 15.0
FRAME_WITHIN = 60.0  # the longest wait for a frame (the child's own reads time out after 10 s)


class StreamReaderFailed(RuntimeError):
    """The child reading the stream stopped before the end of the history."""


def read_in_child(connection: ConnectionInfo, chunk: int = CHUNK, connect_within: float = CONNECT_WITHIN) -> EventBatches:
    """A rebuild's `read`: the history read by a child process that connects as `connection`
    does (within `connect_within` seconds), handed over `chunk` events at a time."""

    async def read(first: int, last: int, subjects: list[str] | None) -> AsyncGenerator[list[StoredEvent], None]:
        child = await asyncio.create_subprocess_exec(
            # -P: not the current directory first on its path (a stray pickle.py there would read with our credentials).
            sys.executable, "-P", "-m", __name__, str(first), str(last), json.dumps(subjects), str(chunk), str(connect_within),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=_environment(connection),
            start_new_session=True,  # Ctrl-C stops the rebuild, which stops its reader (below)
        )
        assert child.stdout is not None and child.stderr is not None
        said = _Tail()
        listening = asyncio.create_task(said.keep(child.stderr))
        try:
            try:
                if await child.stdout.readexactly(len(MAGIC)) != MAGIC:
                    raise StreamReaderFailed("the stream reader's output is not frames: something else wrote to it")
                while True:
                    (size,) = FRAME.unpack(await _within(child.stdout.readexactly(FRAME.size)))
                    if size == 0:
                        break
                    received = pickle.loads(await _within(child.stdout.readexactly(size)))  # our own child's frames, not input
                    yield [StoredEvent(*event) for event in received]
            except asyncio.IncompleteReadError:
                code = await child.wait()
                await said.finished(listening)
                raise StreamReaderFailed(f"the stream reader stopped before the end of the history (exit {code}): "
                                         f"{said}") from None
            if await child.wait() != 0:
                await said.finished(listening)
                raise StreamReaderFailed(f"the stream reader failed after the history (exit {child.returncode}): {said}")
        finally:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                # Its exit is seen only once both pipes are read to their end (asyncio waits for
                # them), and a paused stdout would never be: read what is left.
                with contextlib.suppress(Exception):
                    await child.stdout.read()
                await child.wait()
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    return read


async def _within(reading: Awaitable[bytes]) -> bytes:
    # The child fails by itself when the stream says nothing for its store's timeout; one
    # that says nothing at all for this long is stuck (stopped, say): fail rather than wait.
    # (asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that comes
    # as the read completes, and a cancelled rebuild then read on.)
    try:
        async with asyncio.timeout(FRAME_WITHIN):
            return await reading
    except TimeoutError:
        raise StreamReaderFailed(f"the stream reader sent nothing for {FRAME_WITHIN:g} s: it is stuck") from None


def _environment(connection: ConnectionInfo) -> dict[str, str]:
    # Only what is set: an empty user would replace the credentials a URL carries (nats://u:p@host).
    env = {k: v for k, v in os.environ.items() if k not in ("PATHWAYS_NATS_USER", "PATHWAYS_NATS_PASSWORD")}
    env["PATHWAYS_NATS_URL"] = connection.nats_url
    if connection.user is not None:
        env["PATHWAYS_NATS_USER"] = connection.user
    if connection.password is not None:
        env["PATHWAYS_NATS_PASSWORD"] = connection.password
    return env


class _Tail:
    """The last STDERR_BYTES the child wrote to stderr, read as it writes (a pipe left full
    would stop it), whatever its lines' length."""

    def __init__(self) -> None:
        self.held = b""

    async def keep(self, stream: asyncio.StreamReader) -> None:
        while piece := await stream.read(65536):
            self.held = (self.held + piece)[-STDERR_BYTES:]

    async def finished(self, listening: asyncio.Task[None]) -> None:
        await asyncio.wait({listening}, timeout=5)  # to the end of what it said; never its own failure instead

    def __str__(self) -> str:
        lines = [line.strip() for line in self.held.decode(errors="replace").splitlines() if line.strip()]
        return " | ".join(lines[-STDERR_KEPT:]) or "it said nothing"


# --- the child -----------------------------------------------------------------------


async def _serve(first: int, last: int, subjects: list[str] | None, size: int, within: float, out: BinaryIO) -> None:
    from pathways.jetstream.store import JetStreamEventStore
    from pathways.runtime.connection import resolve_connection

    connection = resolve_connection()
    try:
        nc = await asyncio.wait_for(connection.connect("pathways-rebuild-reader"), within)
    except TimeoutError:
        raise SystemExit(f"could not connect to {redacted_servers(connection.nats_url)} within {within:g} s") from None
    # The loop writes the pipe as it drains, between reads: no thread to take turns with
    # under the GIL (a writer thread that had to win the GIL back after every 64 KB the
    # pipe took kept the parent waiting).
    pipe = _Pipe()
    transport, _ = await asyncio.get_running_loop().connect_write_pipe(lambda: pipe, out)
    # Reading resumes as soon as a frame's room is free, not once the parent has taken most of it.
    transport.set_write_buffer_limits(high=AHEAD_BYTES, low=AHEAD_BYTES // 2)
    transport.write(MAGIC)
    try:
        chunk: list[tuple[object, ...]] = []
        async for stored in JetStreamEventStore(nc).read_all(first, last, subjects):
            chunk.append((stored.sequence, stored.subject, stored.payload, stored.stored_at))
            if len(chunk) >= size:
                await pipe.send(transport, chunk)
                chunk = []
        if chunk:
            await pipe.send(transport, chunk)
        await pipe.send(transport, None)
        transport.close()  # what it holds is written out first
        await pipe.closed.wait()
    finally:
        transport.close()
        await nc.close()


class _Pipe(asyncio.Protocol):
    """The parent's end of stdout: frames are written as it takes them, and the reading
    waits while more than AHEAD_BYTES are held for it."""

    def __init__(self) -> None:
        self.room = asyncio.Event()
        self.room.set()
        self.lost: BaseException | None = None
        self.closed = asyncio.Event()

    def pause_writing(self) -> None:
        self.room.clear()

    def resume_writing(self) -> None:
        self.room.set()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or BrokenPipeError("the rebuild stopped reading")
        self.room.set()
        self.closed.set()

    async def send(self, transport: asyncio.WriteTransport, chunk: list[tuple[object, ...]] | None) -> None:
        body = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL) if chunk is not None else b""
        await self.room.wait()
        if self.lost is not None:  # the parent went away: stop reading
            raise self.lost
        transport.write(FRAME.pack(len(body)) + body)


def main(argv: list[str]) -> None:
    first, last, subjects, size, within = int(argv[0]), int(argv[1]), json.loads(argv[2]), int(argv[3]), float(argv[4])
    # The frames own stdout: anything else that would print goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    from pathways.runtime.logging import configure

    configure("rebuild-reader", "WARNING")
    asyncio.run(_serve(first, last, subjects, size, within, out))
    out.close()


if __name__ == "__main__":
    main(sys.argv[1:])

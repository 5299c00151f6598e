"""`audit verify`: recompute the whole ledger from the stream and check it against every
signed checkpoint (on the stream, kept by the service, kept by the auditor) and, when it
can be read, the service's own record of each leaf; name the first sequence where
anything differs.

What locates what:
- the service's ledger recorded each event's hash when it was appended, so a changed,
  removed or reordered event is found at its exact sequence;
- a signed checkpoint commits to every event before its size, so without the ledger (or if
  the ledger was altered too) a difference is still found, between two checkpoints;
- a checkpoint whose signature does not verify with the trusted key is named by the
  sequence it was published at (or the auditor's file it came from).

The recomputed tree keeps every complete subtree in memory (64 bytes an event), so the root
at any size a checkpoint names is O(log n) to find, whenever the checkpoint turns up."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pathways.core.eventstore.base import StoredEvent
from pathways.policy.ledger.merkle import root_at
from pathways.policy.ledger.verifier import Checkpoint, CheckpointError, VerifierKey, open_checkpoint

LEDGER_CHUNK = 65536


class LedgerSource(Protocol):
    """The audit service's record: its leaf hashes and the checkpoints it keeps."""

    async def size(self) -> int: ...

    async def leaves(self, start: int, count: int) -> list[bytes]: ...

    async def checkpoints(self) -> list[tuple[int, str]]: ...


@dataclass(frozen=True)
class Problem:
    sequence: int | None  # the first stream sequence it concerns, when it has one
    kind: str
    message: str


@dataclass
class VerifyReport:
    events: int = 0
    checkpoints: int = 0
    ledger_compared: bool = False
    problems: list[Problem] = field(default_factory=list)
    root: str = ""  # base64 root of the whole stream as recomputed

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_sequence(self) -> int | None:
        located = [p.sequence for p in self.problems if p.sequence is not None]
        return min(located) if located else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "events": self.events, "checkpoints": self.checkpoints,
            "ledger_compared": self.ledger_compared, "root": self.root,
            "first_bad_sequence": self.first_bad_sequence,
            "problems": [{"sequence": p.sequence, "kind": p.kind, "message": p.message} for p in self.problems],
        }


class _Tree:
    """An append-only RFC 6962 tree that keeps every complete subtree, level by level,
    each level one bytearray of 32-byte hashes. Appending is the hot path of verify: a
    leaf is a right child when its index is odd, and then its parent is complete (and so
    on up), so the parent's two children are always the last 64 bytes of their level."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.size = 0

    def append(self, leaf: bytes) -> None:
        levels = self.levels
        level = levels[0]
        level += leaf
        index = self.size
        self.size = index + 1
        depth = 0
        while index & 1:
            parent = _sha256(_NODE + level[-64:]).digest()
            depth += 1
            if depth == len(levels):
                levels.append(bytearray())
            level = levels[depth]
            level += parent
            index >>= 1

    def read(self, level: int, index: int) -> bytes:
        return bytes(self.levels[level][index * 32 : index * 32 + 32])

    def root(self, size: int) -> bytes:
        return root_at(size, self.read)


_sha256 = hashlib.sha256
_LEAF, _NODE = b"\x00", b"\x01"
CHECKPOINTS_SUFFIX = ".audit.checkpoints"


class StreamReader(Protocol):
    """What verification reads of the stream: a store itself, or the audit service's copy of it."""

    async def last_sequence(self) -> int: ...

    def read_all(self, from_sequence: int = 1, until: int | None = None) -> AsyncIterator[StoredEvent]: ...


async def verify_history(
    store: StreamReader,
    vkey: VerifierKey,
    *,
    ledger: LedgerSource | None = None,
    kept: Sequence[tuple[str, str]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """`kept` are checkpoints the auditor holds: (where it came from, note)."""
    report = VerifyReport(ledger_compared=ledger is not None)
    # The ledger first, then the stream: the ledger can only have seen what the stream
    # held by then, so anything it holds beyond the stream's end was removed from it.
    ledger_size = await ledger.size() if ledger is not None else 0
    ledger_checkpoints = await ledger.checkpoints() if ledger is not None else []
    end = await store.last_sequence()
    tree = _Tree()
    published: list[tuple[int, str]] = []  # checkpoints found on the stream: (sequence, note)
    recorded: list[bytes] = []
    recorded_from = 0
    first_difference: int | None = None
    expected = 1
    append, sha256, leaf_prefix = tree.append, _sha256, _LEAF
    async for stored in store.read_all(1, end):
        sequence = stored.sequence
        if sequence != expected:
            report.problems.append(Problem(expected, "gap", f"sequences {expected} to {sequence - 1} are missing "
                                           "from the stream: events were deleted"))
            expected = sequence
        digest = sha256(leaf_prefix + stored.payload).digest()  # leaf_hash, inlined: this loop is the cost of verify
        if sequence <= ledger_size and first_difference is None:
            assert ledger is not None
            offset = sequence - 1 - recorded_from
            if offset >= len(recorded):
                recorded_from, offset, recorded = sequence - 1, 0, await ledger.leaves(sequence - 1, LEDGER_CHUNK)
            if offset >= len(recorded) or recorded[offset] != digest:
                first_difference = sequence
        append(digest)
        if stored.subject.endswith(CHECKPOINTS_SUFFIX) and stored.subject.startswith("pathways.evt._."):
            published.append((sequence, _note_of(stored.payload)))
        expected += 1
        if progress is not None and sequence % 4096 == 0:
            progress(sequence, end)
    size = tree.size
    last_seen = expected - 1  # the stream's last sequence read: past `size` when sequences in between are gone
    gaps = [p.sequence for p in report.problems if p.kind == "gap" and p.sequence is not None]
    report.events = size
    report.root = base64.b64encode(tree.root(size)).decode()
    if progress is not None:
        progress(size, end)

    # Truncated is about the end: a stream whose last sequence is behind what the ledger
    # recorded. A hole in the middle (a gap, named above) leaves fewer events but no short end.
    if first_difference is None and ledger_size > last_seen:
        report.problems.append(Problem(last_seen + 1, "truncated", (
            f"the audit service's ledger recorded {ledger_size} events but the stream ends at sequence {last_seen}: "
            f"events from sequence {last_seen + 1} were removed")))
    sources = ([(f"checkpoint published at sequence {s}", s, note) for s, note in published]
               + [(f"checkpoint kept by the audit service (published at {s})", s, note) for s, note in ledger_checkpoints]
               + [(origin, None, note) for origin, note in kept])
    good_sizes = [0]
    bad: list[tuple[int, str]] = []
    # Each distinct note is judged once (signature, then its root against the stream);
    # each place a note stands on the stream is judged too (a checkpoint can only cover
    # what was stored before it, so one standing too early means events before it went).
    opened: dict[str, Checkpoint | None] = {}
    for where, published_at, note in sources:
        if note not in opened:
            report.checkpoints += 1
            opened[note] = _judge(report, tree, last_seen, where, published_at, note, vkey, good_sizes, bad)
        checkpoint = opened[note]
        if checkpoint is None:
            if published_at is not None and not any(p.sequence == published_at for p in report.problems):
                report.problems.append(Problem(published_at, "checkpoint-forged", f"{where}: it does not verify"))
        elif published_at is not None and checkpoint.size >= published_at:
            report.problems.append(Problem(published_at, "moved", (
                f"{where} is signed over {checkpoint.size} events but stands at sequence {published_at}: "
                "events stored before it were removed")))
    if last_seen < end and not any(p.kind == "truncated" for p in report.problems):
        # The stream says it holds up to `end`, and nothing after `last_seen` could be read:
        # the last events were deleted (with no ledger or kept checkpoint reaching past them).
        report.problems.append(Problem(last_seen + 1, "truncated", (
            f"the stream's last sequence is {end} but it holds nothing after sequence {last_seen}: events from "
            f"sequence {last_seen + 1} were removed")))
    _locate(report, first_difference, good_sizes, bad, gaps, ledger_compared_to=ledger_size if ledger else 0)
    report.problems.sort(key=lambda p: (p.sequence is None, p.sequence or 0))
    return report


def _judge(report: VerifyReport, tree: _Tree, last_seen: int, where: str, published_at: int | None, note: str,
           vkey: VerifierKey, good_sizes: list[int], bad: list[tuple[int, str]]) -> Checkpoint | None:
    """Check one checkpoint's signature and root; the opened checkpoint, or None if forged."""
    try:
        checkpoint = open_checkpoint(note, vkey)
    except CheckpointError as err:
        report.problems.append(Problem(published_at, "checkpoint-forged", f"{where}: {err}"))
        return None
    if checkpoint.size > last_seen:
        report.problems.append(Problem(last_seen + 1, "truncated", f"{where} was signed over {checkpoint.size} events "
                                       f"but the stream ends at sequence {last_seen}: events from sequence "
                                       f"{last_seen + 1} were removed"))
    elif checkpoint.size > tree.size or tree.root(checkpoint.size) != checkpoint.root:
        bad.append((checkpoint.size, where))  # (fewer events than its size: a gap inside it, no root to compare)
    else:
        good_sizes.append(checkpoint.size)
    return checkpoint


def _locate(report: VerifyReport, first_difference: int | None, good_sizes: list[int], bad: list[tuple[int, str]],
            gaps: list[int], *, ledger_compared_to: int) -> None:
    """Turn the two kinds of evidence into located problems."""
    for checkpoint_size, where in sorted(bad):
        if first_difference is not None and first_difference <= checkpoint_size:
            continue  # explained by the exact difference below
        covered_gaps = [gap for gap in gaps if gap <= checkpoint_size]
        if covered_gaps and ledger_compared_to >= checkpoint_size:
            # A sequence it covers is missing (named exactly, as a gap), and the ledger matched
            # every event it does hold: the gap is the whole of the difference.
            continue
        if covered_gaps:
            # Without the ledger the gap may not be all: an event before it may have changed too.
            # Said, but not located, so the headline stays the sequence known to be bad.
            report.problems.append(Problem(None, "checkpoint-mismatch", (
                f"the stream does not match the {where} (size {checkpoint_size}); the gap at sequence "
                f"{covered_gaps[0]} explains it if nothing else changed, which only the audit service's ledger "
                "can tell")))
            continue
        after = max(s for s in good_sizes if s < checkpoint_size) if any(s < checkpoint_size for s in good_sizes) else 0
        report.problems.append(Problem(after + 1, "checkpoint-mismatch", (
            f"the stream does not match the {where} (size {checkpoint_size}): an event between sequence {after + 1} "
            f"and {checkpoint_size} was changed, removed or moved")))
    if first_difference is None:
        return
    confirmed_by_signature = [s for s in good_sizes if s >= first_difference]
    if confirmed_by_signature:
        report.problems.append(Problem(first_difference, "ledger-altered", (
            f"the audit service's record of sequence {first_difference} differs from the stream, and a signed "
            f"checkpoint of size {min(confirmed_by_signature)} agrees with the stream: the service's ledger copy was altered")))
    else:
        report.problems.append(Problem(first_difference, "changed", (
            f"the event stored at sequence {first_difference} is not the one the ledger recorded when it was "
            "appended: it was changed, removed or moved")))


def _note_of(payload: bytes) -> str:
    """The note a checkpoint event carries (an unreadable one cannot verify)."""
    try:
        note = json.loads(payload)["data"]["note"]
    except (ValueError, KeyError, TypeError):
        return ""
    return note if isinstance(note, str) else ""

"""`verify_history` against tampered copies of a real stream: a history made by the running
registry and audit services (with checkpoints signed as it grew) is copied message by
message onto a second, fresh nats-server, altered on the way, and verified there with the
trusted key. It proves that a changed byte, a deleted event, two swapped events, a checkpoint
altered or signed by another key, a truncated stream and an altered copy of the service's
own ledger are each found, at the exact sequence tampered with (with the service's ledger)
or between the two signed checkpoints around it (with only the checkpoints an auditor kept),
and that an untouched copy verifies."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import StreamConfig
from pathways.jetstream.store import JetStreamEventStore, ensure_stream, stream_config
from pathways.policy.ledger.merkle import root_of
from pathways.policy.ledger.signing import CheckpointSigner
from pathways.policy.ledger.verifier import Checkpoint, leaf_hash, open_checkpoint
from pathways.testing.servers import wheel_nats_server
from pathways_audit import ledger as audit_ledger
from pathways_audit.sources import DatabaseLedger
from pathways_audit.verify import Problem, VerifyReport, verify_history
from sqlalchemy import update

from tests import test_audit_ledger
from tests.conftest import ProgrammeSetup, enrolment
from tests.test_audit_ledger import AuditedPlatform, signed_up_to, some_history

platform = test_audit_ledger.platform  # the fixture: registry and audit on a nats-server of their own

Message = tuple[str, bytes]  # (subject, exact stored bytes); message i is stream sequence i + 1
Transform = Callable[[list[Message]], list[Message]]


@dataclass(frozen=True)
class History:
    """What the platform stored, read back once the last checkpoint covers all of it."""

    messages: list[Message]
    checkpoints: list[tuple[int, Checkpoint, str]]  # (published at sequence, what it signs, note) on the stream
    kept: list[tuple[str, str]]  # the notes an auditor saved while the history grew

    def payload(self, sequence: int) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.messages[sequence - 1][1])
        return body

    def of_type(self, suffix: str) -> list[int]:
        """The sequences of the events whose type ends with `suffix`."""
        return [seq for seq in range(1, len(self.messages) + 1) if str(self.payload(seq).get("type")).endswith(suffix)]

    def enrolment_of(self, participant: str) -> int:
        """The sequence at which a participant's enrolment is stored."""
        found = [seq for seq in self.of_type(".ParticipantEnrolled")
                 if self.payload(seq)["data"]["participant_id"] == participant]
        assert len(found) == 1, (participant, found)
        return found[0]

    def adjacent_enrolments(self) -> int:
        """The last sequence k such that k and k + 1 are both enrolments (a checkpoint may
        have been signed between any two events)."""
        enrolled = self.of_type(".ParticipantEnrolled")
        pairs = [k for k in enrolled if k + 1 in enrolled]
        assert pairs, enrolled
        return pairs[-1]

    def bounds(self, sequence: int) -> tuple[int, int]:
        """The signed interval a changed `sequence` falls in: (first sequence after the last
        checkpoint below it, size of the first checkpoint covering it)."""
        below = [c.size for _, c, _ in self.checkpoints if c.size < sequence]
        above = [c.size for _, c, _ in self.checkpoints if c.size >= sequence]
        assert above, f"no checkpoint covers sequence {sequence}"
        return max(below, default=0) + 1, min(above)


async def refused(p: AuditedPlatform, s: ProgrammeSetup, participant: str) -> None:
    """Enrol someone already enrolled: rejected, which appends a CommandRejected audit event."""
    reply = await p.client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, participant))
    assert reply["status"] == "rejected", reply


async def build_history(p: AuditedPlatform) -> History:
    """A programme, 9 enrolments and 2 (or more) rejected commands, in two batches each signed."""
    s = await some_history(p, people=5)
    await refused(p, s, "pt-0")
    first = await signed_up_to(p, await p.store.last_sequence())
    for i in range(5, 9):
        reply = await p.client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, f"pt-{i}"))
        assert reply["status"] == "accepted", reply
    await refused(p, s, "pt-5")
    for _ in range(10):
        second = await signed_up_to(p, await p.store.last_sequence())
        await settled(p)
        stored = [e async for e in p.store.read_all()]
        # The signer runs on its own clock: a checkpoint it began just before the refusal
        # can land after it. The tests want the last refusal right before the final
        # checkpoint, so another refusal is made until that holds.
        if b".CommandRejected" in stored[-2].payload:
            break
        await refused(p, s, "pt-5")
    else:
        raise AssertionError("the final checkpoint never came straight after a refusal")
    assert [e.sequence for e in stored] == list(range(1, len(stored) + 1))
    # The ledger has every message: a copy is compared with the service's record of all of it.
    assert await DatabaseLedger(p.audit.engine).size() == len(stored)
    checkpoints = []
    for e in stored:
        if e.subject.endswith(".audit.checkpoints"):
            note = str(json.loads(e.payload)["data"]["note"])
            checkpoints.append((e.sequence, open_checkpoint(note, p.vkey), note))
    sizes = {c.size for _, c, _ in checkpoints}
    assert len(sizes) >= 2 and max(sizes) == len(stored) - 1, sizes
    assert any(b".CommandRejected" in e.payload for e in stored)
    return History([(e.subject, e.payload) for e in stored], checkpoints, [("kept-1.txt", first), ("kept-2.txt", second)])


async def settled(p: AuditedPlatform) -> None:
    """Until the last message is the checkpoint over all before it and the ledger holds it
    too (the signer and the ledger run on their own; under load they lag a moment)."""
    for _ in range(300):
        last = await p.store.last_sequence()
        tail = [e async for e in p.store.read_all(last, last)]
        if tail and tail[0].subject.endswith(".audit.checkpoints") and await DatabaseLedger(p.audit.engine).size() == last:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the ledger did not settle")


@asynccontextmanager
async def tampered_copy(
    directory: Path, history: History, transform: Transform, *, deletable: bool = False
) -> AsyncIterator[JetStreamEventStore]:
    """PATHWAYS_EVENTS on a fresh nats-server of its own, holding `transform(messages)`
    published one by one in order (so message i lands at sequence i + 1); `deletable`
    makes it a stream whose messages can really be deleted (the platform's never can)."""
    messages = transform(list(history.messages))
    with wheel_nats_server(directory) as endpoint:
        nc = await endpoint.connection.connect("tampered-copy")
        try:
            js = nc.jetstream()
            if deletable:
                await js.add_stream(StreamConfig.from_response(stream_config().as_dict() | {"deny_delete": False}))
            else:
                await ensure_stream(nc)
            for subject, payload in messages:
                await js.publish(subject, payload)
            store = JetStreamEventStore(nc)
            assert await store.last_sequence() == len(messages)
            yield store
        finally:
            await nc.close()


def unchanged(messages: list[Message]) -> list[Message]:
    return messages


def flip_byte(sequence: int, marker: bytes, at: int = 0) -> Transform:
    """Flip the low bit of one byte of the event at `sequence`, `at` bytes into `marker`."""

    def transform(messages: list[Message]) -> list[Message]:
        subject, payload = messages[sequence - 1]
        where = payload.index(marker) + at
        changed = bytearray(payload)
        changed[where] ^= 1
        messages[sequence - 1] = (subject, bytes(changed))
        return messages

    return transform


def delete(sequence: int) -> Transform:
    return lambda messages: messages[: sequence - 1] + messages[sequence:]


def swap(sequence: int) -> Transform:
    """Swap the events at `sequence` and `sequence + 1`."""

    def transform(messages: list[Message]) -> list[Message]:
        i = sequence - 1
        messages[i], messages[i + 1] = messages[i + 1], messages[i]
        return messages

    return transform


def truncate(keep: int) -> Transform:
    return lambda messages: messages[:keep]


def ledger_of(p: AuditedPlatform) -> DatabaseLedger:
    return DatabaseLedger(p.audit.engine)


def at(report: VerifyReport, sequence: int) -> list[Problem]:
    return [problem for problem in report.problems if problem.sequence == sequence]


def kinds_at(report: VerifyReport, sequence: int) -> set[str]:
    return {problem.kind for problem in at(report, sequence)}


async def test_a_changed_byte_is_found_at_its_sequence(platform: AuditedPlatform, tmp_path: Path) -> None:
    history = await build_history(platform)
    target = history.enrolment_of("pt-6")
    async with tampered_copy(tmp_path / "copy-byte", history, flip_byte(target, b'"pt-6"', at=4)) as copy:
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert not report.ok and report.ledger_compared
    assert report.first_bad_sequence == target, report.problems
    assert kinds_at(report, target) == {"changed"}, report.problems
    assert f"sequence {target}" in at(report, target)[0].message
    # The checkpoints covering it disagree too, but the exact difference explains them.
    assert all(problem.sequence == target for problem in report.problems), report.problems


async def test_a_deleted_event_is_found_at_its_sequence(platform: AuditedPlatform, tmp_path: Path) -> None:
    history = await build_history(platform)
    target = history.enrolment_of("pt-6")
    async with tampered_copy(tmp_path / "copy-deleted", history, delete(target)) as copy:
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert not report.ok
    assert report.events == len(history.messages) - 1
    assert report.first_bad_sequence == target, report.problems
    assert "changed" in kinds_at(report, target), report.problems


async def test_two_swapped_events_are_found_at_the_first(platform: AuditedPlatform, tmp_path: Path) -> None:
    history = await build_history(platform)
    target = history.adjacent_enrolments()
    async with tampered_copy(tmp_path / "copy-swapped", history, swap(target)) as copy:
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert not report.ok
    assert report.events == len(history.messages)
    assert report.first_bad_sequence == target, report.problems
    assert kinds_at(report, target) == {"changed"}, report.problems


async def test_a_forged_checkpoint_is_named_by_the_sequence_it_was_published_at(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    history = await build_history(platform)
    published_at, checkpoint, _ = history.checkpoints[0]

    # (a) A checkpoint on the stream whose note claims one event fewer, its signature unchanged.
    def altered_note(messages: list[Message]) -> list[Message]:
        subject, payload = messages[published_at - 1]
        old, new = f"\\n{checkpoint.size}\\n".encode(), f"\\n{checkpoint.size - 1}\\n".encode()
        assert payload.count(old) == 1
        messages[published_at - 1] = (subject, payload.replace(old, new))
        return messages

    async with tampered_copy(tmp_path / "copy-altered-note", history, altered_note) as copy:
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert not report.ok
    assert report.first_bad_sequence == published_at, report.problems
    forged = [problem for problem in at(report, published_at) if problem.kind == "checkpoint-forged"]
    assert forged and "does not verify" in forged[0].message, report.problems

    # (b) A checkpoint signed by another Ed25519 key under the log's name, appended to the
    # checkpoints subject: it signs the true size and root, so only the key is wrong.
    intruder = CheckpointSigner(Ed25519PrivateKey.generate(), checkpoint.origin)
    size = len(history.messages)
    root = root_of([leaf_hash(payload) for _, payload in history.messages])
    note = intruder.sign(Checkpoint(checkpoint.origin, size, root, ("time 2030-01-01T00:00:00.000000Z",)))
    subject, genuine = history.messages[published_at - 1]
    body = json.loads(genuine)
    body["id"] = str(uuid.uuid4())
    body["data"] = dict(body["data"], note=note, tree_size=size, root_hash=base64.b64encode(root).decode())

    def injected(messages: list[Message]) -> list[Message]:
        return [*messages, (subject, json.dumps(body).encode())]

    async with tampered_copy(tmp_path / "copy-other-key", history, injected) as copy:
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert not report.ok
    assert report.first_bad_sequence == size + 1, report.problems
    assert [(p.kind, "no signature by" in p.message) for p in report.problems] == [("checkpoint-forged", True)]


async def test_without_the_ledger_the_kept_checkpoints_bound_a_change_and_catch_a_truncation(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    """The auditor has the stream and the notes they saved, not the service's ledger."""
    history = await build_history(platform)
    target = history.enrolment_of("pt-6")
    low, high = history.bounds(target)
    assert low <= target <= high
    async with tampered_copy(tmp_path / "copy-byte", history, flip_byte(target, b'"pt-6"', at=4)) as copy:
        report = await verify_history(copy, platform.vkey, kept=history.kept)
    assert not report.ok and not report.ledger_compared
    assert report.first_bad_sequence == low, report.problems
    assert kinds_at(report, low) == {"checkpoint-mismatch"}, report.problems
    assert any(f"between sequence {low} and {high}" in problem.message for problem in report.problems), report.problems

    # Events removed from the end, below the size of the last checkpoint the auditor kept
    # (the checkpoints published after what is left are gone from the stream with them).
    last_kept = open_checkpoint(history.kept[-1][1], platform.vkey).size
    keep = last_kept - 2
    async with tampered_copy(tmp_path / "copy-truncated", history, truncate(keep)) as copy:
        without = await verify_history(copy, platform.vkey, kept=history.kept)
        with_ledger = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert without.events == keep and not without.ok
    assert without.first_bad_sequence == keep + 1, without.problems
    assert kinds_at(without, keep + 1) == {"truncated"}, without.problems
    assert f"from sequence {keep + 1} were removed" in at(without, keep + 1)[0].message
    # With the ledger the service's record of the removed events finds it too.
    assert not with_ledger.ok and with_ledger.first_bad_sequence == keep + 1, with_ledger.problems


async def test_without_the_ledger_a_deleted_event_is_bounded_by_the_kept_checkpoints(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    """The operator hides the last refused command: the final checkpoint, signed over it, now
    stands one sequence earlier, where it cannot be; the auditor's kept copy of that same
    note should still show the stream no longer matches it, after the checkpoint before."""
    history = await build_history(platform)
    target = history.of_type(".CommandRejected")[-1]
    assert target == len(history.messages) - 1  # just before the final checkpoint
    low, high = history.bounds(target)
    assert low < target == high
    async with tampered_copy(tmp_path / "copy-deleted", history, delete(target)) as copy:
        report = await verify_history(copy, platform.vkey, kept=history.kept)
    assert not report.ok
    assert report.first_bad_sequence == low, report.problems
    assert "checkpoint-mismatch" in kinds_at(report, low), report.problems
    # The genuine checkpoint now standing too early is not called forged: it was moved.
    assert "checkpoint-forged" not in {p.kind for p in report.problems}, report.problems
    assert "moved" in {p.kind for p in report.problems}, report.problems


async def test_an_untouched_copy_verifies_and_an_altered_ledger_is_told_from_an_altered_stream(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    history = await build_history(platform)
    target = history.enrolment_of("pt-6")
    async with tampered_copy(tmp_path / "copy-untouched", history, unchanged) as copy:
        for report in [await verify_history(copy, platform.vkey, ledger=ledger_of(platform), kept=history.kept),
                       await verify_history(copy, platform.vkey, kept=history.kept)]:
            assert report.ok and report.first_bad_sequence is None, report.problems
            assert report.events == len(history.messages)
            assert report.checkpoints >= 2
        # Now the service's record of one leaf is rewritten, the stream left as it was.
        with platform.audit.engine.begin() as conn:
            rewritten = conn.execute(update(audit_ledger.NODES)
                                     .where(audit_ledger.NODES.c.level == 0, audit_ledger.NODES.c.idx == target - 1)
                                     .values(hash=leaf_hash(b"not what was stored")))
            assert rewritten.rowcount == 1
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform))
    assert not report.ok
    assert report.first_bad_sequence == target, report.problems
    assert [problem.kind for problem in report.problems] == ["ledger-altered"]
    assert "agrees with the stream" in report.problems[0].message


async def test_events_really_deleted_from_a_stream_are_found_in_place_and_at_the_end(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    """Not a copy with the event left out (which renumbers), but the stream's own delete:
    the sequence stays empty. A hole in the middle is named; so is a removed end."""
    history = await build_history(platform)
    middle = history.enrolment_of("pt-6")
    last = len(history.messages)
    async with tampered_copy(tmp_path / "copy-real-deletes", history, unchanged, deletable=True) as copy:
        js = copy._js
        for sequence in (middle, last - 1, last):
            await js.delete_msg("PATHWAYS_EVENTS", sequence)
        report = await verify_history(copy, platform.vkey, ledger=ledger_of(platform), kept=history.kept)
    assert report.first_bad_sequence == middle, report.problems
    assert "gap" in kinds_at(report, middle)
    assert "truncated" in {p.kind for p in report.problems}, report.problems


async def test_one_event_dropped_from_the_middle_is_named_at_its_sequence_alone(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    """What the server does with an event whose bytes were flipped on disk: it drops it. The
    report named the gap right, but its headline was the intact event before it (a signed
    checkpoint's "somewhere after" the last good one), and it added a false "truncated"."""
    history = await build_history(platform)
    middle = history.enrolment_of("pt-6")
    async with tampered_copy(tmp_path / "copy-one-dropped", history, unchanged, deletable=True) as copy:
        await copy._js.delete_msg("PATHWAYS_EVENTS", middle)
        reports = [await verify_history(copy, platform.vkey, ledger=ledger_of(platform), kept=history.kept),
                   await verify_history(copy, platform.vkey, kept=history.kept)]
    with_ledger, without = reports
    assert with_ledger.first_bad_sequence == without.first_bad_sequence == middle
    assert [(p.sequence, p.kind) for p in with_ledger.problems] == [(middle, "gap")], with_ledger.problems
    # Without the ledger the checkpoints cannot rule out a change before the gap: said, not located.
    assert [(p.sequence, p.kind) for p in without.problems if p.sequence is not None] == [(middle, "gap")]
    assert {p.kind for p in without.problems if p.sequence is None} <= {"checkpoint-mismatch"}


async def test_a_change_before_a_gap_is_still_found_without_the_ledger(platform: AuditedPlatform, tmp_path: Path) -> None:
    """(found by a review) a gap must not hide a changed event before it: the checkpoints
    covering both still say the stream differs, and where it differs at the earliest."""
    history = await build_history(platform)
    changed, dropped = history.enrolment_of("pt-2"), history.enrolment_of("pt-6")
    assert changed < dropped
    async with tampered_copy(tmp_path / "copy-change-and-gap", history, flip_byte(changed, b'"pt-2"', at=4),
                             deletable=True) as copy:
        await copy._js.delete_msg("PATHWAYS_EVENTS", dropped)
        report = await verify_history(copy, platform.vkey, kept=history.kept)
    assert not report.ok
    assert report.first_bad_sequence is not None and report.first_bad_sequence <= changed, report.problems
    assert any(p.kind == "checkpoint-mismatch" for p in report.problems), report.problems


async def test_through_the_audit_service_runs_of_deleted_events_longer_than_a_page_are_named(
    platform: AuditedPlatform, tmp_path: Path
) -> None:
    """What an auditor reads (GET /audit/stream, a page at a time): a page whose events were
    all deleted comes back empty. The first HttpStream took that for the end of the stream,
    and verified the events before the gap as the whole history; the read goes on now."""
    from pathways_audit.sources import HttpStream

    history = await build_history(platform)
    async with tampered_copy(tmp_path / "copy-paged", history, unchanged, deletable=True) as copy:
        for sequence in (1, 2, 3, 4, 6, 7, 8, 9):  # at the front and in the middle, each longer than a page
            await copy._js.delete_msg("PATHWAYS_EVENTS", sequence)
        app = platform.audit.http_app()
        app.state.store = copy  # the audit service reading the tampered stream
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit",
                                     headers={"Authorization": f"Bearer {platform.auditor_token}"}) as auditor:
            stream = HttpStream(auditor)
            stream.PAGE = 3
            last = await copy.last_sequence()
            assert [e async for e in stream.read_all(1, last)] == [e async for e in copy.read_all(1, last)]
            report = await verify_history(stream, platform.vkey, kept=history.kept)
    assert [p.sequence for p in report.problems if p.kind == "gap"] == [1, 6], report.problems
    assert report.first_bad_sequence == 1

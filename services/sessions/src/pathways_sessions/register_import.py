"""A partner's spreadsheet register (one row per person at a session) turned into
ScheduleSession and RecordSessionDelivered commands, sent in command batches
(pathways.jetstream.batch), with a verdict for every row.

Idempotency keys are derived from the programme, the session and who attended, so
importing the same file again sends the same commands again and the platform answers
them as retries: nothing is added. People who cannot be recorded (not enrolled with the
partner, withdrawn, no consent) are reported against their rows, and the session is
recorded with everyone else."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

REQUIRED = ("session_id", "date", "start_time", "activity", "site", "duration_minutes", "capacity", "participant_id")
# Optional (a register without them imports as before: everyone listed attended).
ATTENDANCE = ("present", "excused", "unexcused")  # the `attendance` column; empty means present
OPTIONAL = ("attendance", "absence_reason")
# Sessions per batch (two commands each, within pathways.jetstream.batch.MAX_COMMANDS), and batches in
# flight at once: the service decides one while the one before is being stored.
SESSIONS_PER_BATCH = 200
WINDOW = 3
RETRIES = 5
Command = tuple[str, dict[str, Any], str]  # (command, data, idempotency key)
SendBatch = Callable[[list[Command]], Awaitable[list[dict[str, Any]]]]  # → a reply for each, in order


class RegisterFormatError(ValueError):
    """The file is not a register this importer can read at all."""


@dataclass
class RowResult:
    line: int
    session_id: str
    participant_id: str
    status: str = "pending"  # accepted | rejected
    message: str = ""
    attendance: str = "present"  # present | excused | unexcused
    reason: str = ""  # why they were absent, if given


@dataclass
class PlannedSession:
    session_id: str
    fields: tuple[str, str, str, str, int, int]  # date, start, activity, site, minutes, capacity
    rows: list[RowResult] = field(default_factory=list)


def read_register(text: str) -> tuple[list[PlannedSession], list[RowResult]]:
    """Parse and check the file. Returns the sessions to send and the rows already refused."""
    try:
        return _read_register(text)
    except csv.Error as err:  # a field past the csv module's limit, a NUL byte, an unclosed quote at the end
        raise RegisterFormatError(f"The register is not a CSV file the platform can read: {err}.") from None


def _read_register(text: str) -> tuple[list[PlannedSession], list[RowResult]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # a spreadsheet's byte-order mark
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RegisterFormatError(f"The register has no column {', '.join(missing)}. Expected columns: {', '.join(REQUIRED)}.")
    planned: dict[str, PlannedSession] = {}
    refused: list[RowResult] = []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        result = RowResult(number, row["session_id"], row["participant_id"], attendance=row.get("attendance", "").lower()
                           or "present", reason=row.get("absence_reason", ""))
        try:
            values = _session_fields(row)
            _attendance_of(result)
        except ValueError as err:
            refused.append(_refuse(result, str(err)))
            continue
        session = planned.setdefault(row["session_id"], PlannedSession(row["session_id"], values))
        if session.fields != values:
            refused.append(_refuse(result, f"Session '{row['session_id']}' appears earlier in the file with a different "
                                           "date, time, activity, site, duration or capacity."))
        elif any(r.participant_id == result.participant_id for r in session.rows):
            refused.append(_refuse(result, f"'{result.participant_id}' is already listed for this session above."))
        else:
            session.rows.append(result)
    return list(planned.values()), refused


def _session_fields(row: dict[str, str]) -> tuple[str, str, str, str, int, int]:
    for column in REQUIRED:
        if not row.get(column):
            raise ValueError(f"The '{column}' cell is empty.")
    try:
        day = date.fromisoformat(row["date"])
    except ValueError:
        raise ValueError(f"'{row['date']}' is not a date like 2026-01-31.") from None
    try:
        start = time.fromisoformat(row["start_time"])
    except ValueError:
        raise ValueError(f"'{row['start_time']}' is not a time like 14:30.") from None
    try:
        minutes, capacity = int(row["duration_minutes"]), int(row["capacity"])
    except ValueError:
        raise ValueError("duration_minutes and capacity must be whole numbers.") from None
    return day.isoformat(), start.isoformat("minutes"), row["activity"], row["site"], minutes, capacity


def _attendance_of(row: RowResult) -> None:
    if row.attendance not in ATTENDANCE:
        raise ValueError(f"'{row.attendance}' is not an attendance: write present, excused or unexcused (or leave it empty).")
    if row.reason and row.attendance == "present":
        raise ValueError("An absence reason is given for someone marked present.")
    if len(row.reason) > 200:
        raise ValueError("The absence reason is longer than 200 characters: a few words, never clinical detail.")


def _refuse(result: RowResult, message: str) -> RowResult:
    result.status, result.message = "rejected", message
    return result


async def import_register(
    programme_id: str, sessions: Iterable[PlannedSession], send: SendBatch,
    progress: Callable[[PlannedSession], None] | None = None, *, window: int = WINDOW,
    per_batch: int = SESSIONS_PER_BATCH,
) -> None:
    """Send the sessions' commands in batches and fill in every row's verdict.

    A batch carries each of its sessions' ScheduleSession followed by its
    RecordSessionDelivered: the service decides them in that order (the delivery sees the
    session it scheduled) and stores the whole batch's events in one atomic append, so the
    import runs at the store's batch speed rather than a round trip per command. `window`
    batches are in flight at once (a service decides one while the last is stored). Every
    session appears once in `sessions` (read_register merges its rows), so no two batches
    write one aggregate. If a send fails outright (no reply), the other batches stop too and
    the error is raised; their rows keep the verdicts they had reached."""
    planned = list(sessions)
    queue = iter([planned[i:i + per_batch] for i in range(0, len(planned), per_batch)])

    async def worker() -> None:
        for group in queue:  # one shared iterator: each batch is taken by one worker
            await _import_batch(programme_id, [_Progress(s) for s in group], send, progress)

    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the other workers
            for _ in range(max(1, window)):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # what the callers report (no reply, no connection)


@dataclass
class _Progress:
    """Where one session's import stands between batches."""

    session: PlannedSession
    scheduled: bool = False
    pending: list[RowResult] = field(default_factory=list)
    busy: int = 0  # times the service said it could not take the session's command just now

    def __post_init__(self) -> None:
        self.pending = list(self.session.rows)


async def _import_batch(programme_id: str, group: list[_Progress], send: SendBatch,
                        progress: Callable[[PlannedSession], None] | None) -> None:
    """Send the group's commands until every row has its verdict. A command the service
    could not take just now (its views still catching up, with many in flight) is sent
    again, with the same key so it cannot count twice; a delivery that names people who
    cannot be recorded is sent again without them."""
    while group:
        commands: list[tuple[_Progress, Command]] = []
        for p in group:
            if not p.scheduled:
                commands.append((p, _schedule(programme_id, p.session)))
            commands.append((p, _delivered(programme_id, p.session, p.pending)))
        replies = await send([c for _, c in commands])
        answered = iter(zip(commands, replies, strict=True))
        for (p, (command, _, _)), reply in answered:
            if command == "ScheduleSession":
                if not _schedule_answered(p, reply):
                    next(answered)  # its delivery was decided on a session that is not scheduled
                    continue
            else:
                _delivery_answered(p, reply)
        done = [p for p in group if not p.pending]
        for p in done:
            if progress:
                progress(p.session)
        group = [p for p in group if p.pending]
        if any(p.busy for p in group):
            await asyncio.sleep(min(2.0, 0.05 * 2 ** max(p.busy for p in group)) * (0.5 + random.random()))


def _schedule_answered(p: _Progress, reply: dict[str, Any]) -> bool:
    """Whether the session is scheduled now (or was already)."""
    if reply["status"] == "accepted" or _detail(reply, "reason") == "already_scheduled":
        p.scheduled = True
        return True
    if _busy(p, reply):
        return False
    for row in p.pending:
        _refuse(row, f"The session could not be scheduled: {reply['message']}")
    p.pending = []
    return False


def _delivery_answered(p: _Progress, reply: dict[str, Any]) -> None:
    if reply["status"] == "accepted":
        for row in p.pending:
            row.status, row.message = "accepted", (f"Recorded at session '{p.session.session_id}'." if row.attendance == "present"
                                                   else f"Recorded as {row.attendance} absent from '{p.session.session_id}'.")
        p.pending = []
        return
    if _busy(p, reply):
        return
    ineligible = set(_detail(reply, "ineligible") or [])
    refused = [r for r in p.pending if r.participant_id in ineligible] if ineligible else p.pending
    for row in refused:  # without ineligible people named, the session as a whole was refused
        _refuse(row, reply["message"])
    p.pending = [r for r in p.pending if r not in refused]


def _busy(p: _Progress, reply: dict[str, Any]) -> bool:
    """The service could not take the command just now: send it again, up to RETRIES times."""
    if reply.get("code") != "unavailable":
        return False
    p.busy += 1
    if p.busy <= RETRIES:
        return True
    for row in p.pending:
        _refuse(row, reply["message"])
    p.pending = []
    return True


def _schedule(programme_id: str, session: PlannedSession) -> Command:
    day, start, activity, site, minutes, capacity = session.fields
    return ("ScheduleSession", {
        "programme_id": programme_id, "session_id": session.session_id, "activity": activity, "site": site,
        "starts_at": datetime.combine(date.fromisoformat(day), time.fromisoformat(start)).isoformat() + "Z",
        "duration_minutes": minutes, "capacity": capacity,
    }, f"register/{programme_id}/{session.session_id}/schedule")


def _delivered(programme_id: str, session: PlannedSession, rows: list[RowResult]) -> Command:
    """Who is still to be recorded: keyed by them, so a delivery sent again without the
    people it could not record is a command of its own."""
    attendees = sorted(r.participant_id for r in rows if r.attendance == "present")
    absences = [{"participant_id": r.participant_id, "kind": r.attendance} | ({"reason": r.reason} if r.reason else {})
                for r in sorted(rows, key=lambda r: r.participant_id) if r.attendance != "present"]
    # A register without absences keys its delivery as it always has, so a file imported
    # before absences existed is recognised as the same commands when imported again.
    keyed = attendees + [f"{a['participant_id']}:{a['kind']}:{a.get('reason', '')}" for a in absences]
    key = hashlib.sha256("\n".join(keyed).encode()).hexdigest()[:16]
    return ("RecordSessionDelivered", {
        "programme_id": programme_id, "session_id": session.session_id, "attendees": attendees,
        "duration_minutes": session.fields[4], "delivered_on": session.fields[0],
    } | ({"absences": absences} if absences else {}), f"register/{programme_id}/{session.session_id}/delivered/{key}")


def _detail(reply: dict[str, Any], key: str) -> Any:
    for detail in reply.get("details") or []:
        if key in detail:
            return detail[key]
    return None


def report_csv(rows: Iterable[RowResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["line", "session_id", "participant_id", "status", "message"])
    for r in sorted(rows, key=lambda r: r.line):
        writer.writerow([r.line, r.session_id, r.participant_id, r.status, r.message])
    return out.getvalue()

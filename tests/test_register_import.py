"""`pathways import attendance`: a partner's spreadsheet register becomes commands, every
row gets a verdict, and importing the same file again adds nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client
from pathways.core.batch_wire import replies_of
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint
from pathways_sessions.register_import import RETRIES, Command, SendBatch, import_register, read_register

from tests.conftest import CommandClient, appended_since, enrolment, setup_programme, signed_in, unique

PATHWAYS = str(Path(sys.executable).parent / "pathways")


async def pathways(endpoint: NatsEndpoint, home: Path, *args: str) -> tuple[int, str]:
    env = os.environ | {"PATHWAYS_NATS_URL": endpoint.connection.nats_url, "PATHWAYS_NATS_USER": endpoint.connection.user or "",
                        "PATHWAYS_NATS_PASSWORD": endpoint.connection.password or "", "PATHWAYS_HOME": str(home),
                        "COLUMNS": "250"}
    proc = await asyncio.create_subprocess_exec(PATHWAYS, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def test_a_register_imports_with_a_verdict_per_row_and_a_second_import_adds_nothing(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint,
    tmp_path: Path,
) -> None:
    s = await setup_programme(client)
    p1, p2, no_consent, stranger = unique("p"), unique("p"), unique("p"), unique("p")
    for person, consent in [(p1, True), (p2, True), (no_consent, False)]:
        reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person, consent_given=consent))
        assert reply["status"] == "accepted"
    s1, s2, s3 = unique("s"), unique("s"), unique("s")
    header = "session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id"
    rows = [
        f"{s1},2026-01-13,10:00,soft archery,Ward 3,60,4,{p1}",        # line 2: recorded
        f"{s1},2026-01-13,10:00,soft archery,Ward 3,60,4,{p2}",        # line 3: recorded
        f"{s1},2026-01-13,10:00,soft archery,Ward 3,60,4,{stranger}",  # line 4: not enrolled
        f"{s2},2026-01-20,14:30,music production,Studio,90,6,{no_consent}",  # line 5: no consent
        f"{s2},2026-01-20,14:30,music production,Studio,90,6,{p1}",    # line 6: recorded
        f"{s2},2026-13-20,14:30,music production,Studio,90,6,{p2}",    # line 7: not a date
        f"{s2},2026-01-20,14:30,music production,Studio,90,6,",        # line 8: empty cell
        f"{s3},2026-01-27,10:00,Skydiving,Airfield,60,4,{p2}",         # line 9: activity not commissioned
        f"{s1},2026-01-13,10:00,soft archery,Ward 3,60,4,{p1}",        # line 10: listed twice
    ]
    register = tmp_path / "register.csv"
    register.write_text("\ufeff" + "\n".join([header, *rows]) + "\n")
    report = tmp_path / "report.csv"
    before = await JetStreamEventStore(nats_client).last_sequence()
    code, out = await pathways(nats_server, tmp_path, "import", "attendance", str(register), "--programme", s.programme_id,
                               "--as", s.partner_a, "--report", str(report))
    assert code == 1, out
    assert "3 rows recorded, 6 rejected, across 3 sessions" in out, out
    verdicts = {int(r["line"]): (r["status"], r["message"]) for r in csv.DictReader(io.StringIO(report.read_text()))}
    assert {line for line, (status, _) in verdicts.items() if status == "accepted"} == {2, 3, 6}
    assert "not enrolled with" in verdicts[4][1] and stranger in verdicts[4][1]
    assert "without consent" in verdicts[5][1]
    assert "not a date" in verdicts[7][1] and "'participant_id' cell is empty" in verdicts[8][1]
    assert "could not be scheduled" in verdicts[9][1] and "Skydiving" in verdicts[9][1]
    assert "already listed" in verdicts[10][1]
    appended, refusals = await appended_since(nats_client, before)
    assert len(appended) == 4  # two sessions scheduled, two deliveries (the skydiving session was refused)
    assert refusals and all(b".CommandRejected" in e.payload for e in refusals)  # each on the record for auditors

    first_report = report.read_text()
    code, out = await pathways(nats_server, tmp_path, "import", "attendance", str(register), "--programme", s.programme_id,
                               "--as", s.partner_a, "--report", str(report))
    assert code == 1 and report.read_text() == first_report
    assert (await appended_since(nats_client, before))[0] == appended


async def test_a_file_that_is_not_a_register_is_refused_whole(nats_server: NatsEndpoint, tmp_path: Path) -> None:
    register = tmp_path / "wrong.csv"
    register.write_text("name,date\nSomeone,2026-01-01\n")
    code, out = await pathways(nats_server, tmp_path, "import", "attendance", str(register), "--programme", "p", "--as", "x")
    assert code == 2 and "no column session_id" in out


async def test_the_same_register_can_be_uploaded_over_http(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client
) -> None:

    s = await setup_programme(client)
    p1, stranger = unique("p"), unique("p")
    assert (await client.send(s.partner_b, "EnrolParticipant", enrolment(s.programme_id, p1)))["status"] == "accepted"
    session = unique("s")
    register = ("session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id\n"
                f"{session},2026-02-02,11:00,music production,Studio,60,4,{p1}\n"
                f"{session},2026-02-02,11:00,music production,Studio,60,4,{stranger}\n")
    async with await signed_in(sessions, s.partner_b, "partner") as http:
        params = {"programme": s.programme_id, "organisation": s.partner_b}
        first = await http.post("/imports/attendance", params=params, content=register, headers={"content-type": "text/csv"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["recorded"], body["rejected"]) == (1, 1)
        assert [r["status"] for r in body["rows"]] == ["accepted", "rejected"] and stranger in body["rows"][1]["message"]
        last = await JetStreamEventStore(nats_client).last_sequence()
        again = await http.post("/imports/attendance", params=params, content=register, headers={"content-type": "text/csv"})
        assert again.json() == body
        assert (await appended_since(nats_client, last))[0] == []  # nothing new but the refusal's record
        wrong = await http.post("/imports/attendance", params=params, content="a,b\n1,2\n", headers={"content-type": "text/csv"})
        assert wrong.status_code == 422 and "no column" in wrong.json()["detail"][0]["msg"]
        # A field past the csv module's limit was a 500 (_csv.Error): a bad file is a 422.
        huge_field = register.splitlines()[0] + "\n" + f"{session},2026-02-02,11:00,{'x' * 200_000},Studio,60,4,{p1}\n"
        refused = await http.post("/imports/attendance", params=params, content=huge_field, headers={"content-type": "text/csv"})
        assert refused.status_code == 422 and "CSV" in refused.json()["detail"][0]["msg"], refused.text[:200]
        # Past the upload limit (30 MiB was read whole, then a 500): 413, unread.
        from pathways.runtime.bodylimit import MAX_UPLOAD
        too_big = await http.post("/imports/attendance", params=params, content=b"x" * (MAX_UPLOAD + 1),
                                  headers={"content-type": "text/csv"})
        assert too_big.status_code == 413


async def test_a_register_goes_as_command_batches_each_session_in_order_stored_in_atomic_batches(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    """Sent one after another, every command was its own append (one fsync each); sent
    concurrently, each still paid a round trip and a view read. A register now goes as
    command batches: each batch holds a session's schedule before its delivery, and the
    events of a whole batch go to the store in one atomic batch."""
    s = await setup_programme(client)
    people = [unique("p") for _ in range(4)]
    for person in people:
        assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person)))["status"] == "accepted"
    session_ids = [unique("s") for _ in range(40)]
    register = "session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id\n" + "\n".join([
        f"{sid},2026-02-{1 + n % 28:02d},10:00,soft archery,Ward 3,60,6,{person}"
        for n, sid in enumerate(session_ids) for person in people])
    planned, refused = read_register(register)
    batches: list[list[tuple[str, str]]] = []

    async def send(commands: list[Command]) -> list[dict[str, Any]]:
        batches.append([(command, data["session_id"]) for command, data, _ in commands])
        answer = await client.send_batch(s.partner_a, commands, context="sessions")
        return replies_of(answer, len(commands))

    before = await JetStreamEventStore(nats_client).last_sequence()
    await import_register(s.programme_id, planned, send, per_batch=16)
    assert refused == [] and {r.status for p in planned for r in p.rows} == {"accepted"}
    assert [len(b) for b in batches] == [32, 32, 16]  # 16, 16 and 8 sessions of two commands each
    for batch in batches:
        for sid in {sid for _, sid in batch}:
            assert [c for c, x in batch if x == sid] == ["ScheduleSession", "RecordSessionDelivered"]
    appended, _ = await appended_since(nats_client, before)
    assert len(appended) == 2 * len(session_ids)
    # Each stored message keeps the id of the atomic batch it came in (a lone append has none).
    commits = set()
    for event in appended:
        stored = await nats_client.jsm().get_msg("PATHWAYS_EVENTS", event.sequence, direct=True)
        commits.add((stored.headers or {}).get("Nats-Batch-Id") or str(event.sequence))
    assert len(commits) <= len(batches)  # a batch's events in one commit (group commit may join two)


# --- the importer, with a made-up transport ---------------------------------------------


def _answering(busy: dict[str, int], sent: list[tuple[str, str]]) -> SendBatch:
    async def send(commands: list[Command]) -> list[dict[str, Any]]:
        out = []
        for command, _, key in commands:
            sent.append((command, key))
            if busy.get(key):
                busy[key] -= 1
                out.append({"status": "rejected", "code": "unavailable", "message": "catching up"})
            else:
                out.append({"status": "accepted", "event_ids": ["e"], "sequence": 1})
        return out

    return send


async def test_a_command_the_service_could_not_take_is_sent_again_and_a_lost_connection_stops_the_import() -> None:
    planned, _ = read_register("session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id\n"
                               "s1,2026-01-13,10:00,yoga,Hall,60,4,p1\ns2,2026-01-14,10:00,yoga,Hall,60,4,p2\n")
    sent: list[tuple[str, str]] = []
    busy = {"register/prog/s1/schedule": 2}  # the service says "unavailable" twice, then takes it
    await import_register("prog", planned, _answering(busy, sent))
    assert sent.count(("ScheduleSession", "register/prog/s1/schedule")) == 3
    assert sent.count(("ScheduleSession", "register/prog/s2/schedule")) == 1  # taken the first time: not sent again
    assert [r.status for p in planned for r in p.rows] == ["accepted", "accepted"]

    planned, _ = read_register("session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id\n"
                               "s1,2026-01-13,10:00,yoga,Hall,60,4,p1\n")
    busy = {"register/prog/s1/schedule": RETRIES + 1}  # never taken: the rows say so, the import ends
    await import_register("prog", planned, _answering(busy, sent))
    assert planned[0].rows[0].status == "rejected" and "catching up" in planned[0].rows[0].message

    async def unreachable(commands: list[Command]) -> list[dict[str, Any]]:
        raise nats.errors.TimeoutError

    planned, _ = read_register("session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id\n"
                               "s1,2026-01-13,10:00,yoga,Hall,60,4,p1\n")
    with pytest.raises(nats.errors.TimeoutError):  # itself, as the CLI reports it, not wrapped in a group
        await import_register("prog", planned, unreachable)
    assert planned[0].rows[0].status == "pending"

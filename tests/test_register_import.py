"""`pathways import attendance`: a partner's spreadsheet register becomes commands, every
row gets a verdict, and importing the same file again adds nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path

from nats.aio.client import Client
from pathways.eventstore.jetstream import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint

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
        assert wrong.status_code == 422 and "no column" in wrong.json()["detail"]

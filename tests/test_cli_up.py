"""`pathways up` as a user runs it: the embedded server (authenticated, never open) and
the services come up, connection.json tells a client how to connect, `status` and
`programme show` work, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import nats.errors
import pytest
from pathways.runtime.connection import ConnectionInfo

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, unique

PATHWAYS = str(Path(sys.executable).parent / "pathways")


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PATHWAYS, *args], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"PATHWAYS_HOME": str(home), "COLUMNS": "200"} | (env or {}))


async def test_up_status_programme_show_and_clean_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # A long-running process beside the event loop, not a command awaited: Popen does not block.
    env = os.environ | {"PATHWAYS_HOME": str(home), "COLUMNS": "200"}
    up = subprocess.Popen([PATHWAYS, "up", "--demo"], env=env, stdout=subprocess.PIPE,  # noqa: ASYNC220
                          stderr=subprocess.STDOUT, text=True)
    try:
        connection_json = home / "connection.json"
        deadline = time.monotonic() + 240  # the services start first (the demo loads after, while they run)
        while not connection_json.exists():
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            assert time.monotonic() < deadline, "pathways up did not become ready"
            await asyncio.sleep(0.2)
        assert oct(connection_json.stat().st_mode & 0o777) == "0o600"
        connection = ConnectionInfo.read(connection_json)
        assert "platform's own" in json.loads(connection_json.read_text())["about"]  # not a partner's credentials
        assert connection.user and connection.password
        assert set(connection.services) == {"registry", "sessions", "payments", "evaluation", "reporting", "audit"}
        assert "sync_interval: always" in (home / "nats-server.conf").read_text()

        with pytest.raises(nats.errors.Error):  # no credentials, no connection
            await nats.connect(connection.nats_url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)

        nc = await connection.connect("cli-test")
        client = CommandClient(nc)
        s = await setup_programme(client)
        people = [unique("p"), unique("p")]
        for p in people:
            assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
        run_id = await every_service_takes_a_command(client, s, people)
        await nc.close()
        for _ in range(50):  # the payments ledger shows the run a moment after it is accepted
            exported = run(home, "payments", "run-csv", s.programme_id, run_id, "--out", str(tmp_path / "run.csv"))
            if exported.returncode != 1:
                break
            await asyncio.sleep(0.2)
        assert exported.returncode == 0, exported.stderr
        assert (tmp_path / "run.csv").read_text().splitlines()[1].split(",")[3] == "30.00"

        status = run(home, "status")
        assert status.returncode == 0 and "PATHWAYS_EVENTS" in status.stdout and "up" in status.stdout, status.stdout
        # One server: one copy of each stream and bucket, with its leader, and no cluster warning.
        assert "KV_PATHWAYS_PERSON_KEYS" in status.stdout and "R1, leader" in status.stdout, status.stdout
        assert "one copy on a cluster" not in status.stdout
        shown = None
        for _ in range(50):
            shown = run(home, "programme", "show", s.programme_id, "--json")
            if shown.returncode == 0 and json.loads(shown.stdout)["unique_participants"] == 2:
                break
            await asyncio.sleep(0.2)
        assert shown is not None and json.loads(shown.stdout)["unique_participants"] == 2, shown
        table = run(home, "programme", "show", s.programme_id)
        assert "Unique participants programme-wide" in table.stdout
        missing = run(home, "programme", "show", unique("nope"))
        assert missing.returncode == 1 and "no programme" in missing.stdout
        await tokens_work_across_processes(home, connection, s)
        await retention_and_subject_access_from_the_cli(home, connection, s, tmp_path)
        await survey_links_from_the_cli(home, connection, s, tmp_path)
        await the_demo_is_on_the_dashboard(home, connection)
        await the_ledger_is_signed(home)
    finally:
        up.send_signal(signal.SIGTERM)  # as a process manager stops it; Ctrl-C takes the same path
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert "Pathways is running" in output and "Stopped" in output
    assert "0 failed" in output and "demo-tokens.json" in output
    assert "A survey to answer as a person taking part would" in output and "/s/" in output
    # Every service ran as its own NATS user, and none was refused anything it needed.
    accounts = json.loads((home / "service-credentials.json").read_text())
    assert set(accounts) == {"registry", "sessions", "payments", "evaluation", "reporting", "audit"}
    assert "Violation" not in (home / "nats-server.log").read_text()
    assert not (home / "connection.json").exists()
    after = run(home, "status")
    assert after.returncode == 1 and "pathways up" in after.stderr + after.stdout


async def retention_and_subject_access_from_the_cli(home: Path, connection: ConnectionInfo, s: ProgrammeSetup,
                                                   out: Path) -> None:
    """`pathways retention show|run` and `pathways participant export` as the operator runs them."""
    nc = await connection.connect("cli-test-retention")
    client = CommandClient(nc)
    person = unique("pt")
    made_up = {"name": "Perpetua Quillfeather", "date_of_birth": "1961-02-14"}
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person) | {
        "personal": made_up}))["status"] == "accepted"
    assert (await client.send(s.commissioner, "SetRetentionRule", {"programme_id": s.programme_id,
                                                                   "years_after_end": 0}))["status"] == "accepted"
    await nc.close()
    for _ in range(50):  # the registry's read model has the enrolment a moment after it is accepted
        shown = run(home, "retention", "show", s.programme_id)
        if person in shown.stdout:
            break
        await asyncio.sleep(0.2)
    assert shown.returncode == 0 and person in shown.stdout and "erases them now" in shown.stdout, shown.stdout
    dry = run(home, "retention", "run", s.programme_id, "--dry-run")
    assert dry.returncode == 0 and person in dry.stdout and "Erased" not in dry.stdout, dry.stdout
    erased = run(home, "retention", "run", s.programme_id)
    assert erased.returncode == 0 and "Erased the personal details of 1 of 1 enrolments" in erased.stdout, erased.stdout
    exported = run(home, "participant", "export", person, "--programme", s.programme_id,
                   "-o", str(out / "sar.json"), "--html", str(out / "sar.html"))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert oct((out / "sar.json").stat().st_mode & 0o777) == "0o600"
    found = json.loads((out / "sar.json").read_text())
    assert [e["type"].rsplit(".", 1)[1] for e in found["events"]] == ["ParticipantEnrolled", "ParticipantDataErased"]
    assert "Perpetua" not in (out / "sar.json").read_text() + (out / "sar.html").read_text()
    missing = run(home, "participant", "export", unique("pt"), "--programme", s.programme_id, "-o", str(out / "x.json"))
    assert missing.returncode == 1 and "There is no" in missing.stdout


async def survey_links_from_the_cli(home: Path, connection: ConnectionInfo, s: ProgrammeSetup, out: Path) -> None:
    """`pathways survey links` as a partner runs it, with its own token: a printable sheet of QR
    codes, each link's address answerable once on the evaluation service's page."""
    from pathways.policy.access import TokenStore

    nc = await connection.connect("cli-test-surveys")
    try:
        token = await TokenStore(nc).issue(s.partner_a, "partner")
    finally:
        await nc.close()
    args = ("survey", "links", s.programme_id, "--as", s.partner_a, "--survey", "tokenism-checklist",
            "--group", "participant", "-n", "3", "--sheet", str(out / "sheet.html"))
    unsigned = run(home, *args)
    assert unsigned.returncode == 2 and "PATHWAYS_TOKEN" in unsigned.stdout, unsigned.stdout
    issued = run(home, *args, env={"PATHWAYS_TOKEN": token})
    assert issued.returncode == 0, issued.stdout + issued.stderr
    sheet = (out / "sheet.html").read_text()
    urls = [line.split("<p class=\"address\">", 1)[1].split("<", 1)[0] for line in sheet.splitlines()
            if "class=\"address\"" in line]
    assert len(urls) == 3 and sheet.count("<svg") == 3 and all(u.startswith(connection.services["evaluation"]) for u in urls)
    async with httpx.AsyncClient(timeout=30) as http:  # the services are busy loading the demo meanwhile
        for _ in range(50):  # the link is on the page a moment after it is issued
            shown = await http.get(urls[0])
            if shown.status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert shown.status_code == 200 and "Were you really involved?" in shown.text
        done = await http.post(urls[0], data={"q-no_expenses_or_fee": "1"})
        assert done.status_code == 200 and "saved" in done.text
    refused = run(home, "survey", "links", s.programme_id, "--as", s.partner_a, "--survey", "tokenism-checklist",
                  "--group", "commissioner", env={"PATHWAYS_TOKEN": token})
    assert refused.returncode == 1 and "asks its own staff" in refused.stdout, refused.stdout


async def demo_tokens(home: Path) -> dict[str, str]:
    """The tokens the demo hands out when it has loaded. connection.json is written once the
    services are up, before the demo loads, so the steps before this one may finish first."""
    deadline = time.monotonic() + 240
    while True:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):  # absent, or being written
            tokens: dict[str, str] = json.loads((home / "demo-tokens.json").read_text())
            return tokens
        assert time.monotonic() < deadline, "pathways up --demo did not hand out the demo's tokens"
        await asyncio.sleep(0.3)


async def the_demo_is_on_the_dashboard(home: Path, connection: ConnectionInfo) -> None:
    """`make run` (pathways up --demo) leaves a living dashboard: the made-up programme's
    commissioner signs in with the token the demo handed out and sees its year."""
    tokens = await demo_tokens(home)
    assert oct((home / "demo-tokens.json").stat().st_mode & 0o777) == "0o600"
    commissioner = next(org for org in tokens if "harbourside" in org)
    async with httpx.AsyncClient(base_url=connection.services["reporting"]) as browser:
        signed_in = await browser.post("/login", data={"token": tokens[commissioner]})
        assert signed_in.status_code == 303
        for _ in range(100):  # reporting catches up with the demo's events
            page = await browser.get("/dashboard", follow_redirects=True)
            if 'data-figure="participants">143<' in page.text:
                break
            await asyncio.sleep(0.3)
        assert 'data-figure="participants">143<' in page.text, page.text[:500]
        assert "Bridges to Independence" in page.text


async def the_ledger_is_signed(home: Path) -> None:
    """The audit service of `pathways up` signs checkpoints with the key `up` keeps in
    $PATHWAYS_HOME/audit; the demo's auditor fetches one and checks it with the public half."""
    key = home / "audit" / "ledger.key"
    assert key.stat().st_mode & 0o777 == 0o600
    env = {"PATHWAYS_TOKEN": (await demo_tokens(home))["demo-auditor"]}
    kept = None
    for _ in range(100):  # the first checkpoint follows the demo within seconds
        kept = run(home, "audit", "checkpoint", "-o", str(home / "kept.checkpoint"), "--key", str(key.with_suffix(".vkey")),
                   env=env)
        if kept.returncode == 0:
            break
        await asyncio.sleep(0.3)
    assert kept is not None and kept.returncode == 0 and "Verified" in kept.stderr, kept


async def tokens_work_across_processes(home: Path, connection: ConnectionInfo, s: ProgrammeSetup) -> None:
    """`pathways tokens issue` gives a token the reporting service (another process) accepts;
    `pathways tokens revoke` stops it on the next request, with no restart."""
    issued = run(home, "tokens", "issue", s.commissioner, "--role", "commissioner", "--out", str(home / "token.txt"))
    assert issued.returncode == 0, issued.stderr
    token = (home / "token.txt").read_text().strip()
    assert oct((home / "token.txt").stat().st_mode & 0o777) == "0o600" and token.startswith("pwt_")
    summary = f"{connection.services['reporting']}/programmes/{s.programme_id}/summary"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(50):  # reporting shows the participants a moment after they are enrolled
            response = await http.get(summary)
            if response.status_code == 200 and response.json()["participants"]["unique"] == 2:
                break
            await asyncio.sleep(0.2)
        assert response.status_code == 200 and response.json()["participants"]["unique"] == 2, response.text
        listed = run(home, "tokens", "list")
        assert s.commissioner in listed.stdout and token not in listed.stdout
        assert run(home, "tokens", "revoke", s.commissioner).returncode == 0
        assert (await http.get(summary)).status_code == 401
    assert run(home, "tokens", "issue", s.commissioner, "--role", "chief").returncode == 2


async def every_service_takes_a_command(client: CommandClient, s: ProgrammeSetup, people: list[str]) -> str:
    """Sessions, payments and evaluation each accept a command under `pathways up`;
    returns the id of the payment run issued."""
    session = {"programme_id": s.programme_id, "session_id": unique("session"), "activity": "soft archery", "site": "Ward 3",
               "starts_at": "2026-01-13T10:00:00Z", "duration_minutes": 60, "capacity": 6}
    assert (await client.send(s.partner_a, "ScheduleSession", session, context="sessions"))["status"] == "accepted"
    delivered = {"programme_id": s.programme_id, "session_id": session["session_id"], "attendees": people, "duration_minutes": 55}
    assert (await client.send(s.partner_a, "RecordSessionDelivered", delivered, context="sessions"))["status"] == "accepted"
    baseline = {"programme_id": s.programme_id, "participant_id": people[0], "measurement_id": unique("m"),
                "instrument": "SWEMWBS", "timepoint": "baseline", "measured_on": "2026-01-13", "answers": [3] * 7}
    assert (await client.send(s.partner_a, "RecordOutcome", baseline, context="evaluation"))["status"] == "accepted"
    cp = unique("cp")
    assert (await client.send(s.partner_a, "RegisterCoProducer", {"programme_id": s.programme_id, "co_producer_id": cp,
                                                                 "role": "co-facilitator", "hourly_rate_pence": 1500,
                                                                 "receives_benefits": False}))["status"] == "accepted"
    involvement = {"programme_id": s.programme_id, "contract_id": "contract-0", "involvement_id": unique("inv"),
                   "co_producer_id": cp, "worked_on": "2026-01-13", "minutes": 120, "activity": "Co-facilitating"}
    assert (await client.send(s.partner_a, "RecordInvolvement", involvement, context="payments"))["status"] == "accepted"
    run_id = unique("run")
    issued = await client.send(s.commissioner, "IssuePaymentRun", {"programme_id": s.programme_id, "run_id": run_id,
                                                                    "up_to": "2026-01-31"}, context="payments")
    assert issued["status"] == "accepted", issued
    return run_id

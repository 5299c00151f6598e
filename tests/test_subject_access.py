"""Subject access and retention (issue 18) over real NATS: the export holds exactly the
events that name the person, across the registry, sessions and evaluation (checked against a
list built by hand as the commands are sent), with other people taken out, their personal
details opened only where the asker may open them, and who read their records; each export
is itself recorded. The retention rule's dry run lists whom it would erase and erases no one;
its run erases them, and the audit ledger still verifies."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import pytest
from pathways.core.ids import OPERATOR_ORGANISATION
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.personal import DetailsErased, EnrolmentRef, PersonKeys
from pathways.runtime.host import ServiceHost
from pathways_audit.sources import DatabaseLedger
from pathways_audit.verify import verify_history

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, signed_in, unique
from tests.test_personal_data import (
    PEOPLE,
    Platform,
    enrol_people,
    everywhere,
    on_disk,
    platform,
    signed_checkpoint,
    vkey,
)
from tests.test_reporting import caught_up

__all__ = ["platform"]  # the fixture, shared with the personal data tests


class Sent:
    """Commands sent, and the sequences of the events about the person, noted by hand."""

    def __init__(self, client: CommandClient) -> None:
        self.client = client
        self.about_them: list[int] = []

    async def ok(self, org: str, command: str, data: dict[str, Any], context: str = "registry", *,
                 theirs: bool) -> None:
        reply = await self.client.send(org, command, data, context=context)
        assert reply["status"] == "accepted", reply
        if theirs:
            self.about_them.append(reply["sequence"])


async def export(host: ServiceHost, org: str, role: str, s: ProgrammeSetup, person: str, page: str = "export") -> Any:
    await host.caught_up()
    async with await signed_in(host, org, role) as http:
        answer = await http.get(f"/programmes/{s.programme_id}/participants/{person}/{page}")
    return answer if page != "export" or answer.status_code != 200 else answer.json()


async def test_the_export_holds_every_event_naming_the_person_and_nothing_else(
    registry: ServiceHost, sessions: ServiceHost, evaluation: ServiceHost, client: CommandClient,
) -> None:
    s = await setup_programme(client)
    sent = Sent(client)
    person, other, absent = unique("pt"), unique("pt"), unique("pt")
    g, a, b = s.programme_id, s.partner_a, s.partner_b
    await sent.ok(a, "EnrolParticipant", enrolment(g, person) | {"personal": PEOPLE["pt-marigold"]}, theirs=True)
    for someone in (other, absent):
        await sent.ok(a, "EnrolParticipant", enrolment(g, someone), theirs=False)
    await sent.ok(a, "RecordConsent", {"programme_id": g, "participant_id": person, "on": "2025-11-04",
                                       "purposes": ["photographs_and_showcases"]}, theirs=True)
    session = unique("session")
    await sent.ok(a, "ScheduleSession", {"programme_id": g, "session_id": session, "activity": "soft archery",
                                         "site": "Ward 3", "starts_at": "2025-11-10T10:00:00Z", "duration_minutes": 60,
                                         "capacity": 8}, "sessions", theirs=False)
    await sent.ok(a, "RecordSessionDelivered", {"programme_id": g, "session_id": session, "attendees": [person, other],
                                                "duration_minutes": 60,
                                                "absences": [{"participant_id": absent, "kind": "excused",
                                                              "reason": "ward review"}]}, "sessions", theirs=True)
    await sent.ok(a, "HoldShowcase", {"programme_id": g, "showcase_id": unique("show"), "title": "Music night",
                                      "held_on": "2025-12-01", "venue": "The Lighthouse", "activities": ["music"],
                                      "featured_participants": [person], "audience": 40}, "sessions", theirs=True)
    await sent.ok(a, "RecordOutcome", {"programme_id": g, "participant_id": person, "measurement_id": unique("m"),
                                       "instrument": "SWEMWBS", "timepoint": "baseline", "measured_on": "2025-11-10",
                                       "answers": [3, 4, 2, 5, 3, 4, 3]}, "evaluation", theirs=True)
    await sent.ok(a, "RecordOutcome", {"programme_id": g, "participant_id": other, "measurement_id": unique("m"),
                                       "instrument": "SWEMWBS", "timepoint": "baseline", "measured_on": "2025-11-10",
                                       "answers": [3, 4, 2, 5, 3, 4, 3]}, "evaluation", theirs=False)
    # The same person enrolled with the other partner too: the commissioner's export has it, partner A's not.
    b_enrolment = Sent(client)
    await b_enrolment.ok(b, "EnrolParticipant", enrolment(g, person, enrolled_on="2025-12-10"), theirs=True)
    await registry.caught_up()
    async with await signed_in(registry, a, "partner") as partner:  # a read of their records, to be listed
        assert (await partner.get(f"/programmes/{g}/participants/{person}/identity")).status_code == 200
    async with await signed_in(registry, b, "partner") as partner:  # B's read is B's: not in A's export
        assert (await partner.get(f"/programmes/{g}/participants/{person}/export")).status_code == 200

    mine = await export(registry, a, "partner", s, person)
    assert [e["sequence"] for e in mine["events"]] == sent.about_them
    assert mine["enrolled_with"] == [a]
    delivered = next(e for e in mine["events"] if e["type"].endswith("SessionDelivered"))
    assert delivered["data"]["attendees"] == [person] and delivered["data"]["absences"] == []  # no one else's
    assert [d["name"] for d in mine["personal_details"]] == ["Marigold Featherstonehaugh"]
    assert [(r["organisation"], r["resource"].split("/")[-1]) for r in mine["reads"]] == [(a, "identity")]
    assert "Safeguarding concerns are not part of this export" in mine["left_out"]

    everyone = await export(registry, s.commissioner, "commissioner", s, person)
    assert [e["sequence"] for e in everyone["events"]] == sorted(sent.about_them + b_enrolment.about_them)
    assert everyone["enrolled_with"] == [a, b]
    # The person shares with the commissioner (enrolment's consent): partner A's record opens for it.
    assert [(d["partner_id"], d.get("nhs_number")) for d in everyone["personal_details"]] == [(a, "9990012345")]
    # Each export is an access: the commissioner's lists B's and A's exports after A's read.
    assert [(r["organisation"], r["resource"].split("/")[-1]) for r in everyone["reads"]] == [
        (a, "identity"), (b, "export"), (a, "export")]
    operator = await export(registry, OPERATOR_ORGANISATION, "operator", s, person)
    assert operator["personal_details"] == [] and len(operator["events"]) == len(everyone["events"])

    page = await export(registry, a, "partner", s, person, "export.html")
    assert page.status_code == 200 and "Marigold Featherstonehaugh" in page.text and "Session delivered" in page.text
    assert other not in page.text and absent not in page.text
    for org, role, status in [(s.evaluator, "evaluator", 403), (unique("auditor"), "auditor", 403),
                              (unique("partner"), "partner", 404), (unique("commissioner"), "commissioner", 404)]:
        denied = await export(registry, org, role, s, person, "export.html")
        assert denied.status_code == status and "Marigold" not in denied.text, (role, denied.text)
    assert (await export(registry, b, "partner", s, unique("pt"), "export.html")).status_code == 404

    # Once the person stops sharing with the commissioner through partner A, the commissioner's
    # export holds none of A's records; with no enrolment sharing, it has none at all.
    for partner in (a, b):
        await sent.ok(partner, "WithdrawConsent", {"programme_id": g, "participant_id": person, "on": "2026-01-04",
                                                   "purposes": ["sharing_with_commissioner"]}, theirs=False)
        answer = await export(registry, s.commissioner, "commissioner", s, person, "export" if partner == a else "export.html")
        if partner == a:
            assert answer["enrolled_with"] == [b] and answer["personal_details"] == []
            assert {e["sequence"] for e in answer["events"]} == set(b_enrolment.about_them)
            assert {r["organisation"] for r in answer["reads"]} == {b, s.commissioner, OPERATOR_ORGANISATION}  # not A's
        else:
            assert answer.status_code == 404 and person not in answer.text.replace(f"'{person}'", "")


async def test_the_retention_rule_erases_only_when_due_and_its_dry_run_erases_no_one(
    platform: Platform, capfd: pytest.CaptureFixture[str],
) -> None:
    p, s = platform, platform.s
    await enrol_people(p)
    await p.client.send(s.partner_b, "EnrolParticipant", enrolment(s.programme_id, "pt-no-details"))
    keys = PersonKeys(p.nc)
    stored = {person: base64.b64encode(await keys.existing(EnrolmentRef(s.programme_id, s.partner_a, person)))
              for person in PEOPLE}

    async def due() -> Any:
        await caught_up(p.registry, p.nc)
        async with await signed_in(p.registry, s.commissioner, "commissioner") as commissioner:
            return (await commissioner.get(f"/programmes/{s.programme_id}/retention")).json()

    def apply(person: str, partner: str | None = None) -> dict[str, Any]:
        return {"programme_id": s.programme_id, "partner_id": partner or s.partner_a, "participant_id": person}

    assert (await due())["years_after_end"] is None
    none_yet = await p.client.send(OPERATOR_ORGANISATION, "ApplyRetention", apply("pt-osric"))
    assert none_yet["code"] == "rule_violation" and "no retention rule" in none_yet["message"]
    # Far enough on from today whenever the test runs: the programme ends 2026-09-30.
    later = date.today().year - 2026 + 5
    rule = {"programme_id": s.programme_id, "years_after_end": later}
    assert (await p.client.send(s.partner_a, "SetRetentionRule", rule))["code"] == "forbidden"
    assert (await p.client.send(s.commissioner, "SetRetentionRule", rule))["status"] == "accepted"
    dry = await due()
    assert (dry["erases_from"], dry["due"]) == (f"{2026 + later}-10-01", False)
    assert [(r["partner_id"], r["participant_id"]) for r in dry["to_erase"]] == [(s.partner_a, person) for person in
                                                                                  sorted(PEOPLE)]
    early = await p.client.send(OPERATOR_ORGANISATION, "ApplyRetention", apply("pt-osric"))
    assert early["code"] == "rule_violation" and f"from {2026 + later}-10-01, not before" in early["message"]
    assert all(on_disk(p, key) for key in stored.values())  # the dry run and the refusals erased nothing

    assert (await p.client.send(s.commissioner, "SetRetentionRule", rule | {"years_after_end": 0}))["status"] == "accepted"
    assert (await due())["due"] is True
    assert (await p.client.send(s.partner_b, "ApplyRetention", apply("pt-osric")))["code"] == "forbidden"
    for person in sorted(PEOPLE):  # what `pathways retention run` sends, as the operator and as the commissioner
        sender = OPERATOR_ORGANISATION if person == "pt-marigold" else s.commissioner
        assert (await p.client.send(sender, "ApplyRetention", apply(person)))["status"] == "accepted"
    again = await p.client.send(OPERATOR_ORGANISATION, "ApplyRetention", apply("pt-osric"))
    assert again["code"] == "rule_violation" and "already erased" in again["message"]
    for person, key in stored.items():
        with pytest.raises(DetailsErased):
            await keys.existing(EnrolmentRef(s.programme_id, s.partner_a, person))
        assert not on_disk(p, key), person
    assert (await due())["to_erase"] == []
    async with await signed_in(p.registry, s.partner_a, "partner") as partner:
        gone = await partner.get(f"/programmes/{s.programme_id}/participants/pt-osric/identity")
        assert gone.status_code == 410 and "Osric" not in gone.text

    await signed_checkpoint(p)
    report = await verify_history(JetStreamEventStore(p.nc), vkey(p), ledger=DatabaseLedger(p.audit.engine))
    assert report.ok, report.problems
    secrets = [v for person in PEOPLE.values() for v in person.values()]
    assert [secret for secret in secrets if secret in everywhere(p, capfd.readouterr().err)] == []


def test_the_rule_erases_from_the_day_after_the_last_whole_year() -> None:
    """`ends_on` is a day the programme still runs; a year from 29 February is 1 March."""
    from pathways_registry.domain.retention import due_on

    assert due_on(date(2026, 9, 30), 0) == date(2026, 10, 1)
    assert due_on(date(2026, 9, 30), 5) == date(2031, 10, 1)
    assert due_on(date(2028, 2, 28), 1) == date(2029, 3, 1)  # from 29 February 2028: no 29th in 2029
    assert due_on(date(2027, 2, 28), 1) == date(2028, 3, 1)
    assert due_on(date(2028, 2, 29), 4) == date(2032, 3, 1)
    assert due_on(date(2026, 9, 30), None) is None


def test_the_export_looks_in_every_field_of_every_event_that_names_participants() -> None:
    """Every field of any service's event whose name says it holds participants (at any depth,
    an absence's too) is one the export reads: a new one would otherwise be left out."""
    from pathways.runtime.service import discover
    from pathways_registry.subject_access import NAMING_FIELDS
    from pydantic import BaseModel

    def fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
        found: set[str] = set()
        for name, info in model.model_fields.items():
            if "participant" in name or name in ("attendees",):
                found.add(name)
            for inner in (*getattr(info.annotation, "__args__", ()), info.annotation):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                    found |= fields(inner, seen | {inner})
        return found

    named: set[str] = set()
    for service in discover().values():
        for schema in service.schemas.events.values():
            named |= fields(schema.model, {schema.model})
    from pathways.policy.accountability import ParticipantRecordsRead

    named |= fields(ParticipantRecordsRead, set())
    assert {"participant_id", "attendees", "featured_participants", "participant_ids"} <= named
    assert named <= set(NAMING_FIELDS), named - set(NAMING_FIELDS)

"""A batch answers each command as if it had been sent alone, in the batch's order: the same
commands sent one by one to one world and as one batch to an identical second world get the
same replies and store the same events. The cases are the ones a single read per batch
would get wrong:
- a programme read whoever commissioned it (a wildcard read), launched earlier in the batch;
- payments facts from the ledger the batch's own commands change (an approval, then the
  payment run that pays it; earnings that pass a benefits limit across two records).
And a command that fails for a reason of the platform's own costs that command, not the batch."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from pathways.core.commands import CommandHandler
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, unique
from tests.test_payments import accepted, claim, co_producer, decision, involvement

Sent = list[tuple[str, dict[str, Any], str]]


async def one_by_one(client: CommandClient, org: str, commands: Sent, context: str) -> list[dict[str, Any]]:
    out = []
    for command, data, key in commands:
        body = {"idempotency_key": key, "organisation": org, "actor": "tester", "data": data}
        out.append(await client.send(org, command, data, context=context, body=body))
    return out


def outcome(replies: list[dict[str, Any]]) -> list[tuple[str, str | None, int]]:
    return [(r["status"], r.get("code"), len(r.get("event_ids", []))) for r in replies]


async def same_as_alone(client: CommandClient, org_of: Any, worlds: tuple[Any, Any], commands_for: Any,
                        context: str) -> list[tuple[str, str | None, int]]:
    """The commands for world one sent one by one, those for world two as a batch: the
    same outcome for each command."""
    alone_world, batch_world = worlds
    alone = await one_by_one(client, org_of(alone_world), commands_for(alone_world), context)
    batched = (await client.send_batch(org_of(batch_world), commands_for(batch_world), context=context))["replies"]
    assert outcome(batched) == outcome(alone), [r.get("message") for r in batched]
    return outcome(alone)


async def test_a_programme_launched_earlier_in_a_batch_is_seen_by_a_wildcard_read(
    registry: ServiceHost, client: CommandClient
) -> None:
    worlds = (await setup_programme(client), await setup_programme(client))
    programme = {id(w): unique("prog") for w in worlds}

    def commands(s: ProgrammeSetup) -> Sent:
        p = programme[id(s)]
        launch = {"programme_id": p, "name": "A second programme (test)", "aims": ["Connecting with communities"],
                  "starts_on": "2026-01-01", "ends_on": "2026-12-31", "budget_pence": 1_000_000}
        commission = {"programme_id": p, "contract_id": "contract-0", "partner_id": s.partner_a, "budget_pence": 100_000,
                      "activities": ["soft archery"], "starts_on": "2026-01-01", "ends_on": "2026-12-31"}
        return [
            ("LaunchProgramme", launch, "launch"),
            ("CommissionPartner", commission, "commission"),  # reads the programme whoever commissioned it
            ("LaunchProgramme", launch | {"name": "Again"}, "launch-again"),  # the id is taken
            ("CommissionPartner", commission | {"contract_id": "contract-1"}, "commission-1"),
        ]

    got = await same_as_alone(client, lambda s: s.commissioner, worlds, commands, "registry")
    assert [status for status, _, _ in got] == ["accepted", "accepted", "rejected", "accepted"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_payments_decided_on_the_ledger_the_batch_itself_changes(
    registry: ServiceHost, payments: ServiceHost, client: CommandClient, seed: int
) -> None:
    """Approvals, payment runs (one sent twice) in a shuffled order from the commissioner;
    then a partner's hours, each its own record."""
    prepared: dict[int, dict[str, Any]] = {}
    worlds = []
    for _ in range(2):
        s = await setup_programme(client, budget_pence=1_600_000)
        cp = await co_producer(client, s, s.partner_a, benefits=True)
        claims = [claim(s, cp, 640), claim(s, cp, 999)]
        for c in claims:
            await accepted(client, s.partner_a, "ClaimExpense", c)
        for day in ("2026-03-02", "2026-03-09", "2026-03-16"):  # 27 hours at £15: £405 in March
            await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 9 * 60, on=day))
        prepared[id(s)] = {"cp": cp, "claims": claims}
        worlds.append(s)

    order = list(range(6))
    random.Random(seed).shuffle(order)

    def commissioner(s: ProgrammeSetup) -> Sent:
        c = prepared[id(s)]["claims"]
        run = {"programme_id": s.programme_id, "run_id": "run-1", "up_to": "2026-03-31"}
        every = [
            ("ApproveExpense", decision(s, c[0]), "approve-0"),
            ("ApproveExpense", decision(s, c[1]), "approve-1"),
            ("IssuePaymentRun", run, "run-1"),
            ("IssuePaymentRun", run | {"run_id": "run-2"}, "run-2"),
            ("IssuePaymentRun", run, "run-1"),  # the same command again: the same answer
            ("ApproveExpense", decision(s, c[0]), "approve-0-again"),  # decided already
        ]
        return [every[i] for i in order]

    await same_as_alone(client, lambda s: s.commissioner, (worlds[0], worlds[1]), commissioner, "payments")

    def partner(s: ProgrammeSetup) -> Sent:
        cp = prepared[id(s)]["cp"]
        return [("RecordInvolvement", involvement(s, cp, 60, on=day) | {"involvement_id": f"inv-{day}"}, day)
                for day in ("2026-03-20", "2026-03-27", "2026-03-30")]

    got = await same_as_alone(client, lambda s: s.partner_a, (worlds[0], worlds[1]), partner, "payments")
    # Each hour is its own record (the earnings limits are checked when time is paid, at the run).
    assert [g[:2] for g in got] == [("accepted", None)] * 3 and all(g[2] == 1 for g in got), got
    # Waiting for the views moved the runner on where nothing it reads was stored; that is
    # no rebuild swapped in behind it, so its consumer was never made again.
    assert [r.reseeks for r in payments.runners] == [0]


async def test_a_command_that_fails_unexpectedly_costs_that_command_not_the_batch(
    registry: ServiceHost, client: CommandClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await setup_programme(client)
    people = [unique("p") for _ in range(3)]
    broken = unique("broken")
    handlers = dict(registry.intake.handlers)
    consent = handlers["RecordConsent"]

    def decide(cmd: Any, ctx: Any, state: Any, facts: Any) -> Any:
        if cmd.participant_id == broken:
            raise RuntimeError("a bug in one rule")
        return consent.decide(cmd, ctx, state, facts)

    handlers["RecordConsent"] = CommandHandler(consent.model, consent.target, decide)
    monkeypatch.setattr(registry.intake, "handlers", handlers)
    commands: Sent = [("EnrolParticipant", enrolment(s.programme_id, p, consent_given=False), uuid.uuid4().hex)
                      for p in [people[0], broken, people[1]]]
    commands += [("RecordConsent", {"programme_id": s.programme_id, "participant_id": p, "on": "2026-01-05"},
                  uuid.uuid4().hex) for p in [people[0], broken, people[1]]]
    replies = (await client.send_batch(s.partner_a, commands))["replies"]
    assert [(r["status"], r.get("code")) for r in replies] == [("accepted", None)] * 4 + [
        ("rejected", "unavailable"), ("accepted", None)]


async def test_a_retry_in_a_batch_runs_the_commands_follow_up_again(
    registry: ServiceHost, client: CommandClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure's follow-up (deleting the person's key) runs on the first sending and again
    on the retry, so a step interrupted by a crash is completed, as on the single path."""
    s = await setup_programme(client)
    person = unique("p")
    followed: list[str] = []
    real = registry.intake.after

    async def after(asked: Any) -> None:
        followed.append(asked.ctx.command)
        await real(asked)

    monkeypatch.setattr(registry.intake, "after", after)
    commands: Sent = [("EnrolParticipant", enrolment(s.programme_id, person), "enrol"),
                      ("EraseParticipantData", {"programme_id": s.programme_id, "participant_id": person,
                                                "on": "2026-02-01"}, "erase")]
    for _ in range(2):
        replies = (await client.send_batch(s.partner_a, commands))["replies"]
        assert [r["status"] for r in replies] == ["accepted", "accepted"], replies
    assert followed.count("EraseParticipantData") == 2


async def test_two_kinds_of_aggregate_on_one_id_in_a_batch_as_if_sent_alone(
    registry: ServiceHost, client: CommandClient
) -> None:
    """A participant and a co-producer live on subjects of the same shape, so one id can be
    both: sent alone, the second is refused as the id is taken; in a batch too, and never
    both stored on one subject."""
    worlds = (await setup_programme(client), await setup_programme(client))

    def commands(s: ProgrammeSetup) -> Sent:
        shared = unique("id")
        return [("EnrolParticipant", enrolment(s.programme_id, shared), uuid.uuid4().hex),
                ("RegisterCoProducer", {"programme_id": s.programme_id, "co_producer_id": shared,
                                        "role": "lived experience adviser", "hourly_rate_pence": 1500,
                                        "receives_benefits": False}, uuid.uuid4().hex)]

    seen = await same_as_alone(client, lambda s: s.partner_a, worlds, commands, "registry")
    assert [status for status, _, _ in seen] == ["accepted", "rejected"]


async def test_a_store_failure_unsettles_every_later_answer_of_the_batch(
    registry: ServiceHost, client: CommandClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails for its own reasons (not a conflict): the refusal decided after the
    unstored enrolment ("already enrolled") does not stand; both are told to send again, and
    the resend gets the answers the commands deserve."""
    s = await setup_programme(client)
    person = unique("p")
    real = registry.intake.append
    failures = iter([RuntimeError("the store went away")])

    async def append(request: Any) -> Any:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await real(request)

    monkeypatch.setattr(registry.intake, "append", append)
    commands: Sent = [("EnrolParticipant", enrolment(s.programme_id, person), uuid.uuid4().hex),
                      ("EnrolParticipant", enrolment(s.programme_id, person), uuid.uuid4().hex)]
    first = (await client.send_batch(s.partner_a, commands))["replies"]
    assert [(r["status"], r.get("code")) for r in first] == [("rejected", "unavailable")] * 2
    again = (await client.send_batch(s.partner_a, commands))["replies"]
    assert [r["status"] for r in again] == ["accepted", "rejected"], again

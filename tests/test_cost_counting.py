"""What a command and a projection batch cost, proven by counting instead of timing:
store reads and bytes read per command as an aggregate's history grows, SQL statements per
projection batch as the batch grows, and G1 with two instances whose caches disagree."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.core.eventstore.base import AppendRequest, NewEvent, StoredEvent
from pathways.core.intake import CommandIntake
from pathways.core.projection import apply_batch
from pathways.core.readmodels import make_engine
from pathways.core.replies import Reply
from pathways.jetstream.store import MAX_BATCH_MESSAGES, JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways_registry.app import service as registry_service
from pathways_registry.readmodel import ENROLMENT, ROSTER
from sqlalchemy import Engine, event

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, unique


def body(org: str, programme_id: str, participant: str) -> bytes:
    return json.dumps({"idempotency_key": uuid.uuid4().hex, "organisation": org, "actor": "tester",
                       "data": {"programme_id": programme_id, "participant_id": participant, "on": "2026-01-05"}}).encode()


def intake_of(store: JetStreamEventStore) -> CommandIntake:
    """A registry intake of its own: its own cache, as a second instance of the service has."""
    return CommandIntake("registry", registry_service.handlers, store, registry_service.schemas)


@dataclass
class Enrolment:
    participant: str
    subject: str
    consenting: bool


async def enrolment_with_history(client: CommandClient, nc: Client, s: ProgrammeSetup, events: int) -> Enrolment:
    """A participant's enrolment holding `events` events: enrolled, then consent recorded and
    withdrawn in turn (the registry's own first two changes, stored again with new ids, as
    a long-lived enrolment would hold them)."""
    p = unique("p")
    enrolled = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p, consent_given=False))
    assert enrolled["status"] == "accepted"
    for command in ("RecordConsent", "WithdrawConsent"):
        reply = await client.send(s.partner_a, command, {"programme_id": s.programme_id, "participant_id": p, "on": "2026-01-05"})
        assert reply["status"] == "accepted", reply
    store = JetStreamEventStore(nc, timeout=60)
    subject = f"pathways.evt.{s.programme_id}.{s.partner_a}.registry.{p}"
    recorded, withdrawn = (stored.event for stored in (await store.read_subject(subject))[1:3])
    copies = [NewEvent.of(subject, (recorded if i % 2 == 0 else withdrawn).model_copy(update={"id": str(uuid.uuid4())}))
              for i in range(events - 3)]
    for start in range(0, len(copies), MAX_BATCH_MESSAGES):
        await store.append(AppendRequest(copies[start:start + MAX_BATCH_MESSAGES], {}))
    assert len(await store.read_subject(subject)) == events
    return Enrolment(p, subject, consenting=(events - 3) % 2 == 1)


async def toggle(intake: CommandIntake, s: ProgrammeSetup, e: Enrolment) -> Reply:
    reply = await intake.handle(s.partner_a, "WithdrawConsent" if e.consenting else "RecordConsent",
                                body(s.partner_a, s.programme_id, e.participant))
    assert reply.status == "accepted", reply
    e.consenting = not e.consenting
    return reply


@dataclass
class Cost:
    reads: int
    bytes_read: int


async def cost_of_next_command(intake: CommandIntake, store: JetStreamEventStore, s: ProgrammeSetup, e: Enrolment) -> Cost:
    reads, read = store.reads, store.bytes_read
    await toggle(intake, s, e)
    return Cost(store.reads - reads, store.bytes_read - read)


async def test_a_command_reads_the_same_whether_its_aggregate_holds_10_or_10_000_events(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    short = await enrolment_with_history(client, nats_client, s, 10)
    long = await enrolment_with_history(client, nats_client, s, 10_000)
    store = JetStreamEventStore(nats_client)
    intake = intake_of(store)
    first = {}
    for e in (short, long):
        # The first command of a fresh instance reads the history once (nothing is held)...
        first[e.participant] = await cost_of_next_command(intake, store, s, e)
    costs = {e.participant: [await cost_of_next_command(intake, store, s, e) for _ in range(3)] for e in (short, long)}
    # ...and that read is what the history costs: the counter sees history when it is read.
    assert first[long.participant].bytes_read > 500 * first[short.participant].bytes_read
    # Every command after it: one read (where the subject stands), the same bytes.
    for cost_short, cost_long in zip(costs[short.participant], costs[long.participant], strict=True):
        assert cost_short.reads == cost_long.reads == 1
        assert abs(cost_short.bytes_read - cost_long.bytes_read) <= 64, (cost_short, cost_long)
        assert cost_long.bytes_read < 2_000  # the last event on the subject, not its history
    assert intake.loader.cache.stats.hits >= 6


async def test_an_instance_behind_reads_only_the_events_it_missed(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    """Another instance wrote: the one behind reads the tail after what it holds, not the history."""
    s = await setup_programme(client)
    e = await enrolment_with_history(client, nats_client, s, 3_000)
    mine, other = JetStreamEventStore(nats_client), JetStreamEventStore(nats_client)
    a, b = intake_of(mine), intake_of(other)
    await toggle(a, s, e)
    await toggle(b, s, e)
    await toggle(b, s, e)  # a now holds the enrolment two events behind
    cost = await cost_of_next_command(a, mine, s, e)
    assert cost.reads == 2  # where it stands, then the two events it missed
    assert cost.bytes_read < 3 * 2_000
    assert a.loader.cache.stats.refreshed >= 1


class Turns(JetStreamEventStore):
    """The real store, with one interleaving forced: the follower reads, the leader then
    appends, and only then does the follower append — it has decided on a state that is
    no longer the last one."""

    def __init__(self, nc: Client, *, leader: bool, follower_read: asyncio.Event, leader_appended: asyncio.Event) -> None:
        super().__init__(nc)
        self.leader = leader
        self.follower_read = follower_read
        self.leader_appended = leader_appended
        self.racing = False

    async def latest(self, subjects: Any) -> Any:
        answer = await super().latest(subjects)
        if self.racing and not self.leader:
            self.follower_read.set()
        return answer

    async def append(self, request: AppendRequest) -> Any:
        if not self.racing:
            return await super().append(request)
        if self.leader:
            await self.follower_read.wait()
            try:
                return await super().append(request)
            finally:
                self.leader_appended.set()
        await self.leader_appended.wait()
        return await super().append(request)


@pytest.mark.parametrize("stale", ["follower", "leader"])
async def test_g1_two_instances_one_holding_a_stale_aggregate_give_exactly_one_winner(
    registry: ServiceHost, client: CommandClient, nats_client: Client, stale: str
) -> None:
    s = await setup_programme(client)
    e = await enrolment_with_history(client, nats_client, s, 50)
    follower_read, leader_appended = asyncio.Event(), asyncio.Event()
    leader_store = Turns(nats_client, leader=True, follower_read=follower_read, leader_appended=leader_appended)
    follower_store = Turns(nats_client, leader=False, follower_read=follower_read, leader_appended=leader_appended)
    leader, follower = intake_of(leader_store), intake_of(follower_store)
    # Both hold the enrolment; then the other instance moves it on, so one holds it stale.
    await toggle(leader, s, e)
    await toggle(follower, s, e)
    await toggle(leader if stale == "follower" else follower, s, e)
    before = len(await leader_store.read_subject(e.subject))
    leader_store.racing = follower_store.racing = True
    command = "WithdrawConsent" if e.consenting else "RecordConsent"
    replies = await asyncio.gather(
        leader.handle(s.partner_a, command, body(s.partner_a, s.programme_id, e.participant)),
        follower.handle(s.partner_a, command, body(s.partner_a, s.programme_id, e.participant)),
    )
    assert [r.status for r in replies] == ["accepted", "rejected"]
    assert replies[1].code in {"conflict", "rule_violation"}  # type: ignore[union-attr]
    history = await leader_store.read_subject(e.subject)
    assert len(history) == before + 1
    # The loser refreshed: its next decision is made on the state the winner left.
    leader_store.racing = follower_store.racing = False
    e.consenting = not e.consenting
    await toggle(follower, s, e)
    assert len(await leader_store.read_subject(e.subject)) == before + 2


async def test_g1_two_service_instances_over_nats_exactly_one_wins_each_round(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: Any, tmp_path: Any
) -> None:
    """A second registry process beside the fixture's, both in the queue group: rounds of
    identical commands land on both instances (each cache is stale whenever the other
    wrote), and each round has exactly one winner."""
    from tests.conftest import running

    s = await setup_programme(client)
    e = await enrolment_with_history(client, nats_client, s, 20)
    (tmp_path / "second").mkdir()
    async with running(registry_service, nats_server, tmp_path / "second") as second:
        for _ in range(8):
            command = "WithdrawConsent" if e.consenting else "RecordConsent"
            data = {"programme_id": s.programme_id, "participant_id": e.participant, "on": "2026-01-05"}
            replies = await asyncio.gather(*(client.send(s.partner_a, command, data) for _ in range(12)))
            assert sum(r["status"] == "accepted" for r in replies) == 1
            e.consenting = not e.consenting
        both = [registry.intake, second.intake]
        assert all(i is not None and i.loader.cache.stats.hits + i.loader.cache.stats.refreshed > 0 for i in both)
    assert len(await JetStreamEventStore(nats_client).read_subject(e.subject)) == 28


# --- SQL statements per projection batch ------------------------------------------------


async def enrolment_template(client: CommandClient, nats_client: Client) -> StoredEvent:
    """One ParticipantEnrolled as the registry stored it, to copy (`enrolled_events`)."""
    s = await setup_programme(client)
    p = unique("p")
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    return (await JetStreamEventStore(nats_client).read_subject(f"pathways.evt.{s.programme_id}.{s.partner_a}.registry.{p}"))[0]


def enrolled_events(template: StoredEvent, count: int, start: int) -> list[StoredEvent]:
    """`count` enrolments shaped exactly like a stored one, with made-up participant ids."""
    out = []
    for i in range(count):
        participant = f"p-count-{i:06d}"
        cloud = template.event
        copy = cloud.model_copy(update={"id": str(uuid.uuid4()), "subject": participant,
                                        "data": cloud.data | {"participant_id": participant}})
        subject = template.subject.rsplit(".", 1)[0] + "." + participant
        out.append(StoredEvent(start + i, subject, copy.to_bytes(), datetime.now(UTC)))
    return out


def counted(engine: Engine) -> list[str]:
    statements: list[str] = []
    # Transaction control is not counted: the driver begins SQLite's transactions unseen, and a
    # runner's BEGIN IMMEDIATE (pathways.core.positions) only says when.
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: None if sql.startswith("BEGIN") else statements.append(sql))
    return statements


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_sql_statements_per_projection_batch_do_not_grow_with_the_batch(
    registry: ServiceHost, client: CommandClient, nats_client: Client, request: pytest.FixtureRequest,
    tmp_path: Any, database: str,
) -> None:
    template = await enrolment_template(client, nats_client)
    per_batch = {}
    for size in (10, 2_000):
        url = request.getfixturevalue("fresh_postgres") if database == "postgres" else f"sqlite:///{tmp_path / f'{size}.db'}"
        engine = make_engine(url)
        for table in ROSTER.tables:
            table.create(engine, checkfirst=True)
        tables = ROSTER.live_tables()
        statements = counted(engine)
        with engine.begin() as conn:
            position = apply_batch(conn, ROSTER, tables, ROSTER.name, enrolled_events(template, size, 1))
        assert position == size
        with engine.connect() as conn:
            assert len(conn.execute(ENROLMENT.select()).all()) == size  # every event was applied
        per_batch[size] = list(statements)
        engine.dispose()
    assert len(per_batch[10]) == len(per_batch[2_000]), per_batch
    assert len(per_batch[2_000]) <= 2 + 2 * len(ROSTER.tables)  # position read and write, a few per table


async def test_a_runner_far_behind_with_several_filters_catches_up_from_history_and_matches_a_rebuild(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service whose read models read two contexts, started behind the stream: it reads
    the history through the store's one-filter reader, then goes on live, and ends where a
    rebuild ends."""
    import pathways.jetstream.runner as runner_module
    from pathways.core.projection import dump
    from pathways.core.rebuild import rebuild
    from pathways_sessions.readmodel import SESSION_LOG

    monkeypatch.setattr(runner_module, "CATCH_UP_FROM", 1)
    s = await setup_programme(client)
    for i in range(6):
        await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique(f"p{i}")))
    engine = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    runner = runner_module.ProjectionRunner([ROSTER, SESSION_LOG], engine, nats_client)
    assert runner.subjects is not None and len(runner.subjects) == 2
    monkeypatch.setattr(runner_module, "BATCH", 2)  # several history batches
    lags: list[int] = []  # the lag reported as each batch is applied
    apply = runner._apply
    runner._apply = lambda events, looked: (lags.append(runner.lag.pending), apply(events, looked))[1]  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.catch_up(), 120)
        assert runner.caught_up_from_history > 0
        assert max(lags) > 0, lags  # behind while reading the history, not reported as caught up
        late = unique("late")
        await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, late))  # delivered live
        await asyncio.wait_for(runner.catch_up(), 60)
        assert runner.lag.pending == 0
    finally:
        stop.set()
        await running
    store = JetStreamEventStore(nats_client)
    last = runner.position
    clean = make_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    for projection in (ROSTER, SESSION_LOG):
        await rebuild(projection, clean, store, until=last)
        assert dump(engine, projection) == dump(clean, projection)


# --- the rebuild reads ahead while it writes ----------------------------------------------


async def test_a_rebuild_that_reads_ahead_applies_every_batch_in_order_and_a_failed_one_leaves_the_live_tables(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rebuild reads the next batch while the last is written: with batches of 7 over 60
    events every row is there and the position is the last event's; a batch that fails to
    apply fails the rebuild (not skipped while the reading goes on), and the read model
    keeps the figures it had."""
    import pathways.core.rebuild as rebuild_module
    from pathways.core.eventstore.memory import InMemoryEventStore
    from pathways.core.projection import dump
    from pathways.core.rebuild import rebuild

    template = await enrolment_template(client, nats_client)
    store = InMemoryEventStore()
    store._events = enrolled_events(template, 60, 1)
    engine = make_engine(f"sqlite:///{tmp_path / 'ahead.db'}")
    applied: list[int] = []  # first sequence of each batch, in the order they are written
    read_ahead, writing, most_at_once = [], [0], [0]
    real_apply, real_read = rebuild_module._apply_in_txn, store.read_all
    read = [0]  # the furthest sequence the rebuild has been given

    async def reading(*args: Any, **kwargs: Any) -> Any:
        async for stored in real_read(*args, **kwargs):
            read[0] = stored.sequence
            yield stored

    def watched(engine: Any, projection: Any, tables: Any, name: str, events: list[StoredEvent], *rest: Any) -> int:
        writing[0] += 1
        most_at_once[0] = max(most_at_once[0], writing[0])
        try:
            if events:
                applied.append(events[0].sequence)
                time.sleep(0.05)  # a slow write: the reading goes on meanwhile
                read_ahead.append(read[0] > events[-1].sequence)
            return real_apply(engine, projection, tables, name, events, *rest)
        finally:
            writing[0] -= 1

    monkeypatch.setattr(store, "read_all", reading)
    monkeypatch.setattr(rebuild_module, "_apply_in_txn", watched)
    assert await rebuild(ROSTER, engine, store, batch_size=7) == 60
    assert applied == sorted(applied) and len(applied) == 9  # 8 full batches and the rest, in order
    assert most_at_once[0] == 1  # one batch in the database's hands at a time
    assert sum(read_ahead) >= 7, read_ahead  # the next batch was read while each full one was written
    with engine.connect() as conn:
        assert len(conn.execute(ENROLMENT.select()).all()) == 60
    before = dump(engine, ROSTER)

    store._events = enrolled_events(template, 60, 1)[:30]  # a rebuild that should end with 30 rows, but fails
    failing_from = 15

    def failing(engine: Any, projection: Any, tables: Any, name: str, events: list[StoredEvent], *rest: Any) -> int:
        if events and events[0].sequence >= failing_from:
            raise RuntimeError("the database refused the batch (injected)")
        return real_apply(engine, projection, tables, name, events, *rest)

    monkeypatch.setattr(rebuild_module, "_apply_in_txn", failing)
    with pytest.raises(RuntimeError, match="injected"):
        await rebuild(ROSTER, engine, store, batch_size=7)
    assert dump(engine, ROSTER) == before  # readers still see the complete old figures
    engine.dispose()


async def test_a_small_read_model_decodes_only_the_events_that_name_its_types(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every runner reads every event of its contexts: the registry's governance read model
    (safeguarding, retention, agreements) is handed each enrolment, and must not decode it.
    Counted: decodes of stored events per batch of 10 or 2,000 enrolments, and one concern."""
    from pathways_registry.app import service

    governance = next(p for p in service.projections if p.name == "registry_governance")
    assert governance.type_markers is not None and ROSTER.type_markers is None  # the roster handles nearly every type
    s = await setup_programme(client)
    p = unique("p")
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    rule = {"programme_id": s.programme_id, "years_after_end": 3}
    assert (await client.send(s.commissioner, "SetRetentionRule", rule))["status"] == "accepted"
    store = JetStreamEventStore(nats_client)
    template = (await store.read_subject(f"pathways.evt.{s.programme_id}.{s.partner_a}.registry.{p}"))[0]
    ruled = (await store.read_subject(f"pathways.evt.{s.programme_id}.{s.commissioner}.registry.{s.programme_id}"))[-1]
    decoded = [0]
    real = StoredEvent.event.fget  # type: ignore[attr-defined]
    monkeypatch.setattr(StoredEvent, "event", property(lambda self: (decoded.__setitem__(0, decoded[0] + 1), real(self))[1]))
    for size in (10, 2_000):
        engine = make_engine(f"sqlite:///{tmp_path / f'g{size}.db'}")
        for table in governance.tables:
            table.create(engine, checkfirst=True)
        batch = [*enrolled_events(template, size, 1), StoredEvent(size + 1, ruled.subject, ruled.payload, ruled.stored_at)]
        decoded[0] = 0
        with engine.begin() as conn:
            assert apply_batch(conn, governance, governance.live_tables(), governance.name, batch) == size + 1
        with engine.connect() as conn:  # the one event it handles was applied
            assert conn.execute(governance.live_tables()["registry_retention_rule"].select()).all() == [
                (s.programme_id, 3)]
        assert decoded[0] == 1, (size, decoded[0])  # the retention rule alone (it is also the batch's last: the anchor)
        engine.dispose()


def test_merged_read_models_give_each_part_its_events_as_it_read_them_alone(tmp_path: Any) -> None:
    """The governance read model joins parts that decode the registry's models (concerns) and
    one that reads the agreements as plain data: each handler gets what it got alone."""
    from pathways.core.envelope import CloudEvent
    from pathways.core.projection import merged
    from pathways_registry.app import service
    from pathways_registry.domain import events as e

    governance = next(p for p in service.projections if p.name == "registry_governance")
    engine = make_engine(f"sqlite:///{tmp_path / 'governance.db'}")
    for table in governance.tables:
        table.create(engine, checkfirst=True)

    def stored(sequence: int, data: Any, organisation: str = "commissioner-1") -> StoredEvent:
        cloud = CloudEvent(id=str(uuid.uuid4()), source="/pathways/registry", type=data.event_type, subject="prog-1",
                           time=datetime.now(UTC), dataschema=f"urn:pathways:schema:event:{data.event_type[9:]}:v1",
                           programme="prog-1", organisation=organisation, actor="tester", correlationid="c",
                           causationid="c", data=data.model_dump(mode="json"))
        return StoredEvent(sequence, f"pathways.evt.prog-1.{organisation}.registry.prog-1", cloud.to_bytes(), datetime.now(UTC))

    agreement = {"programme_id": "prog-1", "agreement_id": "dsa-1", "provider_id": "partner-1",
                 "recipient_id": "evaluator-1", "data": ["outcomes"], "starts_on": "2025-10-01", "ends_on": "2026-09-30"}
    batch = [stored(1, e.DataSharingAgreementRecorded.model_validate(agreement)),
             stored(2, e.DataSharingAgreementEnded(programme_id="prog-1", agreement_id="dsa-1", data=["outcomes"],
                                                   ended_on=date(2026, 1, 5))),
             stored(3, e.SafeguardingLeadAppointed(programme_id="prog-1", organisation_id="trust-1"))]
    with engine.begin() as conn:
        assert apply_batch(conn, governance, governance.live_tables(), governance.name, batch) == 3
    tables = governance.live_tables()
    with engine.connect() as conn:
        assert [(r.agreement_id, str(r.ended_on)) for r in conn.execute(tables["registry_sharing_agreements"].select())] \
            == [("dsa-1", "2026-01-05")]
        assert [r.organisation_id for r in conn.execute(tables["registry_safeguarding_lead"].select())] == ["trust-1"]
    with pytest.raises(ValueError, match="two parts"):
        merged("twice", governance, governance)

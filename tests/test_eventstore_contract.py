"""The event store contract, held against every backend: the JetStream store on a real
nats-server, and the in-memory fake that unit tests use."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client
from pathways.core.envelope import CloudEvent
from pathways.core.eventstore import AppendRequest, ConcurrencyConflict, DuplicateInBatch, NewEvent
from pathways.core.eventstore.memory import InMemoryEventStore
from pathways.jetstream.batching import GroupCommitter
from pathways.jetstream.store import JetStreamEventStore, ensure_stream

from tests.conftest import unique


def new_event(subject: str, n: int = 0, event_id: str | None = None) -> NewEvent:
    agg = subject.rsplit(".", 1)[-1]
    cloud = CloudEvent(
        id=event_id or str(uuid.uuid4()), source="/pathways/contract", type="pathways.contract.Happened",
        subject=agg, time=datetime.now(UTC), dataschema="urn:pathways:schema:event:contract.Happened:v1",
        programme="p", organisation="o", actor="a", correlationid="c", causationid="c", data={"n": n},
    )
    return NewEvent.of(subject, cloud)


def subject_for(agg: str) -> str:
    return f"pathways.evt.contract-prog.org-x.contract.{agg}"


@pytest.fixture(params=["jetstream", "memory"])
async def store(request: pytest.FixtureRequest, nats_client: Client) -> AsyncIterator[JetStreamEventStore | InMemoryEventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    await ensure_stream(nats_client)
    yield JetStreamEventStore(nats_client)


class TestEventStoreContract:
    async def test_appends_and_reads_one_aggregate_in_order(self, store: JetStreamEventStore) -> None:
        s = subject_for(unique("agg"))
        first = await store.append(AppendRequest([new_event(s, 1)], {s: 0}))
        second = await store.append(AppendRequest([new_event(s, 2)], {s: first.last_sequence}))
        history = await store.read_subject(s)
        assert [h.sequence for h in history] == [first.last_sequence, second.last_sequence]
        assert [h.event.data["n"] for h in history] == [1, 2]
        assert [h.sequence for h in await store.read_subject(s, after=first.last_sequence)] == [second.last_sequence]

    async def test_stale_expected_sequence_is_a_conflict_and_appends_nothing(self, store: JetStreamEventStore) -> None:
        s = subject_for(unique("agg"))
        await store.append(AppendRequest([new_event(s)], {s: 0}))
        with pytest.raises(ConcurrencyConflict):
            await store.append(AppendRequest([new_event(s)], {s: 0}))
        assert len(await store.read_subject(s)) == 1

    async def test_same_event_id_is_stored_once(self, store: JetStreamEventStore) -> None:
        s = subject_for(unique("agg"))
        event_id = str(uuid.uuid4())
        first = await store.append(AppendRequest([new_event(s, event_id=event_id)]))
        again = await store.append(AppendRequest([new_event(s, event_id=event_id)]))
        assert again.duplicate and again.sequences == first.sequences
        assert len(await store.read_subject(s)) == 1

    async def test_several_events_append_atomically(self, store: JetStreamEventStore) -> None:
        a, b = subject_for(unique("agg")), subject_for(unique("agg"))
        await store.append(AppendRequest([new_event(b)], {b: 0}))
        # b's expectation is stale, so none of the three may be stored.
        with pytest.raises(ConcurrencyConflict):
            await store.append(AppendRequest([new_event(a, 1), new_event(a, 2), new_event(b, 3)], {a: 0, b: 0}))
        assert await store.read_subject(a) == []
        ok = await store.append(AppendRequest([new_event(a, 1), new_event(a, 2)], {a: 0}))
        assert len(ok.sequences) == 2 and ok.sequences[1] == ok.sequences[0] + 1
        assert [h.event.data["n"] for h in await store.read_subject(a)] == [1, 2]

    async def test_a_batch_repeating_a_stored_event_id_is_refused_whole(self, store: JetStreamEventStore) -> None:
        s, t = subject_for(unique("agg")), subject_for(unique("agg"))
        stored_id = str(uuid.uuid4())
        await store.append(AppendRequest([new_event(s, event_id=stored_id)]))
        with pytest.raises(DuplicateInBatch):
            await store.append(AppendRequest([new_event(t), new_event(s, event_id=stored_id)]))
        assert await store.read_subject(t) == []

    async def test_reads_the_whole_stream_in_order_from_a_sequence(self, store: JetStreamEventStore) -> None:
        start = await store.last_sequence() + 1
        subjects = [subject_for(unique("agg")) for _ in range(5)]
        for i, s in enumerate(subjects):
            await store.append(AppendRequest([new_event(s, i)], {s: 0}))
        read = [e async for e in store.read_all(start)]
        mine = [e for e in read if e.subject in subjects]
        assert [e.event.data["n"] for e in mine] == [0, 1, 2, 3, 4]
        assert [e.sequence for e in read] == sorted(e.sequence for e in read)
        assert read[0].sequence == start

    async def test_reads_an_aggregate_whoever_owns_it(self, store: JetStreamEventStore) -> None:
        agg = unique("agg")
        s = subject_for(agg)
        await store.append(AppendRequest([new_event(s)], {s: 0}))
        found = await store.read_subject(f"pathways.evt.contract-prog.*.contract.{agg}")
        assert [f.subject for f in found] == [s]

    async def test_long_histories_are_read_completely(self, store: JetStreamEventStore) -> None:
        s = subject_for(unique("agg"))
        for chunk in range(3):
            await store.append(AppendRequest([new_event(s, chunk * 200 + i) for i in range(200)]))
        history = await store.read_subject(s)
        assert [h.event.data["n"] for h in history] == list(range(600))


async def test_group_commit_shares_batches_and_fails_only_the_guilty(nats_client: Client) -> None:
    await ensure_stream(nats_client)
    store = JetStreamEventStore(nats_client)
    committer = GroupCommitter(store)
    guilty = subject_for(unique("agg"))
    await store.append(AppendRequest([new_event(guilty)], {guilty: 0}))
    innocent = [subject_for(unique("agg")) for _ in range(40)]
    requests = [AppendRequest([new_event(s)], {s: 0}) for s in innocent]
    requests.insert(20, AppendRequest([new_event(guilty)], {guilty: 0}))  # stale expectation
    results = await asyncio.gather(*(committer.append(r) for r in requests), return_exceptions=True)
    await committer.close()
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], ConcurrencyConflict)
    for s in innocent:
        assert len(await store.read_subject(s)) == 1
    sequences = sorted(r.last_sequence for r in results if not isinstance(r, Exception))
    assert len(set(sequences)) == 40

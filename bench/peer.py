"""The yardstick the command path is held against (DESIGN §5): the `eventsourcing`
library saving the same kind of aggregate on SQLite (WAL), one event per save and in
batches of 500."""

from __future__ import annotations

import time
from pathlib import Path

from common import Result, n


def eventsourcing_peer(directory: Path) -> list[Result]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Enrolment(Aggregate):
        @event("Enrolled")
        def __init__(self, participant_id: str, programme_id: str, setting: str) -> None:
            self.participant_id = participant_id
            self.programme_id = programme_id
            self.setting = setting

    out = []
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(directory / "peer-single.db")}
    app: Application = Application(env=env)
    count = n(2000)
    t = time.perf_counter()
    for i in range(count):
        app.save(Enrolment(f"p{i}", "bench", "ward"))
    out.append(Result("peer: eventsourcing/SQLite, one event per save", count, time.perf_counter() - t, {}, kind="peer one"))
    app.close()

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(directory / "peer-batch.db")}
    app = Application(env=env)
    count = n(20000)
    t = time.perf_counter()
    for start in range(0, count, 500):
        app.save(*[Enrolment(f"p{i}", "bench", "ward") for i in range(start, min(start + 500, count))])
    out.append(Result("peer: eventsourcing/SQLite, batch save of 500", count, time.perf_counter() - t, {}, kind="peer batch"))
    app.close()
    return out

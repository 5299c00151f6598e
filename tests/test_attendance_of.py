"""`journey_figures.attendance_of` (the participants table's attendance and the missed-sessions
table) counts attendances in their index and reads only absences and the last day someone
came. It must give exactly what reading every record of a person in the order the sessions
were held gives (the definition, kept below as `in_order`): for random programmes with
several sessions on one day, people of the same id with two partners, excused and unexcused
absences on the day someone last came, and every period and activity filter — on SQLite
and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pathways.core.readmodels import make_engine
from pathways_reporting.figures import Filters
from pathways_reporting.journey import ABSENCES
from pathways_reporting.journey_figures import attendance_of
from pathways_reporting.readmodel import ATTENDANCE, SESSIONS
from sqlalchemy import Connection, Engine, and_, create_engine, literal, select, text, union_all
from sqlalchemy.engine import make_url

PROGRAMME = "prog-att"
PARTNERS = ("pa", "pb")
PEOPLE = ("u1", "u2", "u3")
ACTIVITIES = ("yoga", "archery")
DAY0 = date(2026, 1, 5)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = request.getfixturevalue("fresh_postgres") if request.param == "postgres" else \
        f"sqlite:///{tmp_path_factory.mktemp('attendance') / 'r.db'}"
    engine = make_engine(url)
    for table in (SESSIONS, ATTENDANCE, ABSENCES):
        table.create(engine)
    yield engine
    engine.dispose()


# A session: (day planned, delivered that many days later, hour, minute, partner, activity, its id's
# first letters: ids of either case and with - and _ sort differently as text and as code points).
sessions = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from([9, 14, 14, 18, 23]),
                              st.sampled_from([0, 0, 30]), st.sampled_from(PARTNERS), st.sampled_from(ACTIVITIES),
                              st.sampled_from(["a", "B", "a-", "_z", "9"])), min_size=1, max_size=10)
records = st.lists(st.tuples(*(st.sampled_from([None, "present", "present", "excused", "unexcused"]) for _ in PEOPLE)),
                   min_size=10, max_size=10)
periods = st.tuples(st.none() | st.integers(0, 6), st.none() | st.integers(0, 6))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Seen to matter, each once: on one day u1 came at 09:00, missed 14:00 and came at 18:00 (the
# run is 0: the 18:00 attendance is the last, not the 09:00 one listed first); missed 09:00, came
# 14:00; came to Monday's 18:00 session delivered on Wednesday, then missed Wednesday's 09:00.
@example(held=[(0, 0, 9, 0, "pa", "yoga", "s"), (0, 0, 14, 0, "pa", "yoga", "s"), (0, 0, 18, 0, "pa", "yoga", "s")],
         did=[("present", None, None), ("unexcused", None, None), ("present", None, None)],
         period=(None, None), activity=None, asked=[("pa", "u1")])
@example(held=[(0, 0, 9, 0, "pa", "yoga", "s"), (0, 0, 14, 0, "pa", "yoga", "s")],
         did=[("unexcused", None, None), ("present", None, None)], period=(None, None), activity=None,
         asked=[("pa", "u1")])
@example(held=[(0, 2, 18, 0, "pa", "yoga", "a"), (2, 0, 9, 0, "pa", "yoga", "a")],
         did=[("present", None, None), ("unexcused", None, None)], period=(None, None), activity=None,
         asked=[("pa", "u1")])
@given(held=sessions, did=records, period=periods, activity=st.none() | st.sampled_from(ACTIVITIES),
       asked=st.lists(st.tuples(st.sampled_from(PARTNERS), st.sampled_from(PEOPLE)), min_size=1, max_size=6))
def test_attendance_of_is_every_record_read_in_order(
    database: Engine, held: list[tuple[Any, ...]], did: list[tuple[str | None, ...]],
    period: tuple[int | None, int | None], activity: str | None, asked: list[tuple[str, str]],
) -> None:
    with database.begin() as conn:
        for table in (SESSIONS, ATTENDANCE, ABSENCES):
            conn.execute(table.delete())
        _record(conn, held, did)
    start, end = (None if d is None else DAY0 + timedelta(days=d) for d in period)
    f = Filters(start, end, None, activity)
    with database.connect() as conn:
        assert attendance_of(conn, PROGRAMME, f, asked) == in_order(conn, PROGRAMME, f, asked)


def _record(conn: Connection, held: list[tuple[Any, ...]], did: list[tuple[str | None, ...]]) -> None:
    for n, (offset, later, hour, minute, partner, activity, prefix) in enumerate(held):
        planned = DAY0 + timedelta(days=offset)
        day = planned + timedelta(days=later)  # listed under the day it was delivered
        sid = f"{prefix}{n}"
        conn.execute(SESSIONS.insert().values(
            programme_id=PROGRAMME, session_id=sid, partner_id=partner, activity=activity, site="Hall", capacity=12,
            starts_at=datetime.combine(planned, time(hour, minute), UTC), status="delivered", delivered_on=day,
            attendance=0, duration_minutes=60, day=day, month=f"{day:%Y-%m}"))
        for person, kind in zip(PEOPLE, did[n], strict=True):
            if kind is None:
                continue
            common = {"programme_id": PROGRAMME, "session_id": sid, "participant_id": person, "partner_id": partner,
                      "activity": activity}
            if kind == "present":
                conn.execute(ATTENDANCE.insert().values(**common, site="Hall", attended_on=day, month=f"{day:%Y-%m}",
                                                        year=day.year, day_bit=1 << (day.day - 1),
                                                        month_bit=1 << (day.month - 1)))
            else:
                conn.execute(ABSENCES.insert().values(**common, kind=kind, on=day,
                                                      reason="ill" if kind == "excused" else None))


def in_order(conn: Connection, programme_id: str, f: Filters,
             people: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The definition: every attendance and absence of these people, in the order the
    sessions were held, run through one by one (attendance_of as it was before it counted in
    the index)."""
    wanted = set(people)
    at, ab, sessions = ATTENDANCE, ABSENCES, SESSIONS
    came = select(at.c.partner_id, at.c.participant_id, at.c.session_id, literal("present").label("kind")).where(
        at.c.programme_id == programme_id, at.c.participant_id.in_(sorted({p for _, p in wanted})),
        *f.dated(at.c.attended_on), *([at.c.activity == f.activity] if f.activity else []))
    missed = select(ab.c.partner_id, ab.c.participant_id, ab.c.session_id, ab.c.kind).where(
        ab.c.programme_id == programme_id, *f.dated(ab.c.on), *([ab.c.activity == f.activity] if f.activity else []))
    records = union_all(came, missed).subquery()
    rows = select(records.c.partner_id, records.c.participant_id, sessions.c.day, records.c.kind).select_from(
        records.join(sessions, and_(sessions.c.programme_id == programme_id, sessions.c.session_id == records.c.session_id)))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for partner, participant, on, kind in conn.execute(rows.order_by(
            records.c.partner_id, records.c.participant_id, sessions.c.day, sessions.c.starts_at, sessions.c.session_id)):
        if (partner, participant) not in wanted:
            continue
        seen = out.setdefault((partner, participant), {"present": 0, "excused": 0, "unexcused": 0, "in_a_row": 0,
                                                       "last_on": None})
        seen[kind] += 1
        seen["in_a_row"] = seen["in_a_row"] + 1 if kind == "unexcused" else (seen["in_a_row"] if kind == "excused" else 0)
        seen["last_on"] = on
    for seen in out.values():
        expected = seen["present"] + seen["excused"] + seen["unexcused"]
        seen["rate"] = round(seen["present"] / expected, 3) if expected else None
        seen["last_on"] = seen["last_on"].isoformat()
    return out


@pytest.mark.postgres
def test_sessions_at_one_hour_are_in_the_order_the_database_gives_their_ids(postgres: str) -> None:
    """Two sessions of one partner at 09:00 on one day: came to 'B0', missed 'a1'. Under an ICU
    en-US collation the database puts 'a1' first (Python's code points put 'B0' first): the run
    is 0, as reading every record in order gives. (Found by an attack on the rewrite.)"""
    admin = create_engine(postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"pathways_icu_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                          "LOCALE 'C.UTF-8'"))
    engine = make_engine(make_url(postgres).set(database=name).render_as_string(hide_password=False))
    try:
        for table in (SESSIONS, ATTENDANCE, ABSENCES):
            table.create(engine)
        with engine.begin() as conn:
            _record(conn, [(0, 0, 9, 0, "pa", "yoga", "B"), (0, 0, 9, 0, "pa", "yoga", "a")],
                    [("present", None, None), ("unexcused", None, None)])
            assert list(conn.execute(select(SESSIONS.c.session_id).order_by(SESSIONS.c.session_id)).scalars()) == \
                ["a1", "B0"]
        with engine.connect() as conn:
            found = attendance_of(conn, PROGRAMME, Filters(), [("pa", "u1")])
            assert found == in_order(conn, PROGRAMME, Filters(), [("pa", "u1")])
            assert found[("pa", "u1")]["in_a_row"] == 0
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

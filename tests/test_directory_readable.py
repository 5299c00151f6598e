"""`Directory.readable_among`, which the reporting tables use to show only people the reader
may read, gives exactly what `Directory.may_read` (the one-condition form) gives for the same
people: consent to the reader's purpose with that partner, and the programme's sharing
agreements in force on the day — for random directories, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathways.policy import directory as directory_module
from pathways.policy.consent import PURPOSES, consent_column
from pathways.policy.directory import Directory, Reader
from sqlalchemy import Boolean, Column, Connection, Engine, Integer, MetaData, String, Table, func, literal, select

PARTNERS = ["pa", "pb", "pc"]
PEOPLE = [f"p{i}" for i in range(6)]
ON = date(2026, 3, 1)
PROGRAMME = "prog-1"


enrolments = st.dictionaries(st.tuples(st.sampled_from(PARTNERS), st.sampled_from(PEOPLE)),
                             st.fixed_dictionaries({p: st.booleans() for p in PURPOSES}), max_size=12)
agreements = st.lists(st.tuples(st.sampled_from(PARTNERS), st.sampled_from(["commissioner-x", "someone-else"]),
                                st.sampled_from(["participants", "attendance"]), st.booleans()), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(enrolled=enrolments, shared=agreements, purpose=st.sampled_from(sorted(PURPOSES)),
       data=st.sampled_from(["participants", "attendance"]),
       asked=st.lists(st.tuples(st.sampled_from(PARTNERS), st.sampled_from(PEOPLE)), max_size=10))
def test_readable_among_is_may_read_for_the_people_named(
    database: Engine, enrolled: dict[tuple[str, str], dict[str, bool]], shared: list[tuple[str, str, str, bool]],
    purpose: str, data: str, asked: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(directory_module, "READABLE_CHUNK", 3)  # the people asked about span several statements
    directory = Directory(f"rd{uuid.uuid4().hex[:8]}")
    with made(database, [directory.enrolments_table, directory.agreements.table]):
        with database.begin() as conn:
            _fill(conn, directory, PROGRAMME, enrolled, shared)
        reader = Reader("commissioner-x", purpose, data, ON)
        with database.connect() as conn:
            found = directory.readable_among(conn, PROGRAMME, reader, asked)
            expected = {(partner, person) for partner, person in set(asked) if conn.execute(select(literal(1)).where(
                directory.may_read(reader, literal(PROGRAMME), literal(partner), literal(person)))).first()}
        assert found == expected
        assert found <= set(asked)  # only the people named, never the whole directory



records = st.lists(st.tuples(st.sampled_from(PARTNERS), st.sampled_from([*PEOPLE, "never-enrolled"]), st.booleans()),
                   max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(enrolled=enrolments, shared=agreements, purpose=st.sampled_from(sorted(PURPOSES)),
       data=st.sampled_from(["participants", "attendance"]), rows=records)
def test_count_readable_is_the_rows_may_read_lets_through(
    database: Engine, enrolled: dict[tuple[str, str], dict[str, bool]], shared: list[tuple[str, str, str, bool]],
    purpose: str, data: str, rows: list[tuple[str, str, bool]],
) -> None:
    """The tables' totals count as a join from the consenting enrolments: the same number as
    the rows' own `may_read`, one per row however many rows a person has, none for a person
    not in the directory, and only rows the query's own condition chooses."""
    directory = Directory(f"rc{uuid.uuid4().hex[:8]}")
    kept = Table(f"{directory.enrolments_table.name}_records", MetaData(), Column("programme_id", String(64)),
                 Column("partner_id", String(64)), Column("participant_id", String(64)), Column("n", Integer),
                 Column("chosen", Boolean))
    with made(database, [directory.enrolments_table, directory.agreements.table, kept]):
        with database.begin() as conn:
            _fill(conn, directory, PROGRAMME, enrolled, shared)
            for n, (partner, person, chosen) in enumerate(rows):
                conn.execute(kept.insert().values(programme_id=PROGRAMME, partner_id=partner, participant_id=person, n=n,
                                                  chosen=chosen))
            conn.execute(kept.insert().values(programme_id="another", partner_id="pa", participant_id="p0", n=-1,
                                              chosen=True))  # another programme's row of an enrolled person's id
        reader = Reader("commissioner-x", purpose, data, ON)
        with database.connect() as conn:
            found = directory.count_readable(conn, PROGRAMME, reader, kept, [kept.c.programme_id == PROGRAMME,
                                                                            kept.c.chosen.is_(True)])
            expected = conn.execute(select(func.count()).select_from(kept).where(
                kept.c.programme_id == PROGRAMME, kept.c.chosen.is_(True),
                directory.may_read(reader, kept.c.programme_id, kept.c.partner_id, kept.c.participant_id))).scalar()
        assert found == expected


@contextmanager
def made(database: Engine, tables: list[Table]) -> Iterator[None]:
    """The tables, for one example, dropped after it."""
    for table in tables:
        table.create(database)
    try:
        yield
    finally:
        for table in reversed(tables):
            table.drop(database)


def _fill(conn: Connection, directory: Directory, programme: str, enrolled: dict[tuple[str, str], dict[str, bool]],
          shared: list[tuple[str, str, str, bool]]) -> None:
    for (partner, person), consents in enrolled.items():
        conn.execute(directory.enrolments_table.insert().values(
            programme_id=programme, partner_id=partner, participant_id=person, setting="ward", active=True,
            erased=False, **{consent_column(p): given for p, given in consents.items()}))
    for n, (provider, recipient, what, in_force) in enumerate(shared):
        conn.execute(directory.agreements.table.insert().values(  # not yet in force, or ended early, on ON
            programme_id=programme, agreement_id=f"a{n}", data=what, provider_id=provider, recipient_id=recipient,
            starts_on=date(2026, 1, 1) if in_force or n % 2 else date(2026, 6, 1), ends_on=date(2026, 12, 31),
            ended_on=None if in_force else (date(2026, 2, 1) if n % 2 else None)))

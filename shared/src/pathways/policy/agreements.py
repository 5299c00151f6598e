"""Data-sharing agreements, as every reader of people's records honours them: a partner (the
provider) shares one kind of its people's records with another organisation (the recipient:
the commissioner, an evaluator) from one day to another, under an agreement the programme's
commissioner recorded (the registry's DataSharingAgreementRecorded). Days are the UK's
(`today`): an agreement ending on 30 September is over at midnight in London, not at 01:00.

A programme with no agreement recorded shares as its contracts always did: each reader's
role and the person's consent decide. Once its first agreement is recorded, the programme is
governed by them: a recipient reads a partner's people's records of a kind only while an
agreement of that partner with it covering that kind is in force, on top of the person's
consent (pathways.policy.consent). A partner always reads its own.

One table row per agreement and kind of record, so a read's condition is one indexed EXISTS."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Connection, Date, MetaData, String, Table, exists, or_, select

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Apply, Rows, Tables, update, upsert
from pathways.core.schemas import EventData
from pathways.policy.shared_data import SHARED_DATA as SHARED_DATA
from pathways.policy.shared_data import SharedData as SharedData

RECORDED = "pathways.registry.DataSharingAgreementRecorded"
UK = ZoneInfo("Europe/London")
ENDED = "pathways.registry.DataSharingAgreementEnded"


def today() -> date:
    """The day it is in the UK, where the programme's agreements are signed and read."""
    return datetime.now(UK).date()


class SharingAgreements:
    """One service's copy of the programme's agreements, in a table named after it."""

    def __init__(self, meta: MetaData, prefix: str) -> None:
        self.table = Table(
            f"{prefix}_sharing_agreements", meta,
            Column("programme_id", String(64), primary_key=True),
            Column("agreement_id", String(64), primary_key=True),
            Column("data", String(16), primary_key=True),
            Column("provider_id", String(64), nullable=False, index=True),
            Column("recipient_id", String(64), nullable=False),
            Column("starts_on", Date, nullable=False),
            Column("ends_on", Date, nullable=False),
            Column("ended_on", Date, nullable=True),  # ended early: in force until the day before
        )
        self.handlers: dict[str | type[EventData], Apply] = {RECORDED: self._recorded, ENDED: self._ended}

    def _recorded(self, conn: Rows, t: Tables, _: CloudEvent, d: dict[str, Any], __: int) -> None:
        for data in d["data"]:
            upsert(conn, t[self.table.name], {
                "programme_id": d["programme_id"], "agreement_id": d["agreement_id"], "data": data,
                "provider_id": d["provider_id"], "recipient_id": d["recipient_id"],
                "starts_on": date.fromisoformat(d["starts_on"]), "ends_on": date.fromisoformat(d["ends_on"]),
                "ended_on": None}, ["programme_id", "agreement_id", "data"])

    def _ended(self, conn: Rows, t: Tables, _: CloudEvent, d: dict[str, Any], __: int) -> None:
        for data in d["data"]:
            update(conn, t[self.table.name], {"programme_id": d["programme_id"], "agreement_id": d["agreement_id"],
                                              "data": data}, ended_on=date.fromisoformat(d["ended_on"]))

    def _in_force(self, reader: str, data: str, programme_id: Any, on: date) -> list[Any]:
        a = self.table
        return [a.c.programme_id == programme_id, a.c.recipient_id == reader, a.c.data == data, a.c.starts_on <= on,
                a.c.ends_on >= on, or_(a.c.ended_on.is_(None), a.c.ended_on > on)]

    def covers(self, reader: str, data: str, programme_id: Any, partner_id: Any, on: date) -> Any:
        """A SQL condition for a query over a partner's people's rows: the reader may read
        `data` of the row's partner on `on` (an agreement in force covers it, or the
        programme has none at all)."""
        a = self.table
        return or_(~exists().where(a.c.programme_id == programme_id),
                   exists().where(*self._in_force(reader, data, programme_id, on), a.c.provider_id == partner_id))

    def partners_sharing(self, conn: Connection, programme_id: str, reader: str, data: str, on: date) -> set[str] | None:
        """The partners whose people's `data` the reader may read on `on`; None: every
        partner's (the programme has no agreement)."""
        a = self.table
        if conn.execute(select(a.c.agreement_id).where(a.c.programme_id == programme_id).limit(1)).first() is None:
            return None
        return {r.provider_id for r in conn.execute(
            select(a.c.provider_id).where(*self._in_force(reader, data, programme_id, on)))}

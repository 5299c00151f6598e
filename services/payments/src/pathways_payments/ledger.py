"""The payments ledger: every charge, claim, invoice and payment run as rows. The rules
consult it (a co-producer's earnings in a period; what is waiting to be paid) and the API
and the finance CSV read it. Built from the service's own events only."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, update, upsert
from pathways.policy.facts import CoProducerFacts
from sqlalchemy import Connection, Table, select
from sqlmodel import Field, SQLModel

from pathways_payments.domain import events as e
from pathways_payments.domain.safeguard import ON_BENEFITS, Claimant
from pathways_payments.domain.state import EarningsLimit, EarningsLimits


class Involvement(SQLModel, table=True):
    __tablename__ = "payments_involvement"
    programme_id: str = Field(primary_key=True)
    contract_id: str = Field(primary_key=True)
    involvement_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    co_producer_id: str = Field(index=True)
    worked_on: date
    minutes: int
    amount_pence: int
    paid_in_run: str | None = None


class Claim(SQLModel, table=True):
    __tablename__ = "payments_claim"
    programme_id: str = Field(primary_key=True)
    contract_id: str = Field(primary_key=True)
    claim_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    co_producer_id: str
    category: str
    amount_pence: int
    incurred_on: date
    status: str  # claimed | approved | rejected
    decided_by: str | None = None
    paid_in_run: str | None = None


class Invoice(SQLModel, table=True):
    __tablename__ = "payments_invoice"
    programme_id: str = Field(primary_key=True)
    contract_id: str = Field(primary_key=True)
    invoice_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    amount_pence: int
    period_start: date
    period_end: date
    status: str  # submitted | paid
    paid_on: date | None = None


class PaymentRun(SQLModel, table=True):
    __tablename__ = "payments_run"
    programme_id: str = Field(primary_key=True)
    run_id: str = Field(primary_key=True)
    up_to: date
    total_pence: int
    lines: int
    paid_on: date | None = None


class PaymentRunLine(SQLModel, table=True):
    __tablename__ = "payments_run_line"
    programme_id: str = Field(primary_key=True)
    run_id: str = Field(primary_key=True)
    item_id: str = Field(primary_key=True)
    kind: str
    co_producer_id: str
    contract_id: str
    partner_id: str
    on: date
    amount_pence: int
    paid_on: date | None = Field(default=None, index=True)  # what benefits count: the day the run paid it


class StaffPayLine(SQLModel, table=True):
    """What an invoice pays one of the partner's own co-producers, and when it was paid."""

    __tablename__ = "payments_invoice_staff_pay"
    programme_id: str = Field(primary_key=True)
    contract_id: str = Field(primary_key=True)
    invoice_id: str = Field(primary_key=True)
    co_producer_id: str = Field(primary_key=True)
    amount_pence: int
    paid_on: date | None = Field(default=None, index=True)


class CoProducerBenefits(SQLModel, table=True):
    """Each co-producer's benefits as last recorded in each programme that pays them. Ids
    are pseudonymous and chosen by whoever registers the person, so one programme's record
    never overwrites another's: the safeguard protects them by every record (claimants)."""

    __tablename__ = "payments_co_producer_benefits"
    co_producer_id: str = Field(primary_key=True)
    programme_id: str = Field(primary_key=True)
    benefits: str  # JSON list
    assessment_period_starts_on: date | None = None


class EarningsLimitRow(SQLModel, table=True):
    __tablename__ = "payments_earnings_limit"
    limit_id: str = Field(primary_key=True)
    scheme: str
    amount_pence: int
    per: str
    valid_from: date
    valid_until: date | None = None
    benefit: str | None = None


class LimitWarning(SQLModel, table=True):
    __tablename__ = "payments_limit_warning"
    sequence: int = Field(primary_key=True)
    programme_id: str = Field(index=True)
    co_producer_id: str
    scheme: str
    period_start: date
    period_end: date
    limit_pence: int
    earnings_after_pence: int
    partner_id: str | None = None
    run_id: str | None = None


def table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _involvement(conn: Rows, t: Tables, _: CloudEvent, d: e.InvolvementRecorded, __: int) -> None:
    row = d.model_dump(include={"programme_id", "contract_id", "involvement_id", "partner_id", "co_producer_id",
                                "worked_on", "minutes", "amount_pence"})
    upsert(conn, t["payments_involvement"], row, ["programme_id", "contract_id", "involvement_id"])


def _claimed(conn: Rows, t: Tables, _: CloudEvent, d: e.ExpenseClaimed, __: int) -> None:
    row = d.model_dump(include={"programme_id", "contract_id", "claim_id", "partner_id", "co_producer_id", "category",
                                "amount_pence", "incurred_on"})
    upsert(conn, t["payments_claim"], row | {"status": "claimed"}, ["programme_id", "contract_id", "claim_id"])


def _decided(conn: Rows, t: Tables, _: CloudEvent, d: e.ExpenseApproved | e.ExpenseRejected, __: int) -> None:
    status = "approved" if isinstance(d, e.ExpenseApproved) else "rejected"
    update(conn, t["payments_claim"], {"programme_id": d.programme_id, "contract_id": d.contract_id, "claim_id": d.claim_id},
           status=status, decided_by=d.approver_organisation)


def _invoiced(conn: Rows, t: Tables, _: CloudEvent, d: e.InvoiceSubmitted, __: int) -> None:
    row = d.model_dump(include={"programme_id", "contract_id", "invoice_id", "partner_id", "amount_pence", "period_start",
                                "period_end"})
    upsert(conn, t["payments_invoice"], row | {"status": "submitted"}, ["programme_id", "contract_id", "invoice_id"])
    for pay in d.staff_pay:
        upsert(conn, t["payments_invoice_staff_pay"], {"programme_id": d.programme_id, "contract_id": d.contract_id,
                                                        "invoice_id": d.invoice_id, "co_producer_id": pay.co_producer_id,
                                                        "amount_pence": pay.amount_pence},
               ["programme_id", "contract_id", "invoice_id", "co_producer_id"])


def _invoice_paid(conn: Rows, t: Tables, _: CloudEvent, d: e.InvoicePaid, __: int) -> None:
    update(conn, t["payments_invoice"], {"programme_id": d.programme_id, "contract_id": d.contract_id,
                                         "invoice_id": d.invoice_id}, status="paid", paid_on=d.paid_on)
    # Every staff line of the invoice (keyed by the invoice, not by each line), in the tables
    # this batch writes: a rebuild's own copy while rebuilding.
    update(conn, t["payments_invoice_staff_pay"], {"programme_id": d.programme_id, "contract_id": d.contract_id,
                                                   "invoice_id": d.invoice_id}, paid_on=d.paid_on)


def _run(conn: Rows, t: Tables, event: CloudEvent, d: e.PaymentRunIssued, __: int) -> None:
    paid_on = d.paid_on or event.time.date()  # runs recorded before pay days: paid the day they were issued
    run = {"programme_id": d.programme_id, "run_id": d.run_id, "up_to": d.up_to, "total_pence": d.total_pence,
           "lines": len(d.lines), "paid_on": paid_on}
    upsert(conn, t["payments_run"], run, ["programme_id", "run_id"])
    for line in d.lines:
        upsert(conn, t["payments_run_line"], {"programme_id": d.programme_id, "run_id": d.run_id, **line.model_dump(),
                                              "paid_on": paid_on}, ["programme_id", "run_id", "item_id"])
        kind, contract_id, item = line.item_id.split("/", 2)
        paid, key = ("payments_involvement", "involvement_id") if kind == "involvement" else ("payments_claim", "claim_id")
        update(conn, t[paid], {"programme_id": d.programme_id, "contract_id": contract_id, key: item}, paid_in_run=d.run_id)


def _warning(conn: Rows, t: Tables, _: CloudEvent, d: e.EarningsLimitWarning, sequence: int) -> None:
    row = d.model_dump(include={"programme_id", "co_producer_id", "scheme", "period_start", "period_end", "limit_pence",
                                "earnings_after_pence", "partner_id", "run_id"})
    upsert(conn, t["payments_limit_warning"], row | {"sequence": sequence}, ["sequence"])


def _benefits(conn: Rows, t: Tables, _: CloudEvent, d: e.CoProducerBenefitsRecorded, __: int) -> None:
    upsert(conn, t["payments_co_producer_benefits"], {
        "co_producer_id": d.co_producer_id, "programme_id": d.programme_id, "benefits": json.dumps(sorted(d.benefits)),
        "assessment_period_starts_on": d.assessment_period_starts_on}, ["co_producer_id", "programme_id"])


def _limit(conn: Rows, t: Tables, _: CloudEvent, d: e.EarningsLimitSet, __: int) -> None:
    upsert(conn, t["payments_earnings_limit"], d.model_dump(), ["limit_id"])


LEDGER = Projection(
    name="payments_ledger",
    tables=[table(m) for m in (Involvement, Claim, Invoice, PaymentRun, PaymentRunLine, LimitWarning, CoProducerBenefits,
                               EarningsLimitRow, StaffPayLine)],
    handlers={
        e.InvolvementRecorded: _involvement,
        e.ExpenseClaimed: _claimed,
        e.ExpenseApproved: _decided,
        e.ExpenseRejected: _decided,
        e.InvoiceSubmitted: _invoiced,
        e.InvoicePaid: _invoice_paid,
        e.PaymentRunIssued: _run,
        e.EarningsLimitWarning: _warning,
        e.CoProducerBenefitsRecorded: _benefits,
        e.EarningsLimitSet: _limit,
    },
    schemas=e.schemas,
)


# --- what the rules consult ----------------------------------------------------------
def paid_earnings(conn: Connection, co_producer_ids: Sequence[str], around: date) -> dict[str, list[tuple[date, int]]]:
    """What each co-producer was paid for their time, by pay day, within any period that can
    hold `around` (a week, a month, an assessment period), in every programme."""
    found: dict[str, list[tuple[date, int]]] = defaultdict(list)
    if not co_producer_ids:
        return {}
    runs, staff = table(PaymentRunLine), table(StaffPayLine)  # paid by a payment run, or as partner staff by an invoice
    for t, kind in ((runs, [runs.c.kind == "involvement"]), (staff, [])):
        for r in conn.execute(select(t.c.co_producer_id, t.c.paid_on, t.c.amount_pence).where(
                t.c.co_producer_id.in_(list(co_producer_ids)), *kind,
                t.c.paid_on >= around - timedelta(days=32), t.c.paid_on <= around + timedelta(days=32))):
            found[r.co_producer_id].append((r.paid_on, r.amount_pence))
    return dict(found)


def staff_of(conn: Connection, programme_id: str, contract_id: str, invoice_id: str) -> list[str]:
    t = table(StaffPayLine)
    return [r.co_producer_id for r in conn.execute(select(t.c.co_producer_id).where(
        t.c.programme_id == programme_id, t.c.contract_id == contract_id, t.c.invoice_id == invoice_id))]


def claimants(conn: Connection, programme_id: str, facts: dict[str, CoProducerFacts]) -> dict[str, Claimant]:
    """The co-producers (of those given, registered in `programme_id`) who receive benefits,
    with which: every benefit any programme recorded for them (one programme recording none
    does not undo another's record), their assessment period as this programme recorded it
    (else as another did); registered as on benefits with nothing recorded: "on benefits",
    which every limit protects."""
    t = table(CoProducerBenefits)
    records: dict[str, list[Any]] = defaultdict(list)
    for r in conn.execute(select(t).where(t.c.co_producer_id.in_(list(facts))).order_by(t.c.programme_id)):
        records[r.co_producer_id].append(r)
    out = {}
    for co_producer_id, fact in facts.items():
        found = records.get(co_producer_id, [])
        benefits = tuple(sorted({b for r in found for b in json.loads(r.benefits)}))
        here = [r for r in found if r.programme_id == programme_id]
        if not benefits and not here and fact.receives_benefits:
            benefits = (ON_BENEFITS,)
        if benefits:
            starts = [r.assessment_period_starts_on for r in here + found if r.assessment_period_starts_on is not None]
            out[co_producer_id] = Claimant(co_producer_id, benefits, starts[0] if starts else None)
    return out


def limits(conn: Connection) -> EarningsLimits:
    """The configured limits as the ledger holds them (for what people read; rules fold the aggregate)."""
    t = table(EarningsLimitRow)
    return EarningsLimits({r.limit_id: EarningsLimit(r.limit_id, r.scheme, r.amount_pence, r.per, r.valid_from,
                                                     r.valid_until, r.benefit) for r in conn.execute(select(t))})


def payable(conn: Connection, programme_id: str, up_to: date) -> list[e.PaymentLine]:
    """Recorded involvement and approved expenses up to a date, not yet in a payment run."""
    inv, claim = table(Involvement), table(Claim)
    lines = [
        e.PaymentLine(item_id=f"involvement/{r.contract_id}/{r.involvement_id}", kind="involvement",
                      co_producer_id=r.co_producer_id, contract_id=r.contract_id, partner_id=r.partner_id,
                      on=r.worked_on, amount_pence=r.amount_pence)
        for r in conn.execute(select(inv).where(inv.c.programme_id == programme_id, inv.c.worked_on <= up_to,
                                                inv.c.paid_in_run.is_(None)))
    ]
    lines += [
        e.PaymentLine(item_id=f"expense/{r.contract_id}/{r.claim_id}", kind="expense", co_producer_id=r.co_producer_id,
                      contract_id=r.contract_id, partner_id=r.partner_id, on=r.incurred_on, amount_pence=r.amount_pence)
        for r in conn.execute(select(claim).where(claim.c.programme_id == programme_id, claim.c.incurred_on <= up_to,
                                                  claim.c.status == "approved", claim.c.paid_in_run.is_(None)))
    ]
    return sorted(lines, key=lambda line: (line.on, line.item_id))


# --- what people read ------------------------------------------------------------------
def rows(conn: Connection, model: type[SQLModel], programme_id: str, **where: Any) -> list[dict[str, Any]]:
    t = table(model)
    query = select(t).where(t.c.programme_id == programme_id, *(t.c[k] == v for k, v in where.items() if v is not None))
    return [dict(r._mapping) for r in conn.execute(query)]


CSV_COLUMNS = ("payment_run", "programme", "payee_reference", "amount_gbp", "amount_pence", "items", "paid_up_to")


def payment_run_csv(lines: Sequence[dict[str, Any]], programme_id: str, run_id: str, up_to: date | None) -> str:
    """One row per co-producer (payee) with the total due: the shape a finance system's
    bulk-payment import takes. Payees are pseudonymous references, matched to bank
    details in the finance system, never here."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        totals[line["co_producer_id"]][0] += line["amount_pence"]
        totals[line["co_producer_id"]][1] += 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for payee, (pence, items) in sorted(totals.items()):
        writer.writerow([run_id, programme_id, payee, f"{pence // 100}.{pence % 100:02d}", pence, items,
                         up_to.isoformat() if up_to else ""])
    return out.getvalue()

"""The reporting read model: one row per fact the dashboards count, learnt from the
published events of every context (a tolerant reader of each event's `data`: reporting
imports no other service's code). Registry facts come from the kernel's directory."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, update, upsert
from pathways.core.rows import accumulate
from pathways.policy.directory import Directory
from sqlalchemy import Column, Date, DateTime, Index, String, Table, Text
from sqlmodel import Field, SQLModel

from pathways_reporting import answers, journey, story, targets, voices

DIRECTORY = Directory("reporting")
Id = String(64)


def _on() -> Any:  # a day column named `on` (a Python keyword: the attribute is `on_`)
    return Field(sa_column=Column("on", Date, nullable=False))


class ReportedSession(SQLModel, table=True):
    __tablename__ = "reporting_session"
    __table_args__ = (  # the summaries of a day and of a month are recomputed from these (answers.py)
        Index("reporting_session_by_day", "programme_id", "day"),
        Index("reporting_session_by_month", "programme_id", "month"),
        Index("reporting_session_in_order", "programme_id", "starts_at", "session_id"),  # the session log's order
    )
    programme_id: str = Field(primary_key=True, sa_type=Id)
    session_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(index=True, sa_type=Id)
    activity: str = Field(sa_type=Text)
    site: str = Field(sa_type=Text)
    starts_at: datetime = Field(sa_type=DateTime(timezone=True))
    capacity: int
    status: str = Field(sa_type=String(16))
    delivered_on: date | None = None
    attendance: int = 0
    duration_minutes: int
    day: date  # the day it is listed under: delivered on, else planned for
    month: str = Field(sa_type=answers.Month)  # the month of `day`


class ReportedAttendance(SQLModel, table=True):
    __tablename__ = "reporting_attendance"
    __table_args__ = (
        # With the session too, a page of people's attendance (journey_figures.attendance_of) is read from the
        # index alone, not a row lookup per attendance: 57 ms against 38 for 200 people on 1 M events.
        Index("reporting_attendance_people", "programme_id", "participant_id", "attended_on", "partner_id", "activity",
              "session_id"),
    )
    programme_id: str = Field(primary_key=True, sa_type=Id)
    session_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(index=True, sa_type=Id)
    activity: str = Field(sa_type=Text)
    site: str = Field(sa_type=Text)
    attended_on: date
    # The day as the summaries of who came group it (answers.py): its month and year, and its bits.
    month: str = Field(sa_type=answers.Month)
    year: int
    day_bit: int
    month_bit: int


class ReportedSpend(SQLModel, table=True):
    __tablename__ = "reporting_spend"
    __table_args__ = (Index("reporting_spend_by_day", "programme_id", "on"),
                      Index("reporting_spend_by_month", "programme_id", "month"))
    programme_id: str = Field(primary_key=True, sa_type=Id)
    contract_id: str = Field(primary_key=True, sa_type=Id)
    kind: str = Field(primary_key=True, sa_type=String(16))
    item_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(index=True, sa_type=Id)
    co_producer_id: str | None = Field(default=None, sa_type=Id)
    amount_pence: int
    on_: date = _on()
    status: str = Field(sa_type=String(16))  # recorded | claimed | approved | rejected | submitted | paid
    month: str = Field(sa_type=answers.Month)  # the month of `on`


class CoProducerPayment(SQLModel, table=True):
    __tablename__ = "reporting_co_producer_payment"
    # A period's payments counted in the index (a quarter's on 1 M events: 12 ms through the key, 0.2 ms here).
    __table_args__ = (Index("reporting_co_producer_payment_by_day", "programme_id", "on"),)
    programme_id: str = Field(primary_key=True, sa_type=Id)
    run_id: str = Field(primary_key=True, sa_type=Id)
    item_id: str = Field(primary_key=True, sa_type=String(200))
    co_producer_id: str = Field(sa_type=Id)
    partner_id: str = Field(sa_type=Id)
    amount_pence: int
    on_: date = _on()


class ReportedOutcome(SQLModel, table=True):
    __tablename__ = "reporting_outcome"
    __table_args__ = (  # the table's order
        Index("reporting_outcome_by_person", "programme_id", "participant_id", "measured_on", "measurement_id"),
        # A period's measurements, with who they are of (the table's total checks each one's consent).
        Index("reporting_outcome_by_day", "programme_id", "measured_on", "partner_id", "participant_id"),
    )
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    measurement_id: str = Field(primary_key=True, sa_type=Id)
    instrument: str = Field(sa_type=String(8))
    timepoint: str = Field(sa_type=String(16))
    measured_on: date
    raw_score: int
    metric_hundredths: int  # exact: 21.54 is stored as 2154


class ReportedCoProduction(SQLModel, table=True):
    __tablename__ = "reporting_co_production"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    assessment_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(index=True, sa_type=Id)
    assessed_on: date
    level: int
    ladder_rung: str = Field(sa_type=String(32))
    tokenism_flags: int


class ReportedDevelopment(SQLModel, table=True):
    __tablename__ = "reporting_development"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    proposed_by: str = Field(primary_key=True, sa_type=Id)
    development_id: str = Field(primary_key=True, sa_type=Id)
    you_said: str = Field(sa_type=Text)
    we_will: str = Field(sa_type=Text)
    status: str = Field(sa_type=String(8))
    we_did: str | None = Field(default=None, sa_type=Text)
    proposed_on: date  # the day it was recorded


# The catalogue: what exports and reports name (the directory keeps only what rules need).
class CatalogueOrganisation(SQLModel, table=True):
    __tablename__ = "reporting_organisation"
    organisation_id: str = Field(primary_key=True, sa_type=Id)
    name: str = Field(sa_type=Text)
    kind: str = Field(sa_type=String(32))
    charity_number: str | None = Field(default=None, sa_type=String(16))
    company_number: str | None = Field(default=None, sa_type=String(16))


class CatalogueProgramme(SQLModel, table=True):
    __tablename__ = "reporting_programme"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    name: str = Field(sa_type=Text)
    aims: str = Field(sa_type=Text)


class ContractAward(SQLModel, table=True):
    __tablename__ = "reporting_contract_award"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    contract_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(index=True, sa_type=Id)
    budget_pence: int
    activities: str = Field(sa_type=Text)  # JSON list
    starts_on: date
    ends_on: date
    awarded_on: date  # the day the commissioning was recorded


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


SESSIONS, ATTENDANCE, SPEND, CO_PRODUCER_PAYMENTS, OUTCOMES, CO_PRODUCTION, DEVELOPMENTS = (_t(m) for m in (
    ReportedSession, ReportedAttendance, ReportedSpend, CoProducerPayment, ReportedOutcome, ReportedCoProduction,
    ReportedDevelopment))
ORGANISATIONS, PROGRAMMES, CONTRACT_AWARDS = (_t(m) for m in (CatalogueOrganisation, CatalogueProgramme, ContractAward))

Data = dict[str, Any]


def _organisation(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    row = {k: d.get(k) for k in ("organisation_id", "name", "kind", "charity_number", "company_number")}
    upsert(conn, t[ORGANISATIONS.name], row, ["organisation_id"])


def _programme(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    row = {"programme_id": d["programme_id"], "name": d["name"], "aims": json.dumps(d.get("aims", []))}
    upsert(conn, t[PROGRAMMES.name], row, ["programme_id"])


def _commissioned(conn: Rows, t: Tables, event: CloudEvent, d: Data, __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "contract_id", "partner_id", "budget_pence")}
    row |= {"activities": json.dumps(d["activities"]), "starts_on": date.fromisoformat(d["starts_on"]),
            "ends_on": date.fromisoformat(d["ends_on"]), "awarded_on": event.time.date()}
    upsert(conn, t[CONTRACT_AWARDS.name], row, ["programme_id", "contract_id"])


def _scheduled(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "session_id", "partner_id", "activity", "site", "capacity", "duration_minutes")}
    starts_at = datetime.fromisoformat(d["starts_at"])
    row |= {"starts_at": starts_at, "day": starts_at.date(), "month": _month(starts_at.date()), "status": "scheduled",
            "attendance": 0}
    upsert(conn, t[SESSIONS.name], row, ["programme_id", "session_id"])


def _delivered(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    on = date.fromisoformat(d["delivered_on"])
    update(conn, t[SESSIONS.name], _session_key(d), status="delivered", delivered_on=on, attendance=len(d["attendees"]),
           duration_minutes=d["duration_minutes"], day=on, month=_month(on))
    when = {"attended_on": on, "month": _month(on), "year": on.year, "day_bit": 1 << (on.day - 1),
            "month_bit": 1 << (on.month - 1)}
    for participant in d["attendees"]:
        who = {"programme_id": d["programme_id"], "participant_id": participant, "partner_id": d["partner_id"],
               "activity": d["activity"]}
        upsert(conn, t[ATTENDANCE.name], who | {"session_id": d["session_id"], "site": d["site"]} | when,
               ["programme_id", "session_id", "participant_id"])
        # Who came, added into (answers.py: a session is delivered once, so nothing is taken back).
        accumulate(conn, t[answers.ATTENDED.name], who | {"month": when["month"], "days": when["day_bit"]})
        accumulate(conn, t[answers.ATTENDED_YEARS.name], who | {"year": on.year, "months": when["month_bit"]})
        accumulate(conn, t[answers.ACTIVITY_PEOPLE.name], who | {"first_month": when["month"]})
    journey.delivered(conn, t, _, d, __)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _enrolled(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    on = date.fromisoformat(d["enrolled_on"])
    person = {"programme_id": d["programme_id"], "participant_id": d["participant_id"], "first_enrolled_on": on}
    accumulate(conn, t[answers.PEOPLE.name], person)
    accumulate(conn, t[answers.PARTNER_PEOPLE.name], person | {"partner_id": d["partner_id"]})
    accumulate(conn, t[answers.ENROLMENT_DAYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                                       "setting": d["setting"], "day": on, "enrolled": 1})
    journey.enrolled(conn, t, _, d, __)


def _withdrawn(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    accumulate(conn, t[answers.WITHDRAWAL_DAYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                                        "day": date.fromisoformat(d["withdrawn_on"]), "withdrawn": 1})
    journey.withdrawn_with_move_on(conn, t, _, d, __)


def _completed(conn: Rows, t: Tables, event: CloudEvent, d: Data, sequence: int) -> None:
    """A completion ends the enrolment as a withdrawal does (the "active" figure counts neither)."""
    accumulate(conn, t[answers.WITHDRAWAL_DAYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                                        "day": date.fromisoformat(d["completed_on"]), "withdrawn": 1})
    journey.completed(conn, t, event, d, sequence)


def _session_key(d: Data) -> dict[str, str]:
    return {"programme_id": d["programme_id"], "session_id": d["session_id"]}


def _cancelled(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    update(conn, t[SESSIONS.name], _session_key(d), status="cancelled")


def _spend(kind: str, id_field: str, day_field: str, status: str) -> Any:
    def apply(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
        row = {"programme_id": d["programme_id"], "contract_id": d["contract_id"], "kind": kind, "item_id": d[id_field],
               "partner_id": d["partner_id"], "co_producer_id": d.get("co_producer_id"), "amount_pence": d["amount_pence"],
               "on": date.fromisoformat(d[day_field]), "status": status}
        row["month"] = _month(row["on"])
        upsert(conn, t[SPEND.name], row, ["programme_id", "contract_id", "kind", "item_id"])

    return apply


def _status(kind: str, id_field: str, status: str) -> Any:
    def apply(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
        keys = {"programme_id": d["programme_id"], "contract_id": d["contract_id"], "kind": kind, "item_id": d[id_field]}
        update(conn, t[SPEND.name], keys, status=status)

    return apply


def _payment_run(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    for line in d["lines"]:
        row = {"programme_id": d["programme_id"], "run_id": d["run_id"], "item_id": line["item_id"],
               "co_producer_id": line["co_producer_id"], "partner_id": line["partner_id"],
               "amount_pence": line["amount_pence"], "on": date.fromisoformat(line["on"])}
        upsert(conn, t[CO_PRODUCER_PAYMENTS.name], row, ["programme_id", "run_id", "item_id"])
        accumulate(conn, t[answers.PAYMENT_DAYS.name], {"programme_id": d["programme_id"], "partner_id": line["partner_id"],
                                                         "on": row["on"], "amount_pence": line["amount_pence"]})


def _outcome(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "partner_id", "participant_id", "measurement_id", "instrument", "timepoint",
                             "raw_score")}
    row |= {"measured_on": date.fromisoformat(d["measured_on"]),
            "metric_hundredths": int(Decimal(str(d["metric_score"])) * 100)}
    upsert(conn, t[OUTCOMES.name], row, ["programme_id", "partner_id", "participant_id", "measurement_id"])
    if d["timepoint"] == "baseline":
        accumulate(conn, t[answers.BASELINE_DAYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                                          "instrument": d["instrument"], "day": row["measured_on"],
                                                          "baselines": 1})


def _assessed(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "assessment_id", "partner_id", "level", "ladder_rung", "tokenism_flags")}
    upsert(conn, t[CO_PRODUCTION.name], row | {"assessed_on": date.fromisoformat(d["assessed_on"])},
           ["programme_id", "assessment_id"])


def _proposed(conn: Rows, t: Tables, event: CloudEvent, d: Data, __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "proposed_by", "development_id", "you_said", "we_will", "status")}
    row["proposed_on"] = event.time.date()
    upsert(conn, t[DEVELOPMENTS.name], row, ["programme_id", "proposed_by", "development_id"])


def _status_set(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    keys = {k: d[k] for k in ("programme_id", "proposed_by", "development_id")}
    update(conn, t[DEVELOPMENTS.name], keys, status=d["to_status"], we_did=d.get("we_did"))


FACTS = Projection(
    name="reporting_facts",
    tables=[ORGANISATIONS, PROGRAMMES, CONTRACT_AWARDS, SESSIONS, ATTENDANCE, SPEND, CO_PRODUCER_PAYMENTS, OUTCOMES,
            CO_PRODUCTION, DEVELOPMENTS, *answers.TABLES, *journey.TABLES, *targets.TABLES, *story.TABLES,
            *voices.TABLES],
    summaries=answers.summaries(SESSIONS, SPEND, OUTCOMES, ATTENDANCE),
    handlers={
        "pathways.registry.OrganisationRegistered": _organisation,
        "pathways.registry.ProgrammeLaunched": _programme,
        "pathways.registry.PartnerCommissioned": _commissioned,
        "pathways.registry.ParticipantEnrolled": _enrolled,
        "pathways.registry.ParticipantWithdrawn": _withdrawn,
        "pathways.registry.ParticipantReferred": journey.referred,
        "pathways.registry.ReferralAccepted": journey.accepted,
        "pathways.registry.ReferralDeclined": journey.declined,
        "pathways.registry.ParticipantTransitioned": journey.transitioned,
        "pathways.registry.ParticipantCompleted": _completed,
        "pathways.registry.TargetSet": targets.target_set,
        "pathways.sessions.ShowcaseHeld": story.showcase_held,
        "pathways.evaluation.FeedbackSubmitted": story.feedback_submitted,
        "pathways.evaluation.EvaluationReportPublished": story.report_published,
        "pathways.payments.EarningsLimitWarning": story.earnings_warning,
        "pathways.evaluation.SurveyLinkIssued": voices.link_issued,
        "pathways.evaluation.SurveyAnswered": voices.survey_answered,
        "pathways.sessions.SessionScheduled": _scheduled,
        "pathways.sessions.SessionDelivered": _delivered,
        "pathways.sessions.SessionCancelled": _cancelled,
        "pathways.payments.InvolvementRecorded": _spend("involvement", "involvement_id", "worked_on", "recorded"),
        "pathways.payments.ExpenseClaimed": _spend("expense", "claim_id", "incurred_on", "claimed"),
        "pathways.payments.ExpenseApproved": _status("expense", "claim_id", "approved"),
        "pathways.payments.ExpenseRejected": _status("expense", "claim_id", "rejected"),
        "pathways.payments.InvoiceSubmitted": _spend("invoice", "invoice_id", "period_end", "submitted"),
        "pathways.payments.InvoicePaid": _status("invoice", "invoice_id", "paid"),
        "pathways.payments.PaymentRunIssued": _payment_run,
        "pathways.evaluation.OutcomeMeasured": _outcome,
        "pathways.evaluation.CoProductionAssessed": _assessed,
        "pathways.evaluation.DevelopmentProposed": _proposed,
        "pathways.evaluation.DevelopmentStatusSet": _status_set,
    },
)

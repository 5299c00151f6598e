"""The programme roster read model: programmes, commissioned partners, enrolments per
partner and unique participants programme-wide. Tables are sqlmodel classes; the
projection writes them with SQLAlchemy Core so a rebuild can aim at fresh copies."""

from __future__ import annotations

from datetime import date

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, upsert
from pathways.core.projection import update as update_row
from pathways.core.schemas import EventData
from pathways.policy.consent import PURPOSES, consent_column, purposes_given
from sqlalchemy import Table, func, update
from sqlmodel import Field, Session, SQLModel, select

from pathways_registry.domain import events as e


class RosterOrganisation(SQLModel, table=True):
    __tablename__ = "registry_organisation"
    organisation_id: str = Field(primary_key=True)
    name: str
    kind: str


class RosterProgramme(SQLModel, table=True):
    __tablename__ = "registry_programme"
    programme_id: str = Field(primary_key=True)
    name: str
    commissioner_id: str = Field(index=True)
    starts_on: date
    ends_on: date
    budget_pence: int


class RosterContract(SQLModel, table=True):
    __tablename__ = "registry_contract"
    programme_id: str = Field(primary_key=True)
    contract_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    budget_pence: int
    activities: str  # comma-separated, for display
    starts_on: date
    ends_on: date


class RosterEnrolment(SQLModel, table=True):
    __tablename__ = "registry_enrolment"
    programme_id: str = Field(primary_key=True)
    partner_id: str = Field(primary_key=True)
    participant_id: str = Field(primary_key=True)
    setting: str
    consent: bool  # to taking part; the other purposes below (pathways.policy.consent)
    consent_sharing_with_commissioner: bool = False
    consent_evaluation: bool = False
    consent_photographs_and_showcases: bool = False
    consent_review_on: date | None = None  # the latest consent's review date
    status: str  # active | withdrawn
    enrolled_on: date
    erased: bool = False  # their personal details were erased (crypto-shredded)


class RosterCoProducer(SQLModel, table=True):
    __tablename__ = "registry_co_producer"
    programme_id: str = Field(primary_key=True)
    co_producer_id: str = Field(primary_key=True)
    engaged_by: str
    role: str
    hourly_rate_pence: int
    receives_benefits: bool


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


ORGANISATION, PROGRAMME, CONTRACT, ENROLMENT, CO_PRODUCER = (
    _t(m) for m in (RosterOrganisation, RosterProgramme, RosterContract, RosterEnrolment, RosterCoProducer)
)


def _organisation(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.OrganisationRegistered)
    upsert(conn, t[ORGANISATION.name], {"organisation_id": d.organisation_id, "name": d.name, "kind": d.kind},
           ["organisation_id"])


def _programme(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ProgrammeLaunched)
    values = d.model_dump(include={"programme_id", "name", "commissioner_id", "starts_on", "ends_on", "budget_pence"})
    upsert(conn, t[PROGRAMME.name], values, ["programme_id"])


def _contract(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.PartnerCommissioned)
    values = d.model_dump(exclude={"activities"}) | {"activities": ", ".join(d.activities)}
    upsert(conn, t[CONTRACT.name], values, ["programme_id", "contract_id"])


def _enrolled(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ParticipantEnrolled)
    values = {
        "programme_id": d.programme_id,
        "partner_id": d.partner_id,
        "participant_id": d.participant_id,
        "setting": d.setting,
        **{consent_column(p): p in purposes_given("ParticipantEnrolled", 1, d.model_dump()) for p in PURPOSES},
        "status": "active",
        "enrolled_on": d.enrolled_on,
    }
    upsert(conn, t[ENROLMENT.name], values, ["programme_id", "partner_id", "participant_id"])


def _enrolment_change(**changes: object):  # type: ignore[no-untyped-def]
    def apply(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
        values = {k: (getattr(d, v[1:]) if isinstance(v, str) and v.startswith("@") else v) for k, v in changes.items()}
        keys = {k: getattr(d, k) for k in ("programme_id", "partner_id", "participant_id")}
        update_row(conn, t[ENROLMENT.name], keys, **values)

    return apply


def _consent(*, given: bool):  # type: ignore[no-untyped-def]
    def apply(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
        assert isinstance(d, e.ConsentRecorded | e.ConsentWithdrawn)  # upcast to v2 already (e.schemas)
        keys = {k: getattr(d, k) for k in ("programme_id", "partner_id", "participant_id")}
        values: dict[str, object] = {consent_column(p): given for p in d.purposes}
        if isinstance(d, e.ConsentRecorded) and d.review_on is not None:
            values["consent_review_on"] = d.review_on
        if values:  # an event naming no purpose changes nothing
            update_row(conn, t[ENROLMENT.name], keys, **values)

    return apply


def _erased(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.ParticipantDataErased)
    table = t[ENROLMENT.name]
    # The key was the person's in the programme: every partner's enrolment shows it.
    conn.execute(update(table).where(table.c.programme_id == d.programme_id,
                                     table.c.participant_id == d.participant_id)
                 .values(erased=True))


def _co_producer(conn: Rows, t: Tables, _: CloudEvent, d: EventData, __: int) -> None:
    assert isinstance(d, e.CoProducerRegistered)
    upsert(conn, t[CO_PRODUCER.name], d.model_dump(), ["programme_id", "co_producer_id"])


ROSTER = Projection(
    name="registry_roster",
    tables=[ORGANISATION, PROGRAMME, CONTRACT, ENROLMENT, CO_PRODUCER],
    handlers={
        e.OrganisationRegistered: _organisation,
        e.ProgrammeLaunched: _programme,
        e.PartnerCommissioned: _contract,
        e.ParticipantEnrolled: _enrolled,
        e.ConsentRecorded: _consent(given=True),
        e.ConsentWithdrawn: _consent(given=False),
        e.ParticipantTransitioned: _enrolment_change(setting="@to_setting"),
        e.ParticipantWithdrawn: _enrolment_change(status="withdrawn"),
        e.ParticipantDataErased: _erased,
        e.CoProducerRegistered: _co_producer,
    },
    schemas=e.schemas,
)


# -- queries (keyword-only, a session injected) -------------------------------------------


class PartnerRosterPublic(SQLModel):
    partner_id: str
    name: str | None
    contracts: list[str]
    budget_pence: int
    activities: list[str]
    active_enrolments: int
    total_enrolments: int


class ProgrammeRosterPublic(SQLModel):
    programme_id: str
    name: str
    commissioner_id: str
    starts_on: date
    ends_on: date
    budget_pence: int
    committed_pence: int
    unique_participants: int
    active_participants: int
    erased_participants: int  # whose personal details were erased
    co_producers: int
    partners: list[PartnerRosterPublic]


def list_programmes(*, session: Session) -> list[RosterProgramme]:
    return list(session.exec(select(RosterProgramme).order_by(RosterProgramme.programme_id)))


def list_organisations(*, session: Session) -> list[RosterOrganisation]:
    return list(session.exec(select(RosterOrganisation).order_by(RosterOrganisation.organisation_id)))


def programme_roster(*, session: Session, programme_id: str, partner_id: str | None = None) -> ProgrammeRosterPublic | None:
    """The programme's roster; with `partner_id`, as that partner may see it: its own line,
    and totals of its own contracts, participants and co-producers only."""
    programme = session.get(RosterProgramme, programme_id)
    if programme is None:
        return None
    names = {o.organisation_id: o.name for o in session.exec(select(RosterOrganisation))}
    contract_query = select(RosterContract).where(RosterContract.programme_id == programme_id)
    enrolment_query = select(RosterEnrolment).where(RosterEnrolment.programme_id == programme_id)
    co_producer_query = select(func.count()).select_from(RosterCoProducer).where(RosterCoProducer.programme_id == programme_id)
    if partner_id is not None:
        contract_query = contract_query.where(RosterContract.partner_id == partner_id)
        enrolment_query = enrolment_query.where(RosterEnrolment.partner_id == partner_id)
        co_producer_query = co_producer_query.where(RosterCoProducer.engaged_by == partner_id)
    contracts = list(session.exec(contract_query))
    enrolments = list(session.exec(enrolment_query))
    co_producers = session.exec(co_producer_query).one()
    partners: dict[str, PartnerRosterPublic] = {}
    for k in sorted(contracts, key=lambda k: (k.partner_id, k.contract_id)):
        p = partners.setdefault(
            k.partner_id,
            PartnerRosterPublic(
                partner_id=k.partner_id, name=names.get(k.partner_id), contracts=[], budget_pence=0,
                activities=[], active_enrolments=0, total_enrolments=0,
            ),
        )
        p.contracts.append(k.contract_id)
        p.budget_pence += k.budget_pence
        p.activities.extend(a for a in k.activities.split(", ") if a and a not in p.activities)
    for en in enrolments:
        if en.partner_id in partners:
            partners[en.partner_id].total_enrolments += 1
            partners[en.partner_id].active_enrolments += en.status == "active"
    return ProgrammeRosterPublic(
        programme_id=programme.programme_id,
        name=programme.name,
        commissioner_id=programme.commissioner_id,
        starts_on=programme.starts_on,
        ends_on=programme.ends_on,
        budget_pence=programme.budget_pence,
        committed_pence=sum(k.budget_pence for k in contracts),
        # One person enrolled with several partners counts once programme-wide.
        unique_participants=len({en.participant_id for en in enrolments}),
        active_participants=len({en.participant_id for en in enrolments if en.status == "active"}),
        erased_participants=len({en.participant_id for en in enrolments if en.erased}),
        co_producers=int(co_producers),
        partners=list(partners.values()),
    )

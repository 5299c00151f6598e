"""The 360Giving export: built from read-model rows in a throwaway SQLite database and checked
against the vendored official schema. The validator is also tested against broken packages, so a
validator that always returns [] would fail here. All organisations and numbers are made up."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Callable, Iterator
from datetime import date
from importlib.resources import files
from typing import Any

import pytest
import sqlalchemy as sa
from pathways_reporting import giving360, readmodel

COMMISSIONER = {"organisation_id": "comm-1", "name": "Larkfield Integrated Care Board", "kind": "commissioner"}
CHARITY = {"organisation_id": "partner-a", "name": "Meadowbank Arts Trust", "kind": "delivery_partner",
           "charity_number": "1234567"}
COMPANY = {"organisation_id": "partner-b", "name": "Hollybrook Wellbeing CIC", "kind": "delivery_partner",
           "company_number": "01234567"}
GROUP = {"organisation_id": "partner-c", "name": "Fernside Walking Group", "kind": "delivery_partner"}
IDLE = {"organisation_id": "partner-d", "name": "Quillby Dance Collective", "kind": "delivery_partner"}


def _award(programme: str, contract: str, partner: str, pence: int, activities: list[str]) -> dict[str, Any]:
    return {"programme_id": programme, "contract_id": contract, "partner_id": partner, "budget_pence": pence,
            "activities": json.dumps(activities), "starts_on": date(2025, 4, 1), "ends_on": date(2026, 3, 31),
            "awarded_on": date(2025, 3, 15)}


@pytest.fixture
def conn() -> Iterator[sa.Connection]:
    engine = sa.create_engine("sqlite://")
    # The read model's tables (the catalogue among them), then the directory's (each service's own copy).
    for table in [*readmodel.FACTS.tables, *readmodel.DIRECTORY.projection.tables]:
        table.create(engine)
    with engine.begin() as c:
        # executemany takes its columns from the first row, so every row names both numbers
        blank = {"charity_number": None, "company_number": None}
        c.execute(sa.insert(readmodel.ORGANISATIONS), [blank | o for o in (COMMISSIONER, CHARITY, COMPANY, GROUP, IDLE)])
        c.execute(sa.insert(readmodel.PROGRAMMES), [
            {"programme_id": "prog-1", "name": "Ward to Community Creative Health", "aims": json.dumps(["wellbeing"])},
            {"programme_id": "prog-2", "name": "Quiet Streets", "aims": "[]"},
        ])
        c.execute(sa.insert(readmodel.DIRECTORY.programmes_table), [
            {"programme_id": p, "commissioner_id": "comm-1", "starts_on": date(2025, 4, 1), "ends_on": date(2026, 3, 31),
             "budget_pence": 10_000_000} for p in ("prog-1", "prog-2")
        ])
        c.execute(sa.insert(readmodel.CONTRACT_AWARDS), [
            _award("prog-1", "contract-a", "partner-a", 250_000, ["arts on prescription", "singing for breathing"]),
            _award("prog-1", "contract-b", "partner-b", 12_345, ["peer support"]),
            _award("prog-1", "contract-c", "partner-c", 99_900, ["walking groups"]),
            _award("prog-2", "contract-z", "partner-a", 500_000, ["street gardening"]),
        ])
        yield c


def _by_recipient(pkg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["recipientOrganization"][0]["name"]: g for g in pkg["grants"]}


def test_programme_package_is_valid_360giving(conn: sa.Connection) -> None:
    pkg = giving360.package(conn, "prog-1")
    assert pkg is not None
    assert giving360.validate(pkg) == []
    assert [g["id"] for g in pkg["grants"]] == [f"360G-pathways-prog-1-contract-{c}" for c in "abc"]  # not prog-2's
    grant = _by_recipient(pkg)["Meadowbank Arts Trust"]
    assert grant["title"] == "Ward to Community Creative Health: Meadowbank Arts Trust"
    assert "arts on prescription; singing for breathing" in grant["description"]
    assert "2025-04-01 to 2026-03-31" in grant["description"]
    assert grant["currency"] == "GBP" and grant["awardDate"] == "2025-03-15"
    assert grant["plannedDates"] == [{"startDate": "2025-04-01", "endDate": "2026-03-31"}]
    assert grant["fundingOrganization"] == [{"id": "360G-pathways-comm-1", "name": "Larkfield Integrated Care Board"}]


def test_organisation_ids_follow_org_id_guide(conn: sa.Connection) -> None:
    pkg = giving360.package(conn, "prog-1")
    assert pkg is not None
    recipients = {name: g["recipientOrganization"][0] for name, g in _by_recipient(pkg).items()}
    assert recipients["Meadowbank Arts Trust"] == {"id": "GB-CHC-1234567", "name": "Meadowbank Arts Trust",
                                                   "charityNumber": "1234567"}
    assert recipients["Hollybrook Wellbeing CIC"] == {"id": "GB-COH-01234567", "name": "Hollybrook Wellbeing CIC",
                                                      "companyNumber": "01234567"}
    assert recipients["Fernside Walking Group"] == {"id": "360G-pathways-partner-c", "name": "Fernside Walking Group"}


@pytest.mark.parametrize(("org", "expected"), [
    ({"charity_number": "1234567", "company_number": "01234567"}, "GB-CHC-1234567"),  # charity ranks first
    ({"charity_number": " 1234567 ", "company_number": None}, "GB-CHC-1234567"),
    ({"charity_number": "SC012345"}, "GB-SC-SC012345"),
    ({"charity_number": "NIC100002"}, "GB-NIC-100002"),
    ({"company_number": "1234567"}, "GB-COH-01234567"),  # registers drop the leading zero
    ({"company_number": "sc123456"}, "GB-COH-SC123456"),
    ({"charity_number": "", "company_number": ""}, "360G-pathways-org-9"),
    ({"organisation_id": "team/north 1"}, "360G-pathways-team_north_1"),
])
def test_org_id(org: dict[str, Any], expected: str) -> None:
    assert giving360.org_id({"organisation_id": "org-9"} | org) == expected


def test_amount_awarded_is_pounds(conn: sa.Connection) -> None:
    pkg = giving360.package(conn, "prog-1")
    assert pkg is not None
    amounts = {name: g["amountAwarded"] for name, g in _by_recipient(pkg).items()}
    assert amounts == {"Meadowbank Arts Trust": 2500.0, "Hollybrook Wellbeing CIC": 123.45, "Fernside Walking Group": 999.0}
    assert '"amountAwarded": 123.45' in json.dumps(pkg)  # the number as written to the file, no binary noise


def test_partner_sees_only_its_own_contracts(conn: sa.Connection) -> None:
    pkg = giving360.package(conn, "prog-1", "partner-b")
    assert pkg is not None
    assert giving360.validate(pkg) == []
    assert [g["id"] for g in pkg["grants"]] == ["360G-pathways-prog-1-contract-b"]
    text = json.dumps(pkg)
    for other in ("Meadowbank", "Fernside", "contract-a", "contract-c", "partner-a", "partner-c", "GB-CHC", "charityNumber"):
        assert other not in text


def test_unknown_programme_is_none(conn: sa.Connection) -> None:
    assert giving360.package(conn, "no-such-programme") is None
    assert giving360.package(conn, "no-such-programme", "partner-a") is None


def test_scope_without_contracts_is_flagged_not_valid(conn: sa.Connection) -> None:
    pkg = giving360.package(conn, "prog-1", "partner-d")
    assert pkg is not None and pkg["grants"] == []
    assert [e for e in giving360.validate(pkg) if e.startswith("$.grants:")]  # the schema wants at least one grant


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda grant: grant.pop(key)


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no currency": (_drop("currency"), "'currency' is a required property"),
    "no title": (_drop("title"), "'title' is a required property"),
    "no funder": (_drop("fundingOrganization"), "'fundingOrganization' is a required property"),
    "amount as text": (lambda g: g.update(amountAwarded="2500.00"), "is not of type 'number'"),
    "funder without id": (lambda g: g["fundingOrganization"][0].pop("id"), "'id' is a required property"),
    "recipient without id": (lambda g: g["recipientOrganization"][0].pop("id"), "'id' is a required property"),
    "no recipient": (lambda g: g.update(recipientOrganization=[]), "should be non-empty"),
    "unknown currency": (lambda g: g.update(currency="XYZ"), "is not one of"),
    "UK-style date": (lambda g: g.update(awardDate="15/03/2025"), "is not valid under any of the given schemas"),
    "impossible month": (lambda g: g.update(awardDate="2025-13-01"), "is not valid under any of the given schemas"),
    "date-time without offset": (lambda g: g.update(awardDate="2025-03-15T10:00:00"), "is not valid under any"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_validate_catches_broken_grants(conn: sa.Connection, breakage: str) -> None:
    pkg = giving360.package(conn, "prog-1")
    assert pkg is not None
    broken = copy.deepcopy(pkg)
    change, message = BREAKAGES[breakage]
    change(broken["grants"][1])
    errors = giving360.validate(broken)
    assert errors, breakage
    assert any(e.startswith("$.grants[1]") and message in e for e in errors), errors


def test_full_date_time_is_accepted(conn: sa.Connection) -> None:
    pkg = giving360.package(conn, "prog-1")
    assert pkg is not None
    pkg["grants"][0]["awardDate"] = "2025-03-15T10:00:00Z"
    assert giving360.validate(pkg) == []


def test_package_without_grants_key_is_invalid() -> None:
    assert giving360.validate({"title": "nothing"}) == ["$: 'grants' is a required property"]


def test_validation_never_uses_the_network(conn: sa.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = giving360.package(conn, "prog-1")
    assert pkg is not None

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("validation tried to open a network connection")

    giving360._validator.cache_clear()  # build the validator (and resolve the grant schema $ref) under the ban
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert giving360.validate(pkg) == []


def test_vendored_schemas_are_package_data() -> None:
    folder = files("pathways_reporting") / "schemas" / "360giving"
    package_schema = json.loads((folder / "360-giving-package-schema.json").read_text(encoding="utf-8"))
    grant_schema = json.loads((folder / "360-giving-schema.json").read_text(encoding="utf-8"))
    assert package_schema["$schema"] == grant_schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert {"id", "title", "description", "currency", "amountAwarded", "awardDate", "fundingOrganization",
            "recipientOrganization"} <= set(grant_schema["required"])

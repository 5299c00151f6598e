"""The 360Giving export: a programme's commissioned contracts as a 360Giving data package,
one grant per contract, built from the reporting read model. It also checks a package against
the official 360Giving JSON Schemas vendored in schemas/360giving/, without using the network.
This module decides how organisation and grant identifiers are made and how pence become
pounds."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import FormatChecker
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.jsonschema import DRAFT4
from sqlalchemy import Connection, Row, select

from pathways_reporting.readmodel import CONTRACT_AWARDS, DIRECTORY, ORGANISATIONS, PROGRAMMES

# 360Giving's identifier guidance: without a registered number, an organisation (like every grant) is
# named by the publisher's 360Giving prefix plus an internal id, "360G-<prefix>-<id>", so that one
# publisher's internal ids never clash with another's. 360Giving gives the real prefix to the
# publishing organisation when it registers. This one is the platform's placeholder until a
# commissioner registers.
PREFIX = "360G-pathways-"
# Charity numbers from the Scottish (SC...) and Northern Irish (NIC...) regulators have their own org-id lists.
_CHARITY_LISTS = (("SC", "GB-SC-", 0), ("NIC", "GB-NIC-", 3))
# RFC 3339 date-time, the form JSON Schema's "date-time" format means (a time and an offset are required).
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)


def org_id(org: Mapping[str, Any]) -> str:
    """The org-id.guide identifier for a reporting_organisation row (or a mapping with its keys)."""
    charity = (org.get("charity_number") or "").strip().upper()
    company = (org.get("company_number") or "").strip().upper()
    if charity:  # org-id.guide ranks a charity number above a company number for charitable companies
        for lead, prefix, cut in _CHARITY_LISTS:
            if charity.startswith(lead):
                return prefix + charity[cut:]
        return f"GB-CHC-{charity}"
    if company:  # Companies House numbers are 8 characters; registers drop the leading zeros
        return f"GB-COH-{company.zfill(8) if company.isdigit() else company}"
    return PREFIX + _safe(org["organisation_id"])


def package(conn: Connection, programme_id: str, partner_id: str | None = None) -> dict[str, Any] | None:
    """The programme's contracts as a 360Giving package, or None for an unknown programme. With
    `partner_id`, only that partner's contracts: a partner never sees another partner's rows. A
    scope with no contracts gives an empty `grants`, which the schema rejects (minItems 1)."""
    programme = conn.execute(select(PROGRAMMES).where(PROGRAMMES.c.programme_id == programme_id)).first()
    directory = DIRECTORY.programmes_table
    launched = conn.execute(select(directory).where(directory.c.programme_id == programme_id)).first()
    if programme is None or launched is None:
        return None
    query = select(CONTRACT_AWARDS).where(CONTRACT_AWARDS.c.programme_id == programme_id)
    if partner_id is not None:
        query = query.where(CONTRACT_AWARDS.c.partner_id == partner_id)
    awards = conn.execute(query.order_by(CONTRACT_AWARDS.c.contract_id)).all()
    orgs = _organisations(conn, {launched.commissioner_id, *(a.partner_id for a in awards)})
    funder = orgs[launched.commissioner_id]
    return {
        "title": f"{programme.name}: commissioned contracts",
        "publisher": {"name": funder["name"], "identifier": funder["id"]},  # the commissioner publishes its own awards
        "grants": [_grant(programme, award, funder, orgs[award.partner_id]) for award in awards],
    }


def validate(pkg: Mapping[str, Any]) -> list[str]:
    """Every way `pkg` breaks the 360Giving package schema, as "<JSON path>: <message>"; [] when valid."""
    errors = sorted(_validator().iter_errors(pkg), key=lambda e: ([str(p) for p in e.absolute_path], e.message))
    return [f"{e.json_path}: {e.message}" for e in errors]


def _grant(programme: Row[Any], award: Row[Any], funder: dict[str, str], recipient: dict[str, str]) -> dict[str, Any]:
    activities = "; ".join(json.loads(award.activities)) or "activities as contracted"
    period = f"{award.starts_on.isoformat()} to {award.ends_on.isoformat()}"
    return {
        "id": f"{PREFIX}{_safe(programme.programme_id)}-{_safe(award.contract_id)}",
        "title": f"{programme.name}: {recipient['name']}",
        "description": f"Contract {award.contract_id} to deliver {activities}, {period}.",
        "currency": "GBP",
        "amountAwarded": award.budget_pence / 100,  # the read model keeps exact pence; 360Giving wants pounds
        "awardDate": award.awarded_on.isoformat(),
        "plannedDates": [{"startDate": award.starts_on.isoformat(), "endDate": award.ends_on.isoformat()}],
        "fundingOrganization": [funder],
        "recipientOrganization": [recipient],
        "grantProgramme": [{"code": programme.programme_id, "title": programme.name}],
    }


def _organisations(conn: Connection, ids: set[str]) -> dict[str, dict[str, str]]:
    rows = conn.execute(select(ORGANISATIONS).where(ORGANISATIONS.c.organisation_id.in_(ids)))
    known: dict[str, dict[str, Any]] = {r.organisation_id: dict(r._mapping) for r in rows}
    # An organisation not yet in the catalogue still needs the id and name the schema requires.
    return {i: _organisation(known.get(i, {"organisation_id": i, "name": i})) for i in ids}


def _organisation(org: Mapping[str, Any]) -> dict[str, str]:
    out = {"id": org_id(org), "name": org["name"]}
    for column, field in (("charity_number", "charityNumber"), ("company_number", "companyNumber")):
        if org.get(column):
            out[field] = org[column]
    return out


def _safe(internal_id: str) -> str:
    # 360Giving's guidance: replace spaces and special characters in internal ids with "_", and never use slashes.
    return re.sub(r"[^A-Za-z0-9_-]", "_", internal_id)


@cache
def _validator() -> Validator:
    here = files("pathways_reporting") / "schemas" / "360giving"
    package_schema = json.loads((here / "360-giving-package-schema.json").read_text(encoding="utf-8"))
    grant_schema = json.loads((here / "360-giving-schema.json").read_text(encoding="utf-8"))
    # The package schema names the grant schema by its public URL: answer that URL with the vendored copy,
    # and with no retrieve function any other $ref fails instead of reaching the network.
    grant_uri = package_schema["properties"]["grants"]["items"]["$ref"]
    registry: Registry[Any] = Registry().with_resource(grant_uri, DRAFT4.create_resource(grant_schema))
    return validator_for(package_schema)(package_schema, registry=registry, format_checker=_formats())


def _formats() -> FormatChecker:
    # Dates are `oneOf: [{format: date-time}, {pattern: YYYY-MM-DD}]`. jsonschema checks "date-time" only
    # when an optional extra (rfc3339-validator) is installed; unchecked, a plain date matches both branches
    # and oneOf rejects it. So this checker always checks "date-time" itself.
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.fullmatch(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # raises on impossible days or hours
        return True

    return checker

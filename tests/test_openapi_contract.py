"""The HTTP contract a partner can try from /docs: a bearer scheme behind the Authorize
button, one documented route per command with the command's own body schema and every
reply it can get, and no /commands on a service that takes none."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, setup_programme, signed_in, unique

README = Path(__file__).resolve().parents[1] / "README.md"


async def spec_of(host: ServiceHost) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://svc") as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    return spec


def resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema, or the component its `$ref` names (`#/components/schemas/X`)."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].removeprefix("#/components/schemas/")]
    return schema


async def test_every_command_is_a_documented_route_with_its_body_and_its_replies(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    reporting: ServiceHost,
) -> None:
    for host in (registry, sessions, payments, evaluation):
        spec = await spec_of(host)
        schemes = spec["components"]["securitySchemes"]
        assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values()), schemes
        for name, handler in host.service.handlers.items():
            route = spec["paths"][f"/commands/{{organisation}}/{name}"]["post"]
            assert set(route["responses"]) >= {"200", "401", "403", "413", "415", "422", "503"}, (name, route["responses"])
            assert route["security"], name
            body = resolved(spec, route["requestBody"]["content"]["application/json"]["schema"])
            assert body["required"] == ["idempotency_key", "organisation", "actor", "data"]
            fields = set(handler.model.model_fields)
            assert set(resolved(spec, body["properties"]["data"])["properties"]) == fields, name
            assert "$defs" not in json.dumps(route), name  # every model is in components, where a client finds it
        assert "/commands/{organisation}/batch" in spec["paths"]
        reads = [op for path, ops in spec["paths"].items() if path.startswith("/programmes") for op in ops.values()]
        assert reads and all(op.get("security") for op in reads), host.service.name
    assert not [p for p in (await spec_of(reporting))["paths"] if p.startswith("/commands")]  # it takes no commands


async def test_the_readme_example_is_the_documented_body_and_is_accepted_over_http(
    registry: ServiceHost, client: CommandClient,
) -> None:
    example = json.loads(re.search(r"```json\n(.*?)```", README.read_text(), re.S).group(1))  # type: ignore[union-attr]
    spec = await spec_of(registry)
    schema = spec["paths"]["/commands/{organisation}/EnrolParticipant"]["post"]["requestBody"]
    jsonschema.validate(example, schema["content"]["application/json"]["schema"] | {"components": spec["components"]})
    s = await setup_programme(client)
    body = example | {"organisation": s.partner_a, "idempotency_key": unique("k"),
                      "data": example["data"] | {"programme_id": s.programme_id, "participant_id": unique("P")}}
    async with await signed_in(registry, s.partner_a, "partner") as http:
        accepted = await http.post(f"/commands/{s.partner_a}/EnrolParticipant", json=body)
        unknown = await http.post(f"/commands/{s.partner_a}/DeleteEverything", json=body)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid" and "EnrolParticipant" in unknown.json()["message"]


async def test_a_422_is_sent_as_the_list_of_problems_it_is_documented_as(
    registry: ServiceHost, sessions: ServiceHost, reporting: ServiceHost, client: CommandClient,
) -> None:
    """Two 422s were documented as FastAPI's list of problems and sent as a string: a bad
    register upload, and `from` after `to`."""
    s = await setup_programme(client)
    answers = []
    async with await signed_in(sessions, s.partner_a, "partner") as http:
        answers.append((sessions, "/imports/attendance", await http.post(
            "/imports/attendance", params={"programme": s.programme_id}, content="a,b\n1,2\n",
            headers={"content-type": "text/csv"})))
    async with await signed_in(reporting, s.commissioner, "commissioner") as http:
        answers.append((reporting, "/programmes/{programme_id}/summary", await http.get(
            f"/programmes/{s.programme_id}/summary", params={"from": "2026-02-01", "to": "2026-01-01"})))
    for host, path, answer in answers:
        spec = await spec_of(host)
        documented = next(iter(spec["paths"][path].values()))["responses"]["422"]["content"]["application/json"]["schema"]
        assert answer.status_code == 422, answer.text
        jsonschema.validate(answer.json(), documented | {"components": spec["components"]})

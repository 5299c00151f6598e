"""Kernel pieces that need no server: subjects, ids, schema versions and upcasting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pathways.core.ids import event_ids_for, is_valid_id
from pathways.core.schemas import EventData, SchemaRegistry, version_of
from pathways.core.subjects import command_subject, event_subject, parse_command_subject

from tests.conftest import unique


def test_ids_never_hold_subject_metacharacters() -> None:
    for bad in ["a.b", "a*", "a>", "a b", "", "x" * 65]:
        assert not is_valid_id(bad)
        with pytest.raises(ValueError):
            event_subject("p", bad, "registry", "x")
    assert is_valid_id("P-0042_b")


def test_subjects_round_trip() -> None:
    assert event_subject(None, "org", "registry", "agg") == "pathways.evt._.org.registry.agg"
    assert parse_command_subject(command_subject("partner-a", "registry", "EnrolParticipant")) == ("partner-a", "registry",
                                                                                                   "EnrolParticipant")
    with pytest.raises(ValueError):
        parse_command_subject("pathways.cmd.too.short")


def test_event_ids_are_deterministic_per_key() -> None:
    assert event_ids_for("o", "C", "k", 2) == event_ids_for("o", "C", "k", 2)
    assert event_ids_for("o", "C", "k", 1) != event_ids_for("o", "C", "k2", 1)
    assert event_ids_for("o", "C", "k", 2)[0] == event_ids_for("o", "C", "k", 1)[0]


def test_old_event_versions_are_upcast_on_read() -> None:
    registry = SchemaRegistry()

    @registry.event("demo", version=2)
    class SessionDelivered(EventData):
        minutes: int
        site: str

    @registry.upcaster("pathways.demo.SessionDelivered", from_version=1)
    def hours_to_minutes(data: dict) -> dict:  # type: ignore[type-arg]
        return {"minutes": int(data.pop("hours") * 60), "site": data.get("site", "unknown")}

    v1 = "urn:pathways:schema:event:demo.SessionDelivered:v1"
    assert version_of(v1) == 1
    decoded = registry.decode("pathways.demo.SessionDelivered", v1, {"hours": 1.5})
    assert decoded == SessionDelivered(minutes=90, site="unknown")
    current = registry.decode("pathways.demo.SessionDelivered", registry.events["pathways.demo.SessionDelivered"].uri,
                              {"minutes": 5, "site": "ward"})
    assert current.minutes == 5  # type: ignore[attr-defined]


def test_a_projection_keyed_by_event_class_dispatches_on_the_wire_type_and_refuses_unregistered_classes() -> None:
    """A handler keyed by its event's class runs for events of that class's type; a class
    no registry registered (a subclass of a registered one included: it inherits the
    parent's type) cannot key a handler, and one type cannot have two handlers."""
    from pathways.core.projection import Projection

    registry = SchemaRegistry()

    @registry.event("demo")
    class SessionHeld(EventData):
        minutes: int

    class SessionHeldAgain(SessionHeld):  # not registered
        pass

    def apply(*_: Any) -> None:
        return None

    projection = Projection("held", [], {SessionHeld: apply, "pathways.other.Thing": apply}, schemas=registry)
    assert SessionHeld.event_type == "pathways.demo.SessionHeld"
    assert set(projection.by_type) == {"pathways.demo.SessionHeld", "pathways.other.Thing"}
    assert projection.subjects == ["pathways.evt.*.*.demo.*", "pathways.evt.*.*.other.*"]
    with pytest.raises(ValueError, match="SessionHeldAgain is not a registered event"):
        Projection("again", [], {SessionHeldAgain: apply})
    with pytest.raises(ValueError, match=re.escape("two handlers for pathways.demo.SessionHeld")):
        Projection("twice", [], {SessionHeld: apply, "pathways.demo.SessionHeld": apply})


def test_a_read_model_made_by_an_earlier_version_is_rebuilt_not_broken(tmp_path: Path) -> None:
    """A new version adds a column: its runner drops the old tables and starts from the first
    event, instead of failing on every insert."""
    from pathways.core.projection import Projection, read_position, write_position
    from pathways.core.readmodels import make_engine
    from pathways.jetstream.runner import ProjectionRunner
    from sqlalchemy import Column, Integer, MetaData, String, Table

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    old = Table("versioned_rows", MetaData(), Column("id", String, primary_key=True))
    new = Table("versioned_rows", MetaData(), Column("id", String, primary_key=True), Column("count", Integer))
    with engine.begin() as conn:
        old.create(conn)
        conn.execute(old.insert().values(id="a"))
        write_position(conn, "versioned", 41)
    runner = ProjectionRunner(Projection("versioned", [new], {}), engine, nc=None)  # type: ignore[arg-type]
    runner.create_tables()
    with engine.begin() as conn:
        assert read_position(conn, "versioned") == 0
        assert conn.execute(new.select()).all() == []
        conn.execute(new.insert().values(id="b", count=1))
    runner.create_tables()  # the same version again: nothing is dropped
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(new.select())] == [("b", 1)]
    engine.dispose()


def test_a_stale_pid_file_never_gets_a_stranger_signalled(tmp_path: Path) -> None:
    """`pathways org add` reloads the server `pathways up` runs by the PID it left; a PID
    file left by a crash may name a process that is not that server any more."""
    import subprocess

    from pathways.runtime.natsserver import PID_FILE, Credentials, reload_running_server

    Credentials.load_or_create(tmp_path / "credentials.json")
    stranger = subprocess.Popen(["sleep", "30"])  # SIGHUP would end it
    try:
        (tmp_path / PID_FILE).write_text(str(stranger.pid))
        assert reload_running_server(tmp_path) is False
        assert stranger.poll() is None
        assert (tmp_path / "authorization.conf").exists()  # the file is still rewritten for the next start
    finally:
        stranger.kill()
        stranger.wait()


def test_no_organisation_may_take_an_id_whose_inbox_is_a_services(tmp_path: Path) -> None:
    """(found by a review) an organisation `svc-registry` would connect with the inbox prefix
    `_INBOX.svc-registry`, the registry service's own, and could hear its replies."""
    from pathways.runtime.accounts import OrganisationRegister

    register = OrganisationRegister(tmp_path)
    for taken in ("svc-registry", "svc-anything"):
        with pytest.raises(ValueError, match="services"):
            register.issue(taken, "partner")
    assert register.issue("service-users-trust", "partner")  # a name that merely starts alike is fine


def test_a_service_declares_what_its_nats_user_needs_and_the_kernel_names_none() -> None:
    """The bucket of people's keys and the key shredder were the registry's by name in the
    kernel (KEY_KEEPERS, SHREDDER_CONSUMER); now each service declares them (NatsNeeds)."""
    from pathways.runtime.accounts import NatsNeeds, needs_of, service_permissions

    needs = needs_of(["registry", "sessions", "no-such-service"])
    assert needs["registry"].keeps_person_keys and needs["registry"].own_consumers == ("registry_key_shredder",)
    assert needs["sessions"] == NatsNeeds() and needs["no-such-service"] == NatsNeeds()
    keeper = service_permissions("x", NatsNeeds(keeps_person_keys=True, own_consumers=("x_fixed",)), {"x_fixed", "y_fixed"})
    other = service_permissions("y", NatsNeeds(own_consumers=("y_fixed",)), {"x_fixed", "y_fixed"})
    assert "$KV.PATHWAYS_PERSON_KEYS.>" in keeper["publish"]["allow"]
    assert not any("PERSON_KEYS" in subject for subject in other["publish"]["allow"])
    assert any("x_fixed" in s for s in other["publish"]["deny"]) and not any("y_fixed" in s for s in other["publish"]["deny"])
    assert any("y_fixed" in s for s in keeper["publish"]["deny"]) and not any("x_fixed" in s for s in keeper["publish"]["deny"])
    import pathways.core.subjects as subjects
    import pathways.runtime.accounts as accounts

    assert not hasattr(accounts, "KEY_KEEPERS") and not hasattr(subjects, "SHREDDER_CONSUMER")


async def test_an_entry_in_the_token_bucket_that_is_not_a_token_signs_no_one_in_and_breaks_no_listing(
    nats_client: Any,
) -> None:
    """A request's answer can be made to land on `$KV.PATHWAYS_TOKENS.<key>` (its reply
    subject names the key): such an entry is not a token record."""
    from pathways.policy.access import TokenStore, token_hash

    store = TokenStore(nats_client)
    real = await store.issue(unique("org"), "partner")
    kv = await nats_client.jetstream().key_value("PATHWAYS_TOKENS")
    junks = [b'{"specversion": "1.0", "data": {}}', b"not json", b"[1]", b'{"organisation_id": "x", "role": "god"}']
    for n, junk in enumerate(junks):
        await kv.put(token_hash(f"pwt_junk-{n}"), junk)
        assert await store.caller(f"pwt_junk-{n}") is None
    assert any(r["role"] == "partner" for r in await store.listing())  # the listing still lists the real ones
    assert (await store.caller(real)) is not None


def test_a_handler_gives_its_rule_a_frozen_dataclass_and_names_a_mismatch_between_what_it_found_and_its_fields() -> None:
    from dataclasses import FrozenInstanceError, dataclass

    from pathways.core.commands import CommandHandler, NoFacts
    from pathways.core.schemas import CommandData

    class Enrol(CommandData):
        programme_id: str

    @dataclass(frozen=True)
    class Programme:
        programme: str
        takes_part: bool

    def decide(cmd: Enrol, ctx: Any, state: Any, facts: Programme) -> Any:
        return []

    handler = CommandHandler(Enrol, target=lambda cmd, ctx: None, decide=decide, facts=Programme)  # type: ignore[arg-type, return-value]
    facts = handler.facts_of({"programme": "p1", "takes_part": True})
    assert facts == Programme("p1", True)
    with pytest.raises(FrozenInstanceError):
        facts.programme = "p2"  # type: ignore[misc]
    with pytest.raises(RuntimeError, match=re.escape("Enrol: its reads and consultations give ['programme'], but "
                                                     "Programme has the fields ['programme', 'takes_part']")):
        handler.facts_of({"programme": "p1"})
    with pytest.raises(RuntimeError, match="give \\['extra', 'programme', 'takes_part'\\]"):
        handler.facts_of({"programme": "p1", "takes_part": True, "extra": 1})
    assert CommandHandler(Enrol, target=lambda cmd, ctx: None, decide=decide).facts_of({}) == NoFacts()  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="facts must be a dataclass"):
        CommandHandler(Enrol, target=lambda cmd, ctx: None, decide=decide, facts=dict)  # type: ignore[arg-type, return-value]

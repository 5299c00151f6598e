"""The NATS server itself keeps organisations apart (DESIGN §4 G5), tested against a real
nats-server with the configuration `pathways up` gives it: an organisation publishes
commands only as itself and hears only its own replies, an auditor reads the stream but
sends nothing, and a revoked organisation is cut off at once, without a restart."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig
from pathways.core.subjects import STREAM_NAME
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.accounts import OrganisationRegister, inbox_prefix, nats_user
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import Credentials, EmbeddedNatsServer
from pathways.runtime.service import discover
from pathways.runtime.storage import prepare_storage
from pathways.testing.servers import NatsEndpoint
from pathways_registry.shredder import CONSUMER as SHREDDER_CONSUMER

from tests.conftest import running

OWN_SUBJECT = "pathways.cmd.org-a.registry.EnrolParticipant"


@dataclass
class Secured:
    server: EmbeddedNatsServer
    register: OrganisationRegister
    passwords: dict[str, str]

    @property
    def endpoint(self) -> NatsEndpoint:
        creds = self.server.credentials
        assert creds is not None
        return NatsEndpoint(ConnectionInfo(self.server.url, creds.user, creds.password), "wheel", self.server)

    def service_endpoint(self, name: str) -> NatsEndpoint:
        """How `pathways up` connects a service: as itself, not as the platform."""
        password = self.server.service_accounts[name]["password"]
        return NatsEndpoint(ConnectionInfo(self.server.url, f"svc-{name}", password), "wheel", self.server)


@dataclass
class Organisation:
    nc: Client
    errors: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def violated(self, action: str, subject: str) -> bool:
        """Did the server refuse this client `action` ("publish", "subscription") on `subject`?"""
        return any(f"permissions violation for {action} to \"{subject.lower()}" in e.lower() for e in self.errors)


@pytest.fixture
def secured(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Secured]:
    """A server configured as `pathways up` configures it, for org-a, org-b (partners) and
    audit-co (an auditor), with users for the registry and sessions services, or for the
    services a test names (`@pytest.mark.parametrize("secured", [[...]], indirect=True)`)."""
    services: list[str] = getattr(request, "param", ["registry", "sessions"])
    home = tmp_path / "nats"
    register = OrganisationRegister(home)
    passwords = {org: register.issue(org, role) for org, role in [("org-a", "partner"), ("org-b", "partner"),
                                                                  ("audit-co", "auditor")]}
    server = EmbeddedNatsServer(home, port=None, credentials=Credentials("pathways-test", os.urandom(12).hex()),
                                organisations=True, services=services)
    server.start()
    try:
        asyncio.run(_storage(server))  # what `pathways up` does before it starts the services
        yield Secured(server, register, passwords)
    finally:
        server.stop()


async def _storage(server: EmbeddedNatsServer) -> None:
    creds = server.credentials
    assert creds is not None
    nc = await ConnectionInfo(server.url, creds.user, creds.password).connect("storage")
    try:
        await prepare_storage(nc)
    finally:
        await nc.close()


async def connect_as(s: Secured, org: str, password: str | None = None) -> Organisation:
    found = Organisation(nc=Client())

    async def error(err: Exception) -> None:
        found.errors.append(str(err))

    async def closed() -> None:
        found.closed.set()

    found.nc = await nats.connect(s.server.url, user=nats_user(org), password=password or s.passwords[org],
                                  inbox_prefix=inbox_prefix(org), error_cb=error, closed_cb=closed,
                                  allow_reconnect=False, connect_timeout=5)
    return found


def command(org: str, programme: str = "no-such-programme") -> bytes:
    return json.dumps({"idempotency_key": os.urandom(8).hex(), "organisation": org, "actor": "a system", "data": {
        "programme_id": programme, "participant_id": "pt-1", "setting": "ward", "referral_source": "self",
        "consent_given": True, "enrolled_on": "2025-11-03"}}).encode()


async def connect_as_service(secured: Secured, name: str) -> tuple[Client, list[str]]:
    """A service's own NATS user, as `pathways up` connects it, with the server's refusals collected."""
    errors: list[str] = []

    async def error(err: Exception) -> None:
        errors.append(str(err).lower())

    endpoint = secured.service_endpoint(name).connection
    nc = await nats.connect(endpoint.nats_url, user=endpoint.user, password=endpoint.password, error_cb=error,
                            inbox_prefix=f"_INBOX.svc-{name}", allow_reconnect=False)
    return nc, errors


async def eventually(condition: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


@pytest.fixture
async def registry(secured: Secured, tmp_path: Path) -> AsyncIterator[None]:
    async with running(discover()["registry"], secured.service_endpoint("registry"), tmp_path):
        yield


async def test_a_reply_cannot_be_aimed_at_another_organisations_inbox(secured: Secured, registry: None) -> None:
    """A named B's inbox as its command's reply subject, and B received the reply. Now the
    service answers only on the sender's own inboxes: B hears nothing, and the refusal is
    recorded for the auditors."""
    a, b = await connect_as(secured, "org-a"), await connect_as(secured, "org-b")
    creds = secured.server.credentials
    assert creds is not None
    platform = await ConnectionInfo(secured.server.url, creds.user, creds.password).connect("reply-test")
    try:
        heard: list[bytes] = []

        async def hear(msg: Any) -> None:
            heard.append(msg.data)

        await b.nc.subscribe(f"{inbox_prefix('org-b')}.>", cb=hear)
        store = JetStreamEventStore(platform)
        before = await store.last_sequence()
        for aimed_at in (f"{inbox_prefix('org-b')}.stolen", "$KV.PATHWAYS_TOKENS.x", "_INBOX.org-b"):
            await a.nc.publish(OWN_SUBJECT, command("org-a"), reply=aimed_at)
        await a.nc.flush()

        async def recorded() -> list[Any]:
            return [e async for e in store.read_all(before + 1, await store.last_sequence())]

        for _ in range(100):
            if len(await recorded()) >= 3:
                break
            await asyncio.sleep(0.05)
        refusals = [e.event.data for e in await recorded() if e.event.type == "pathways.audit.CommandRejected"]
        assert len(refusals) == 3 and all(r["code"] == "forbidden" and "own inbox" in r["message"]
                                          for r in refusals), refusals
        await asyncio.sleep(0.5)
        assert heard == []
        # A's own inbox is answered as before.
        reply = json.loads((await a.nc.request(OWN_SUBJECT, command("org-a"), timeout=10)).data)
        assert reply["code"] == "not_found"
    finally:
        for nc in (a.nc, b.nc, platform):
            await nc.close()


async def test_an_organisation_commands_only_as_itself_and_hears_only_its_own_replies(secured: Secured, registry: None) -> None:
    a = await connect_as(secured, "org-a")
    try:
        # Its own subject: the service answers (here: no such programme), through A's own inbox.
        reply = json.loads((await a.nc.request(OWN_SUBJECT, command("org-a"), timeout=10)).data)
        assert reply["status"] == "rejected" and reply["code"] == "not_found"
        # B's subject: the server refuses the publish; nothing reaches the service.
        with pytest.raises(nats.errors.TimeoutError):
            await a.nc.request("pathways.cmd.org-b.registry.EnrolParticipant", command("org-b"), timeout=2)
        await eventually(lambda: a.violated("publish", "pathways.cmd.org-b"))
        # A forged body claiming B, on A's own subject, passes the server and is refused by the service.
        reply = json.loads((await a.nc.request(OWN_SUBJECT, command("org-b"), timeout=10)).data)
        assert reply["code"] == "forbidden"
        # Nor may A listen to the stream, to everyone's replies, or to other organisations' commands.
        for subject in ("pathways.evt.>", "_INBOX.>", "_INBOX.org-b.>", "pathways.cmd.>"):
            await a.nc.subscribe(subject)
            await a.nc.flush()
            await eventually(lambda subject=subject: a.violated("subscription", subject))
        # Nor write events directly.
        await a.nc.publish("pathways.evt._.org-a.registry.forged", b"{}")
        await eventually(lambda: a.violated("publish", "pathways.evt"))
    finally:
        await a.nc.close()
    platform = await secured.endpoint.connection.connect("check")
    try:
        stored = [e async for e in JetStreamEventStore(platform).read_all()]
        assert all(".org-b." not in e.subject and not e.subject.endswith(".forged") for e in stored)
    finally:
        await platform.close()


async def test_an_auditor_asks_nats_nothing(secured: Secured, registry: None) -> None:
    """An auditor reads the stream through the audit service (`pathways audit --via service`),
    not from JetStream: a JetStream request names the subject its answer is published on, and
    the server's permissions check only the subject it is sent to. With Direct Get (what an
    auditor had until this stop) a request answered on `$KV.<bucket>.<new key>` created that
    entry: a key under a future enrolment's name, or a junk token record. Now every JetStream
    request of an auditor's is refused, and nothing lands in a bucket."""
    from pathways.policy.personal import BUCKET, PersonKeys

    a = await connect_as(secured, "org-a")
    await a.nc.request("pathways.cmd.org-a.registry.EnrolParticipant", command("org-a"), timeout=10)  # something to read
    await a.nc.close()
    platform = await secured.endpoint.connection.connect("check")
    pjs = platform.jetstream()
    await PersonKeys(platform).ensure_bucket()
    keys_before = (await pjs.stream_info(f"KV_{BUCKET}")).state.messages
    tokens_before = (await pjs.stream_info("KV_PATHWAYS_TOKENS")).state.messages
    last = (await pjs.stream_info(STREAM_NAME)).state.last_seq
    auditor = await connect_as(secured, "audit-co")
    try:
        # The answers aimed at new entries of the two buckets: before this stop, each created one.
        await auditor.nc.publish(f"$JS.API.DIRECT.GET.{STREAM_NAME}", b'{"seq": 1}',
                                 reply=f"$KV.{BUCKET}.p1.org-a.pt-not-yet-enrolled")
        await auditor.nc.publish(f"$JS.API.DIRECT.GET.{STREAM_NAME}.pathways.evt.>", b"",
                                 reply="$KV.PATHWAYS_TOKENS.forged")
        await auditor.nc.flush()
        await asyncio.sleep(0.5)
        assert (await pjs.stream_info(f"KV_{BUCKET}")).state.messages == keys_before
        assert (await pjs.stream_info("KV_PATHWAYS_TOKENS")).state.messages == tokens_before
        with pytest.raises(TimeoutError):
            await JetStreamEventStore(auditor.nc, timeout=1, by_direct_get=True).get(1)
        with pytest.raises(nats.errors.TimeoutError):
            await auditor.nc.jetstream(timeout=1).stream_info(STREAM_NAME)
        ajs = auditor.nc.jetstream(timeout=1)
        for config in (ConsumerConfig(name="aud-push", deliver_subject="$KV.PATHWAYS_TOKENS.x", ack_policy=AckPolicy.NONE),
                       ConsumerConfig(name="aud-pull", ack_policy=AckPolicy.NONE)):
            with pytest.raises(nats.errors.TimeoutError):
                await ajs.add_consumer(STREAM_NAME, config=config)
        with pytest.raises(nats.errors.TimeoutError):
            await auditor.nc.request("pathways.cmd.audit-co.registry.EnrolParticipant", command("audit-co"), timeout=2)
        await auditor.nc.publish("pathways.evt._.audit-co.audit.x", b"{}")
        await auditor.nc.publish("$JS.API.STREAM.DELETE.PATHWAYS_EVENTS", b"")
        await auditor.nc.publish(f"$KV.{BUCKET}.p1.org-a.pt-direct", b"a key")
        await auditor.nc.flush()
        await eventually(lambda: all(auditor.violated("publish", subject) for subject in (
            f"$js.api.direct.get.{STREAM_NAME}".lower(), f"$js.api.stream.info.{STREAM_NAME}".lower(),
            f"$js.api.consumer.create.{STREAM_NAME}".lower(), "pathways.cmd.audit-co", "pathways.evt._.audit-co",
            "$js.api.stream.delete", f"$kv.{BUCKET}".lower())))
        await asyncio.sleep(0.5)
        assert (await pjs.stream_info(f"KV_{BUCKET}")).state.messages == keys_before
        assert (await pjs.stream_info("KV_PATHWAYS_TOKENS")).state.messages == tokens_before
        assert (await pjs.stream_info(STREAM_NAME)).state.last_seq == last
        assert not {"aud-push", "aud-pull"} & {c.name async for c in _consumers(platform)}
    finally:
        await auditor.nc.close()
        await platform.close()


async def _consumers(nc: Client) -> Any:
    for info in await nc.jetstream().consumers_info(STREAM_NAME):
        yield info


async def test_an_auditor_cannot_touch_the_registrys_key_shredder(secured: Secured, registry: None) -> None:
    """The shredder's durable consumer has a fixed name: an auditor, who may make consumers of
    its own, can neither pull from it, change its filter, nor delete it."""
    platform = await secured.endpoint.connection.connect("check")
    try:
        js = platform.jetstream()
        for _ in range(100):
            try:
                before = await js.consumer_info(STREAM_NAME, SHREDDER_CONSUMER)
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the registry never made its key shredder")
        auditor = await connect_as(secured, "audit-co")
        try:
            ajs = auditor.nc.jetstream(timeout=1)
            with pytest.raises(nats.errors.TimeoutError):
                await ajs.delete_consumer(STREAM_NAME, SHREDDER_CONSUMER)
            with pytest.raises(nats.errors.TimeoutError):
                await ajs.add_consumer(STREAM_NAME, config=ConsumerConfig(
                    name=SHREDDER_CONSUMER, durable_name=SHREDDER_CONSUMER, filter_subject="pathways.evt.nothing.>",
                    ack_policy=AckPolicy.EXPLICIT))
            with pytest.raises(nats.errors.TimeoutError):
                await auditor.nc.request(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_NAME}.{SHREDDER_CONSUMER}", b"1", timeout=1)
            await eventually(lambda: all(auditor.violated("publish", f"$js.api.consumer.{verb}.{STREAM_NAME}.{SHREDDER_CONSUMER}")
                                         for verb in ("delete", "create", "msg.next")))
        finally:
            await auditor.nc.close()
        sessions = secured.service_endpoint("sessions").connection  # nor may another service
        refused: list[str] = []

        async def error(err: Exception) -> None:
            refused.append(str(err).lower())

        other = await nats.connect(sessions.nats_url, user=sessions.user, password=sessions.password, error_cb=error,
                                   allow_reconnect=False)
        try:
            with pytest.raises(nats.errors.TimeoutError):
                await other.jetstream(timeout=1).delete_consumer(STREAM_NAME, SHREDDER_CONSUMER)
            # nor acknowledge its deliveries (which would make it pass over an erasure)
            await other.publish(f"$JS.ACK.{STREAM_NAME}.{SHREDDER_CONSUMER}.1.1.1.0.0", b"+ACK")
            await eventually(lambda: any(f"consumer.delete.{STREAM_NAME.lower()}.{SHREDDER_CONSUMER}" in e for e in refused)
                             and any(f"$js.ack.{STREAM_NAME.lower()}.{SHREDDER_CONSUMER}" in e for e in refused))
        finally:
            await other.close()
        after = await js.consumer_info(STREAM_NAME, SHREDDER_CONSUMER)
        assert after.config.filter_subject == before.config.filter_subject == "pathways.evt.*.*.registry.>"
    finally:
        await platform.close()


async def test_a_revoked_organisation_is_cut_off_at_once_without_a_restart(secured: Secured, registry: None) -> None:
    a, b = await connect_as(secured, "org-a"), await connect_as(secured, "org-b")
    pid = secured.server.process.pid if secured.server.process else None
    assert secured.register.revoke("org-a")
    secured.server.reload_organisations()
    await asyncio.wait_for(a.closed.wait(), 10)  # the server closed A's open connection
    with pytest.raises(Exception, match=r"[Aa]uthorization"):
        await connect_as(secured, "org-a")
    reply = json.loads((await b.nc.request("pathways.cmd.org-b.registry.EnrolParticipant", command("org-b"), timeout=10)).data)
    assert reply["code"] == "not_found"  # B carries on
    # A new password replaces the old at once: the old one no longer opens.
    fresh = secured.register.issue("org-b", "partner")
    secured.server.reload_organisations()
    await asyncio.wait_for(b.closed.wait(), 10)
    with pytest.raises(Exception, match=r"[Aa]uthorization"):
        await connect_as(secured, "org-b")
    again = await connect_as(secured, "org-b", fresh)
    await again.nc.close()
    assert secured.server.process is not None and secured.server.process.pid == pid  # never restarted


async def test_a_service_connects_as_itself_and_may_not_act_for_organisations_or_other_services(
    secured: Secured, registry: None
) -> None:
    """The registry above runs as `svc-registry` (these tests' commands reach it); that user
    may not send commands or take another service's."""
    errors: list[str] = []

    async def error(err: Exception) -> None:
        errors.append(str(err).lower())

    endpoint = secured.service_endpoint("registry").connection
    service = await nats.connect(endpoint.nats_url, user=endpoint.user, password=endpoint.password, error_cb=error,
                                 allow_reconnect=False)
    try:
        await service.publish("pathways.cmd.org-a.registry.EnrolParticipant", command("org-a"))
        await service.subscribe("pathways.cmd.*.sessions.*")
        await service.flush()
        await eventually(lambda: any("publish to \"pathways.cmd.org-a" in e for e in errors)
                         and any("subscription to \"pathways.cmd.*.sessions" in e for e in errors))
    finally:
        await service.close()
    accounts = json.loads((secured.server.home / "service-credentials.json").read_text())
    assert set(accounts) == {"registry", "sessions"}
    assert (secured.server.home / "service-credentials.json").stat().st_mode & 0o777 == 0o600
    written = (secured.server.home / "authorization.conf").read_text()
    platform = secured.server.credentials
    assert platform is not None and platform.user in written  # hashes only, the platform's own included
    assert accounts["registry"]["password"] not in written and platform.password not in written


async def test_no_one_can_aim_a_services_reply_or_rights_at_storage(secured: Secured, registry: None) -> None:
    """A reply goes out with the service's rights, so a sender may not choose where; and a
    service user holds only what a service needs: not another bucket, not the stream's config."""
    a = await connect_as(secured, "org-a")
    try:
        for hostile in ("$KV.PATHWAYS_PERSON_KEYS.prog1.pt-victim", "pathways.evt.prog9.org-a.registry.prog9"):
            await a.nc.publish("pathways.cmd.org-a.registry.EnrolParticipant", command("org-a", "prog9"), reply=hostile)
        await a.nc.flush()
        await asyncio.sleep(1.0)
    finally:
        await a.nc.close()
    platform = await secured.endpoint.connection.connect("check")
    try:
        stored = [e async for e in JetStreamEventStore(platform).read_all()]
        assert not any(e.subject == "pathways.evt.prog9.org-a.registry.prog9" for e in stored)
        kv = await platform.jetstream().key_value("PATHWAYS_PERSON_KEYS")
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await kv.get("prog1.pt-victim")
    finally:
        await platform.close()

    sessions, errors = await connect_as_service(secured, "sessions")
    try:
        await sessions.publish("$KV.PATHWAYS_TOKENS.forged", b'{"organisation_id":"x","role":"operator"}')
        await sessions.publish("$JS.API.STREAM.MSG.GET.KV_PATHWAYS_PERSON_KEYS", b"{}")
        await sessions.publish("$JS.API.STREAM.UPDATE.PATHWAYS_EVENTS", b"{}")
        await sessions.publish("pathways.evt.p.org-a.registry.forged", b"{}")
        await sessions.subscribe("_INBOX.>")
        await sessions.flush()
        await eventually(lambda: len([e for e in errors if "permissions violation" in e]) >= 5)
    finally:
        await sessions.close()


def forged(kind: str, subject_aggregate: str, source: str, data: dict[str, Any]) -> bytes:
    from pathways.core.envelope import CloudEvent, utcnow
    from pathways.core.schemas import schema_uri

    context, name = kind.split(".")[1:]
    return CloudEvent(id=os.urandom(16).hex(), source=source, type=kind, subject=subject_aggregate, time=utcnow(),
                      dataschema=schema_uri("event", context, name, 1), programme="prog-f", organisation="org-b", actor="x",
                      correlationid="c", causationid="c",
                      data=data).to_bytes()


async def test_a_service_cannot_forge_another_contexts_facts_or_another_services_audit_records(
    secured: Secured, tmp_path: Path,
) -> None:
    """The sessions service's user published an evaluation event on a sessions subject, and
    evaluation and reporting applied it (a green "you said, we did" item for B); it also
    wrote a "B read X" record the auditors believed. Now: such an event is quarantined by
    every read model (not applied, counted), and a service writes audit records only on its
    own aggregate, which the audit service checks against the record."""
    from pathways.core.projection import apply_batch
    from pathways.core.readmodels import make_engine
    from pathways.policy.accountability import ParticipantRecordsRead, audit_event, written_by
    from pathways_audit.records import READS, RECORDS
    from pathways_evaluation.readmodel import EVALUATION_RECORD
    from pathways_reporting.readmodel import FACTS

    sessions, errors = await connect_as_service(secured, "sessions")
    platform = await secured.endpoint.connection.connect("check")
    try:
        js, store = sessions.jetstream(), JetStreamEventStore(platform)
        before = await store.last_sequence()
        item = {"programme_id": "prog-f", "development_id": "d1", "proposed_by": "org-b", "you_said": "x",
                "raised_by": "participants", "we_will": "y"}
        # An evaluation fact on the sessions context's subject (sessions may publish there), and
        # one on its own subject that claims to come from evaluation.
        await js.publish("pathways.evt.prog-f.org-b.sessions.d1",
                         forged("pathways.evaluation.DevelopmentProposed", "d1", "/pathways/evaluation", item))
        await js.publish("pathways.evt.prog-f.org-b.sessions.d2",
                         forged("pathways.evaluation.DevelopmentProposed", "d2", "/pathways/sessions", item))
        # Audit records: only on its own aggregate; one there that names another service is not believed.
        def read_record(service: str, aggregate: str) -> bytes:
            new = audit_event(ParticipantRecordsRead(service=service, resource="GET /x", role="partner",
                                                     participant_ids=["pt-x"]), aggregate=aggregate, programme="prog-f",
                              organisation="org-b", actor="org-b")
            return new.payload or new.event.to_bytes()

        for aggregate in ("reads", written_by("reads", "reporting")):
            await sessions.publish(f"pathways.evt.prog-f.org-b.audit.{aggregate}", read_record("reporting", aggregate))
        await sessions.flush()
        await eventually(lambda: sum("permissions violation" in e and ".audit.reads" in e for e in errors) >= 2)
        await js.publish(f"pathways.evt.prog-f.org-b.audit.{written_by('reads', 'sessions')}",
                         read_record("reporting", written_by("reads", "sessions")))  # stored, but it names reporting
        await js.publish(f"pathways.evt.prog-f.org-b.audit.{written_by('reads', 'sessions')}",
                         read_record("sessions", written_by("reads", "sessions")))  # a real record of its own reads
        stored = [e async for e in store.read_all(before + 1, await store.last_sequence())]
        assert len(stored) == 4, [e.subject for e in stored]
        for projection in (EVALUATION_RECORD, FACTS, RECORDS):
            engine = make_engine(f"sqlite:///{tmp_path / projection.name}.db")
            for table in projection.tables:
                table.create(engine, checkfirst=True)
            quarantined: list[int] = []
            with engine.begin() as conn:
                apply_batch(conn, projection, projection.live_tables(), projection.name, stored, quarantine=quarantined)
            rows = {t.name: len(engine.connect().execute(t.select()).all()) for t in projection.tables}
            if projection is RECORDS:
                assert rows[READS.name] == 1, rows  # only the record from the service it names
            else:
                assert sum(rows.values()) == 0, (projection.name, rows)
                assert quarantined == [stored[0].sequence, stored[1].sequence], (projection.name, quarantined)
            engine.dispose()
    finally:
        await sessions.close()
        await platform.close()


async def test_an_organisation_follows_its_own_facts_and_none_of_anothers(secured: Secured) -> None:
    """Partner A's own events arrive on A's inbox from the consumer the platform made for it,
    in order, and none of B's; A can pull from no consumer, make none, nor ask JetStream
    anything: a request to the server names where it answers, and an answer on a bucket's
    subject is stored in that bucket (a pull answered onto $KV.PATHWAYS_TOKENS wrote there)."""
    from pathways.runtime.follow import delivered_to, ensure_following, follow_consumer

    platform = await secured.endpoint.connection.connect("follow-setup")
    a = await connect_as(secured, "org-a")
    try:
        assert set(await ensure_following(platform, ["org-a", "org-b"])) == {"org-a", "org-b"}
        assert await ensure_following(platform, ["org-a"]) == []  # made once
        pjs = platform.jetstream()
        mine = ["pathways.evt.p1.org-a.registry.pt-1", "pathways.evt.p1.org-a.payments.contract-0"]
        for subject in [*mine, "pathways.evt.p1.org-b.registry.pt-2", "pathways.evt.p2.org-b.payments.contract-1"]:
            await pjs.publish(subject, b'{"made": "up"}', headers={"Nats-Msg-Id": os.urandom(8).hex()})
        got: list[str] = []

        async def heard(msg: Any) -> None:
            got.append(msg.subject)

        await a.nc.subscribe(delivered_to("org-a"), cb=heard)
        await eventually(lambda: len(got) == 2)
        await asyncio.sleep(0.5)
        assert got == mine
        await a.nc.subscribe(delivered_to("org-b"), cb=heard)  # B's inbox: refused by the server
        tokens_before = (await pjs.stream_info("KV_PATHWAYS_TOKENS")).state.messages
        ajs = a.nc.jetstream(timeout=1)
        for name in (follow_consumer("org-a"), follow_consumer("org-b")):
            await a.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_NAME}.{name}", b'{"batch": 1}',
                               reply="$KV.PATHWAYS_TOKENS.forged")
        with pytest.raises(nats.errors.TimeoutError):
            await ajs.add_consumer(STREAM_NAME, config=ConsumerConfig(name="mine-too", filter_subject="pathways.evt.>"))
        await a.nc.flush()
        await eventually(lambda: a.violated("subscription", "_inbox.org-b.follow")
                         and a.violated("publish", f"$js.api.consumer.msg.next.{STREAM_NAME}.follow-org-a")
                         and a.violated("publish", f"$js.api.consumer.create.{STREAM_NAME}"))
        assert (await pjs.stream_info("KV_PATHWAYS_TOKENS")).state.messages == tokens_before  # nothing written there
        assert got == mine
    finally:
        await a.nc.close()
        await platform.close()


async def test_a_reply_aimed_at_a_persons_key_cannot_overwrite_it(secured: Secured) -> None:
    """(found this stop) any request to the server names the subject it answers on, and an
    answer on `$KV.PATHWAYS_PERSON_KEYS.<key>` is stored in that bucket: an auditor's Direct
    Get aimed there replaced a person's key with an event's bytes, destroying their details
    for good. A key is now written once (the bucket refuses a second write per key)."""
    from pathways.policy.personal import BUCKET, PersonKeys

    platform = await secured.endpoint.connection.connect("keys-check")
    auditor = await connect_as(secured, "audit-co")
    try:
        await PersonKeys(platform).ensure_bucket()
        js = platform.jetstream()
        await js.publish("pathways.evt.p1.org-a.registry.pt-1", b'{"made": "up"}', headers={"Nats-Msg-Id": "kv-1"})
        kv = await js.key_value(BUCKET)
        await kv.create("p1.org-a.pt-1", b"the person's key")
        await auditor.nc.publish(f"$JS.API.DIRECT.GET.{STREAM_NAME}", b'{"seq": 1}', reply=f"$KV.{BUCKET}.p1.org-a.pt-1")
        await auditor.nc.flush()
        await asyncio.sleep(1.0)
        assert (await kv.get("p1.org-a.pt-1")).value == b"the person's key"
        assert (await js.stream_info(f"KV_{BUCKET}")).state.messages == 1
    finally:
        await auditor.nc.close()
        await platform.close()

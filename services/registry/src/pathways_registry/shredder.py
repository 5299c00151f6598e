"""The key shredder: for every ParticipantDataErased in the stream, the enrolment's key is
erased. The command's own follow-up erases it at once; this makes sure of it when that
follow-up did not happen (the service stopped between storing the event and deleting the
key, or the key store was unreachable just then).

It is a durable consumer of the registry's events (`pathways.jetstream.durable`: faststream's
JetStream pull subscriber) that acknowledges each one only after the erasure, so an
erasure interrupted by a crash is done again on restart. Erasing is idempotent, and two
registry instances share the consumer. Repeating an old erasure never takes a newer key: an
erased enrolment is never enrolled again under the same id (`decide.enrol_participant`)."""

from __future__ import annotations

from nats.aio.msg import Msg
from pathways.core.logging import get_logger
from pathways.core.subjects import EVENTS_ROOT
from pathways.jetstream.durable import BackgroundContext, DurableConsumer
from pathways.jetstream.store import stored_from_delivery
from pathways.policy.personal import EnrolmentRef, PersonKeys

from pathways_registry.domain import events as e
from pathways_registry.handlers import CONTEXT

log = get_logger("pathways.registry.shredder")

# A fixed name, declared in the registry's NatsNeeds: the server keeps every other user from it.
CONSUMER = "registry_key_shredder"
ERASED = e.ParticipantDataErased.event_type
ERASED_MARKER = f'"{ERASED}"'.encode()


async def shred(ctx: BackgroundContext, msg: Msg) -> None:
    """Erases the key of the enrolment a ParticipantDataErased names; passes over the rest."""
    if ERASED_MARKER not in msg.data:
        # Every registry event comes here, nearly none an erasure: not decoded (each event is
        # stored as CloudEvent.to_bytes writes it, its type in plain ASCII, as the read models'
        # type markers rely on too: pathways.core.projection).
        return
    try:
        stored = stored_from_delivery(msg)
        event = stored.event
        if event.type != ERASED:
            return
        erased = e.schemas.decode(event.type, event.dataschema, event.data)
    except (ValueError, KeyError, IndexError):
        # Not a registry event (only the registry may publish here, but the shredder must
        # never stall on one message): acknowledged and passed over.
        log.warning("skipped a message that is not a registry event", subject=msg.subject)
        return
    assert isinstance(erased, e.ParticipantDataErased)
    if await PersonKeys(ctx.nc).erase(EnrolmentRef(erased.programme_id, erased.partner_id, erased.participant_id)):
        log.info("erased a key the erasure command had left", sequence=stored.sequence)


KEY_SHREDDER = DurableConsumer(CONSUMER, f"{EVENTS_ROOT}.*.*.{CONTEXT}.>", shred)

"""A JetStream key-value bucket the platform keeps one value per key in (tokens, people's
keys): opened once per connection, created on first use where the user may create it.

An erasable bucket is one whose stream allows deleting a single message: a standard KV
bucket denies that, and its purge only marks a value deleted, leaving the bytes in the
file store until the server compacts the block. Deleting the message itself makes the
server overwrite it on disk (a secure erase), which is what erasing a person's key needs."""

from __future__ import annotations

import contextlib

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig, StreamInfo
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from pathways.core.logging import get_logger

log = get_logger("pathways.kvbucket")


class Bucket:
    def __init__(self, nc: Client, name: str, *, erasable: bool = False) -> None:
        self._nc, self.name, self.erasable = nc, name, erasable
        self._kv: KeyValue | None = None

    @property
    def stream(self) -> str:
        return f"KV_{self.name}"

    def forget(self) -> None:
        """Open the bucket afresh next time (its stream was remade)."""
        self._kv = None

    async def open(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self.name)
            except nats.js.errors.BucketNotFoundError:
                if self.erasable:
                    await js.add_stream(erasable_stream(self.name))
                    self._kv = await js.key_value(self.name)
                else:
                    self._kv = await js.create_key_value(KeyValueConfig(bucket=self.name, history=1, storage=StorageType.FILE))
        return self._kv

    async def erase(self, key: str) -> bool:
        """Overwrite the key's stored value on disk and remove it; False if it has none."""
        kv = await self.open()
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # never written, or already erased
            return False
        assert entry.revision is not None
        try:
            await self._nc.jetstream().delete_msg(self.stream, entry.revision)
        except nats.js.errors.APIError as err:
            description = (err.description or "").lower()
            if "not permitted" in description:
                # A bucket the platform has not yet remade erasable (`pathways up` and
                # `pathways org services` do it): the value is made unreadable, not erased.
                log.error("key-value stream denies deletes: the value is purged but stays on disk until the "
                          "bucket is remade erasable", bucket=self.name)
                await kv.purge(key)
                return True
            if "no message found" in description or isinstance(err, nats.js.errors.NotFoundError):
                return False  # erased by someone else between the read and the delete
            raise
        return True


def erasable_stream(bucket: str, replicas: int = 1) -> StreamConfig:
    """What nats-py's create_key_value makes for history=1, except that single messages may
    be deleted (securely). Keys are written once, so no value is ever replaced, which would
    drop the old one without overwriting it."""
    return StreamConfig(
        name=f"KV_{bucket}", subjects=[f"$KV.{bucket}.>"], allow_direct=True, allow_rollup_hdrs=True,
        deny_delete=False, deny_purge=False, discard=DiscardPolicy.NEW, duplicate_window=120.0, max_msgs_per_subject=1,
        # A key's value is never replaced: a second write to a key is refused by the server.
        # Whoever can make the server publish onto `$KV.<bucket>.<key>` (an answer to a request
        # whose reply subject names it) cannot overwrite a person's key with other bytes.
        discard_new_per_subject=True,
        max_consumers=-1, max_msgs=-1, max_bytes=-1, storage=StorageType.FILE, num_replicas=replicas,
    )


async def make_erasable(nc: Client, bucket: Bucket) -> int | None:
    """Make sure `bucket` exists and is erasable. One made by nats-py's create_key_value
    (which denies deletes, and that cannot be changed) is remade, its values kept; returns
    how many were moved, or None if nothing had to be.

    Each step can be interrupted and the call repeated: the old stream is sealed (writes
    refused, so none is lost), its values are copied to a stream of their own, marked
    complete, and only then is the old stream deleted, the new one made and the copy
    moved in. An incomplete copy is made again from the old stream, which is still there.
    (Deleting a stream unlinks its files without overwriting them: values purged from it
    before are not erased by this.)"""
    js = nc.jetstream()
    old = await _info(js, bucket.stream)
    copy_name = f"{bucket.stream}_MIGRATING"
    copy_subject, done_subject = f"$KVMIGRATE.{bucket.name}", f"$KVMIGRATED.{bucket.name}"
    copy = await _info(js, copy_name)
    if copy is not None and not await _has(js, copy_name, done_subject):
        await js.delete_stream(copy_name)
        copy = None
    if old is None and copy is None:
        await bucket.open()
        return None
    if old is not None and not old.config.deny_delete and copy is None:
        if not old.config.discard_new_per_subject:  # made erasable before keys were refused a second write
            old.config.discard_new_per_subject = True
            await js.update_stream(old.config)
        return None
    replicas = (old or copy).config.num_replicas or 1  # type: ignore[union-attr]
    if old is not None and old.config.deny_delete:
        if copy is None:
            old.config.sealed = True
            await js.update_stream(old.config)
            copy = await js.add_stream(StreamConfig(name=copy_name, subjects=[f"{copy_subject}.>", done_subject],
                                                    storage=StorageType.FILE, num_replicas=replicas))
            for name, value in (await live_values(js, bucket)).items():
                await js.publish(f"{copy_subject}.{name}", value, stream=copy_name)
            await js.publish(done_subject, b"", stream=copy_name)
        await js.delete_stream(bucket.stream)
    if await _info(js, bucket.stream) is None:
        await js.add_stream(erasable_stream(bucket.name, replicas))
    bucket.forget()
    kv = await bucket.open()
    moved = 0
    last = (await js.stream_info(copy_name)).state.last_seq
    for seq in range(1, last + 1):
        msg = await js.get_msg(copy_name, seq)
        if msg.subject is None or not msg.subject.startswith(copy_subject + "."):
            continue
        moved += 1
        with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # moved before an interruption
            await kv.create(msg.subject[len(copy_subject) + 1:], msg.data or b"")
    await js.delete_stream(copy_name)
    return moved


async def live_values(js: JetStreamContext, bucket: Bucket) -> dict[str, bytes]:
    """Every live value of the bucket, read from its stream message by message: what a
    listing that must be whole reads (a bucket being remade; the tokens to revoke).

    Not nats-py's `keys()`: that lists through a watcher that can end before it has seen
    every key when the server is slow to answer, and a short listing marked complete would
    lose the keys it missed once the old stream is deleted. Reading each sequence from the
    first to the last cannot stop short; a later message for a key (or its delete marker)
    replaces an earlier one."""
    prefix = f"$KV.{bucket.name}."
    state = (await js.stream_info(bucket.stream)).state
    values: dict[str, bytes] = {}
    for seq in range(max(state.first_seq, 1), state.last_seq + 1):
        try:
            msg = await js.get_msg(bucket.stream, seq)
        except nats.js.errors.NotFoundError:  # replaced or deleted: no message at this sequence
            continue
        if msg.subject is None or not msg.subject.startswith(prefix):
            continue
        name = msg.subject[len(prefix):]
        operation = (msg.headers or {}).get("KV-Operation")
        if operation in ("DEL", "PURGE") or not msg.data:
            values.pop(name, None)
        else:
            values[name] = msg.data
    return values


async def _info(js: JetStreamContext, stream: str) -> StreamInfo | None:
    try:
        return await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        return None


async def _has(js: JetStreamContext, stream: str, subject: str) -> bool:
    try:
        await js.get_last_msg(stream, subject)
    except nats.js.errors.NotFoundError:
        return False
    return True

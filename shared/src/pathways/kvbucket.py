"""A JetStream key-value bucket the platform keeps one value per key in (tokens, people's
keys): opened once per connection, created on first use where the user may create it.

An erasable bucket is one whose stream allows deleting a single message: a standard KV
bucket denies that, and its purge only marks a value deleted, leaving the bytes in the
file store until the server compacts the block. Deleting the message itself makes the
server overwrite it on disk (a secure erase), which is what erasing a person's key needs."""

from __future__ import annotations

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig
from nats.js.kv import KeyValue


class Bucket:
    def __init__(self, nc: Client, name: str, *, erasable: bool = False) -> None:
        self._nc, self.name, self.erasable = nc, name, erasable
        self._kv: KeyValue | None = None

    @property
    def stream(self) -> str:
        return f"KV_{self.name}"

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
        except nats.js.errors.NotFoundError:
            return False  # erased by someone else between the read and the delete
        return True


def erasable_stream(bucket: str) -> StreamConfig:
    """What nats-py's create_key_value makes for history=1, except that single messages may
    be deleted (securely). Keys are written once, so no value is ever replaced, which would
    drop the old one without overwriting it."""
    return StreamConfig(
        name=f"KV_{bucket}", subjects=[f"$KV.{bucket}.>"], allow_direct=True, allow_rollup_hdrs=True,
        deny_delete=False, deny_purge=False, discard=DiscardPolicy.NEW, duplicate_window=120.0, max_msgs_per_subject=1,
        max_consumers=-1, max_msgs=-1, max_bytes=-1, storage=StorageType.FILE, num_replicas=1,
    )

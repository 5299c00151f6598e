"""A JetStream key-value bucket the platform keeps one value per key in (tokens, people's
keys): opened once per connection, created on first use where the user may create it."""

from __future__ import annotations

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue


class Bucket:
    def __init__(self, nc: Client, name: str) -> None:
        self._nc, self.name = nc, name
        self._kv: KeyValue | None = None

    async def open(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self.name)
            except nats.js.errors.BucketNotFoundError:
                self._kv = await js.create_key_value(KeyValueConfig(bucket=self.name, history=1, storage=StorageType.FILE))
        return self._kv

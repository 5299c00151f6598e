"""The NATS JetStream adapter: the event store on a stream, atomic batches, readers, the
projection runner and durable consumers on faststream's pull subscriber, KV buckets, and the
AsyncAPI document of the NATS contract. It builds on the core alone."""

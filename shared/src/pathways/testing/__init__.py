"""Test support shipped with the kernel: fixtures that find a real nats-server and
PostgreSQL, so every service's tests run against the real thing."""

"""Running Pathways: the embedded nats-server, connection details, and service hosts."""

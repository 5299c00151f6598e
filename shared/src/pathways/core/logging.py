"""Loggers for every layer: structlog's, configured once per process by the runtime
(runtime/logging.py: JSON lines on stderr, each carrying the current trace id)."""

from __future__ import annotations

from typing import Any

import structlog


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)

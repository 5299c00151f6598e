"""structlog configuration: JSON lines on stderr, each carrying the current trace id so a
log line can be found from a trace and back."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from pathways.core.tracing import current_ids

_configured = False


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    trace_id, span_id = current_ids()
    if trace_id:
        event_dict["trace_id"] = trace_id
        event_dict["span_id"] = span_id
    return event_dict


def configure(service: str, level: str | None = None) -> None:
    global _configured
    if _configured:
        structlog.contextvars.bind_contextvars(service=service)
        return
    _configured = True
    log_level = getattr(logging, (level or os.environ.get("PATHWAYS_LOG_LEVEL", "INFO")).upper())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(log_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__),
        cache_logger_on_first_use=True,
    )
    # Libraries (faststream, uvicorn) log through the standard library; keep them quiet
    # unless something is wrong so the JSON stream stays readable.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    structlog.contextvars.bind_contextvars(service=service)

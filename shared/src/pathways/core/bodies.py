"""Reading a command's body: the platform decodes it itself, within limits, and every body
it cannot read is answered `invalid` (recorded for the auditors like any refusal), never
left unanswered or failed as `unavailable`.

The limits, each with a message a person can act on:
- size: MAX_BODY bytes (PATHWAYS_MAX_BODY, 1 MiB by default, the nats-server's
  `max_payload`, so a body the server carries is a body the platform reads);
- depth: MAX_DEPTH levels of objects and lists (a command is five deep; Python's parser
  would recurse a thousand levels before failing);
- integers: MAX_INT_DIGITS digits (Python refuses only past 4,300, after the work);
- text: strictly UTF-8, and no escaped half of a character."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from pathways.core.replies import RejectionCode, reject

MAX_BODY = int(os.environ.get("PATHWAYS_MAX_BODY", 1024 * 1024))
MAX_DEPTH = 32
MAX_INT_DIGITS = 64

_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _integer(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise ValueError(f"a number of {len(text)} digits; at most {MAX_INT_DIGITS} are read")
    return int(text)


def _too_deep(body: Any) -> bool:
    """More than MAX_DEPTH objects and lists inside one another."""
    stack = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))
    return False


def json_object(raw: bytes, what: str = "command") -> dict[str, Any]:
    """The body as a JSON object, or the Rejection that says why it is not one."""
    if len(raw) > MAX_BODY:
        raise reject(RejectionCode.INVALID, f"The {what} is {len(raw):,} bytes; at most {MAX_BODY:,} are read. "
                                            "Send many commands as batches of fewer.")
    try:
        # Decoded strictly here: json.loads of bytes would also take UTF-16 and UTF-32, and UTF-8
        # with raw surrogate bytes in it, none of which a store of UTF-8 text can hold.
        body = json.loads(raw.decode("utf-8"), parse_int=_integer)
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, nested too deep, a number too long
        raise reject(
            RejectionCode.INVALID, f"The {what} is not valid JSON ({err.__class__.__name__}: {str(err)[:200]})."
        ) from None
    if not isinstance(body, dict):
        raise reject(RejectionCode.INVALID, f"The {what} must be a JSON object.")
    # Fewer brackets than the limit cannot nest past it: most bodies are never walked.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _too_deep(body):
        raise reject(RejectionCode.INVALID, f"The {what} nests objects and lists more than {MAX_DEPTH} deep.")
    if _SURROGATE.search(raw):  # rare: "\ud83d\ude00" is an escaped emoji, a half of one is no character
        try:
            json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise reject(RejectionCode.INVALID, f"The {what} holds a \\u escape of half a character (a lone "
                         "surrogate), which no text can hold.") from None
    return body

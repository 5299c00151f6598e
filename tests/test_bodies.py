"""The platform reads a command's body itself, within limits (pathways.core.bodies): each limit
is refused as `invalid` with a message that says which, before the body costs more."""

from __future__ import annotations

import json

import pytest
from pathways.core.bodies import MAX_BODY, MAX_DEPTH, MAX_INT_DIGITS, json_object
from pathways.core.replies import Rejection


def refused(raw: bytes) -> str:
    with pytest.raises(Rejection) as err:
        json_object(raw)
    assert err.value.code == "invalid"
    return str(err.value.reply().message)


def test_each_limit_is_refused_with_its_reason() -> None:
    assert "at most" in refused(b"{" + b" " * MAX_BODY + b"}")
    deeper = MAX_DEPTH + 1
    assert "more than 32 deep" in refused(b'{"a":' * deeper + b"1" + b"}" * deeper)
    assert "more than 32 deep" in refused(b'{"a":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}")
    assert json_object(b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH)  # just inside
    assert "digits" in refused(json.dumps({"n": 1}).replace("1", "9" * (MAX_INT_DIGITS + 1)).encode())
    assert json_object(json.dumps({"n": -int("9" * MAX_INT_DIGITS)}).encode())["n"] < 0  # just inside, signed
    assert "not valid JSON" in refused(b"[" * 5000 + b"]" * 5000)
    assert "JSON object" in refused(b"[1, 2]")
    assert "half a character" in refused(b'{"a": "\\ud800"}')
    assert "not valid JSON" in refused("{}".encode("utf-16"))


def test_many_brackets_side_by_side_are_not_depth() -> None:
    wide = {"items": [[1], [2]] * 200}
    assert json_object(json.dumps(wide).encode()) == wide

"""The sign-in limiter's own bookkeeping: it refuses after the limit, forgives after the
window, and its table of addresses cannot grow without end. (Its use over HTTP, per
address, is tested in tests/test_http_scope.py.)"""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from pathways.policy import access
from pathways.policy.access import FailedSignIns


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(access.time, "monotonic", c)
    return c


def test_refuses_after_the_limit_and_forgives_after_the_window(clock: Clock) -> None:
    limiter = FailedSignIns(limit=3, window=60)
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
    with pytest.raises(HTTPException) as refused:
        limiter.check("10.0.0.1")
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": "61"}
    limiter.check("10.0.0.2")  # another address is not affected
    clock.now += 30
    with pytest.raises(HTTPException):
        limiter.check("10.0.0.1")
    clock.now += 31
    limiter.check("10.0.0.1")
    assert len(limiter) == 0  # an address whose failures expired is forgotten


def test_the_table_of_addresses_is_bounded(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FailedSignIns, "MAX_ADDRESSES", 50)
    limiter = FailedSignIns(limit=3, window=60)
    for i in range(40):
        limiter.failed(f"10.0.1.{i}")
    clock.now += 61  # those have all expired
    for i in range(40):
        limiter.failed(f"10.0.2.{i}")
    assert len(limiter) == 40
    for i in range(40):  # all recent: the oldest are dropped to stay within the bound
        clock.now += 1
        limiter.failed(f"10.0.3.{i}")
    assert len(limiter) == 50
    limiter.failed("10.0.3.39")  # the newest address was kept, with its count
    limiter.failed("10.0.3.39")
    with pytest.raises(HTTPException):
        limiter.check("10.0.3.39")

"""What a data-sharing agreement may cover (pathways.policy.agreements), each kind the records
one kind of read shows: a plain module, so a service's events can name the kinds without the
database code that applies them."""

from __future__ import annotations

from typing import Literal, get_args

SharedData = Literal["identities", "participants", "attendance", "outcomes"]
SHARED_DATA: tuple[str, ...] = get_args(SharedData)

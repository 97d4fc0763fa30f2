"""The append-only event stream: one flat record per engine decision.

Events name numbers only by keyed pseudonym and never carry codes, so they can feed
metrics, logs and the simulation's tables without leaking what they are about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

KINDS = frozenset(
    {
        "started",
        "sent",
        "resent",
        "checked_ok",
        "consumed",
        "stepup",
        "delivery",
        "account_locked",
        "account_unlocked",
        "checked_wrong",
        "expired",
        "locked",
        "cancelled",
        "refused",
        "fraud_flagged",
        "bound",
        "released",
        "number_changed",
        "notice_sent",
        "dispute_opened",
        "dispute_resolved",
    }
)


class Event(NamedTuple):
    """One decision: what happened, when, to which verification, and why.

    An immutable named tuple: an operation emits two or three, so they must be cheap.
    """

    kind: str
    at: float
    verification_id: str | None = None
    number: str | None = None  # keyed pseudonym, never the number itself
    account_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict) -> Event:
        return cls(**data)


Listener = Callable[[Event], None]
"""Called with each event once its transaction has committed."""

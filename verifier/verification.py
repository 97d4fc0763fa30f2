"""The verification resource as callers see it, derived from the stored record.

``Verification`` is a named tuple rather than a frozen dataclass: it is just as
immutable, and every start and check builds one, where a frozen dataclass's
field-by-field ``__init__`` costs six times as much.
"""

from __future__ import annotations

from typing import NamedTuple

from .budget import resend_at
from .delivery import public as delivery_view
from .expiry import status
from .policy import Policy
from .voice import calls_left


class Verification(NamedTuple):
    """A verification's public state; ``/v1`` serves these fields but ``updated_at`` and
    ``sent_at``, which the Twilio-shaped ``/v2`` needs for its dates and send attempts."""

    id: str
    status: str  # pending, approved, consumed, cancelled, expired, locked
    phone: str  # E.164
    region: str
    account_id: str
    reference: str | None
    created_at: float
    expires_at: float
    resend_available_at: float | None
    sends_left: int
    attempts_left: int
    approved_at: float | None
    consumed_at: float | None
    locked_until: float | None
    stepup: str  # "code": a code was asked for; "none": approved without one (payment risk)
    updated_at: float
    sent_at: tuple[float, ...]  # when each of this verification's codes was sent
    sent_by: tuple[str, ...] = ()  # the channel of each of them ("sms" or "call")
    channel: str = "sms"  # of the last code sent: "sms" or "call"
    calls_left: int = 0
    delivery: dict | None = None  # the last message's state and times (``delivery.py``)
    created: bool = False  # this call created it and sent a code

    def to_dict(self) -> dict:
        return self._asdict()


def view(record: dict, policy: Policy, now: float, created: bool = False) -> Verification:
    sent = tuple(record.get("sent_at") or (record["last_send_at"],) * bool(record["sends"]))
    return Verification(
        id=record["id"],
        status=status(record, now),
        phone=record["phone"],
        region=record["region"],
        account_id=record["account_id"],
        reference=record["reference"],
        created_at=record["created_at"],
        expires_at=record["expires_at"],
        resend_available_at=resend_at(record, policy),
        sends_left=policy.send.max_sends - record["sends"],
        attempts_left=max(0, policy.check.max_attempts - record["wrong"]),
        approved_at=record["approved_at"],
        consumed_at=record.get("consumed_at"),
        locked_until=record["locked_until"],
        stepup=record.get("stepup", "code"),
        updated_at=record.get("updated_at", record["created_at"]),
        sent_at=sent,
        sent_by=tuple(sent_channels(record, len(sent))),
        channel=record.get("channel", "sms"),
        calls_left=calls_left(record, policy),
        delivery=delivery_view(record),
        created=created,
    )


def sent_channels(record: dict, sends: int | None = None) -> list[str]:
    """The channel of each of ``sends`` sends (default: ``sent_at``'s); unknown ones are SMS.

    Records written before calls existed carry no ``sent_by``: all their sends were SMS.
    """
    n = len(record.get("sent_at") or ()) if sends is None else sends
    known = list(record.get("sent_by") or ())[:n]
    return known + ["sms"] * (n - len(known))

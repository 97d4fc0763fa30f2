"""The verification resource as callers see it, derived from the stored record."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .policy import Policy


@dataclass(frozen=True, slots=True)
class Verification:
    """A verification's public state; the HTTP resource has exactly these fields."""

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
    created: bool = False  # this call created it and sent a code

    def to_dict(self) -> dict:
        return asdict(self)


def status_of(record: dict, now: float) -> str:
    state = record["state"]
    if state == "pending" and now >= record["expires_at"]:
        return "expired"
    return state


def resend_at(record: dict, policy: Policy) -> float | None:
    """When the next send may happen, or None if no send remains."""
    if record["state"] != "pending" or record["sends"] >= policy.send.max_sends:
        return None
    cooldowns = policy.send.resend_cooldown_s
    return record["last_send_at"] + cooldowns[min(record["sends"] - 1, len(cooldowns) - 1)]


def view(record: dict, policy: Policy, now: float, created: bool = False) -> Verification:
    return Verification(
        id=record["id"],
        status=status_of(record, now),
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
        created=created,
    )

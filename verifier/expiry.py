"""Code TTL and record retention.

A code is valid for ``code.ttl_s`` after the send that made it; past that every check
answers ``code_expired`` (and a resend, while sends remain, gives a fresh code and
TTL). A record is kept until ``privacy.retention_s`` after its last deadline: its code's
expiry, its lockout, or the end of its approval's use (``check.approval_ttl_s``).
"""

from __future__ import annotations

from .policy import Policy


def code_deadline(now: float, policy: Policy) -> float:
    """When a code sent now stops working.

    With ``code.ttl_from = "delivery"`` this is the hard maximum; the delivery receipt
    brings it forward to the TTL from delivery (``delivery.py``).
    """
    if policy.code.ttl_from == "delivery":
        return now + max(policy.code.max_life_s, 0.0)
    return now + policy.code.ttl_s


def expired(record: dict, now: float) -> bool:
    return now >= record["expires_at"]


def status(record: dict, now: float) -> str:
    """The state callers see: a pending verification past its TTL reads ``expired``."""
    state = record["state"]
    if state == "pending" and expired(record, now):
        return "expired"
    return state


def approval_usable_until(record: dict, policy: Policy) -> float | None:
    approved = record["approved_at"]
    return approved + policy.check.approval_ttl_s if approved else None


def approval_expired(record: dict, now: float, policy: Policy) -> bool:
    until = approval_usable_until(record, policy)
    return until is not None and now > until


def purge_at(record: dict, now: float, policy: Policy) -> float:
    """When the store may drop the record: retention after its last deadline."""
    end = max(
        record["expires_at"],
        record["locked_until"] or 0.0,
        approval_usable_until(record, policy) or 0.0,
        now,
    )
    return end + policy.privacy.retention_s

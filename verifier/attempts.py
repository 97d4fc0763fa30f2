"""Wrong codes within one verification, and the lockout they lead to.

``check.max_attempts`` wrong codes are allowed per verification, counted across resends
(a new code SHALL NOT reset the count, SP 800-63B 3.1.3.2). The wrong code that leaves
none answers ``incorrect_code`` with ``attempts_left: 0`` and locks the number+account for
``check.lockout_s``: later checks, and starts for that number by that account, answer
``locked_out`` until it ends, then ``verification_not_pending``.
"""

from __future__ import annotations

from . import keys
from .errors import IncorrectCode, LockedOut, VerificationError, VerificationNotPending
from .policy import Policy
from .store import Transaction

CLOSED = ("approved", "cancelled", "consumed")


def not_open(record: dict, now: float) -> VerificationError | None:
    """The refusal for a verification that no longer takes codes or sends, or None."""
    state = record["state"]
    if state in CLOSED:
        return VerificationNotPending(f"the verification is {state}")
    if state == "locked":
        if now < record["locked_until"]:
            return LockedOut(retry_after_s=round(record["locked_until"] - now, 3))
        return VerificationNotPending("the verification was locked")
    return None


def locked_at_start(tx: Transaction, account_id: str, e164: str) -> LockedOut | None:
    until = tx.get(keys.lock(account_id, e164))
    if until is not None and tx.now < until:
        return LockedOut(retry_after_s=round(until - tx.now, 3))
    return None


def left(record: dict, policy: Policy) -> int:
    return max(0, policy.check.max_attempts - record["wrong"])


def wrong_code(tx: Transaction, record: dict, policy: Policy) -> tuple[dict, IncorrectCode]:
    """Count one wrong code: the updated record (locked if none are left) and the answer."""
    wrong = record["wrong"] + 1
    record = dict(record, wrong=wrong)
    remaining = policy.check.max_attempts - wrong
    if remaining <= 0:
        until = tx.now + policy.check.lockout_s
        record.update(state="locked", locked_until=until, end_reason="max_attempts")
        tx.put(keys.lock(record["account_id"], record["phone"]), until, expire_at=until)
    return record, IncorrectCode(attempts_left=max(0, remaining))

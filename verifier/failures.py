"""Wrong codes counted beyond one verification: per account, per number, and in a row.

A verification's own ``check.max_attempts`` and lockout stop guessing at one code. A
guesser who starts verification after verification is stopped here:

* ``limits.failures_per_account_per_hour``: wrong codes per account per hour, whatever
  the verification (OWASP ASVS 2.2.1 asks for at most 100 an hour);
* ``limits.failures_per_number_per_hour``: wrong codes per number per hour, whichever
  account typed them, so many accounts cannot pool their guesses at one number. The
  number's bound owner is not counted and not held back: a third party who knows the
  number can then never lock its owner out this way;
* ``limits.consecutive_failures_per_account``: wrong codes in a row on one account, however
  they are spread over days (NIST SP 800-63B §3.2.2: no more than 100; the count is kept
  a year after the last failure). At the limit the
  account's starts and checks answer ``locked_out`` with no ``retry_after_s`` until
  support unlocks it (``Verifier.unlock_account``); an approval resets the count.
"""

from __future__ import annotations

from . import keys, limits
from .errors import LockedOut
from .policy import LimitsPolicy
from .store import Transaction

HOUR = 3600.0
STREAK_KEPT_S = 366 * 86400.0  # a run of failures is remembered for a year


_streak_key = keys.streak


def _buckets(tx: Transaction, record: dict, lim: LimitsPolicy) -> list[tuple[str, str, int]]:
    account, phone = record["account_id"], record["phone"]
    found = [("failures", keys.rate("failures", account), lim.failures_per_account_per_hour)]
    if tx.get(keys.owner(phone)) != account:
        found.append(
            ("number_failures", keys.rate("nfailures", phone), lim.failures_per_number_per_hour)
        )
    return found


def account_locked(tx: Transaction, account_id: str, lim: LimitsPolicy) -> bool:
    """True once the account has had ``consecutive_failures_per_account`` wrong codes in a row."""
    if lim.consecutive_failures_per_account <= 0:
        return False
    return (tx.get(_streak_key(account_id)) or 0) >= lim.consecutive_failures_per_account


def account_lockout() -> LockedOut:
    return LockedOut("too many wrong codes on this account; contact support")


def retry_after(tx: Transaction, record: dict, lim: LimitsPolicy) -> tuple[float | None, str]:
    """The longest wait any failure bucket asks for, and its name; (None, "") if none."""
    found: tuple[float | None, str] = (None, "")
    for name, key, limit in _buckets(tx, record, lim):
        wait = limits.retry_after(tx, key, limit, HOUR)
        if wait is not None and (found[0] is None or wait > found[0]):
            found = (wait, name)
    return found


def note_failure(tx: Transaction, record: dict, lim: LimitsPolicy) -> bool:
    """Count one wrong code; True if it brought the account to its consecutive limit."""
    for _, key, limit in _buckets(tx, record, lim):
        limits.record(tx, key, limit, HOUR)
    if lim.consecutive_failures_per_account <= 0:
        return False
    key = _streak_key(record["account_id"])
    streak = (tx.get(key) or 0) + 1
    tx.put(key, streak, expire_at=tx.now + STREAK_KEPT_S)
    return streak == lim.consecutive_failures_per_account


def note_success(tx: Transaction, record: dict) -> None:
    key = _streak_key(record["account_id"])
    if tx.get(key) is not None:
        tx.delete(key)


def unlock(tx: Transaction, account_id: str) -> bool:
    """Support's reset of the consecutive count; True if there was one."""
    key = _streak_key(account_id)
    if tx.get(key) is None:
        return False
    tx.delete(key)
    return True

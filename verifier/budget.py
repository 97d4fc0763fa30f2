"""The send budget of one account and number, shared by all its recent verifications.

Within a verification, the ``n``-th send waits ``send.resend_cooldown_s[n-2]`` (the last
entry repeating) after the one before, and there are at most ``send.max_sends``.
"Re-enter phone number" is a cancel and a new start. If each start came with a fresh
cooldown and a fresh ``send.max_sends``, re-entering would be a way round both: so every
SMS to an account+number is remembered for ``send.window_s``, and a new verification
starts where the last one left off. Its first send waits out the cooldown that a resend
would (escalating with the sends in the window), and counts against the same cap; 20
cancel+start cycles send no more SMS than 20 resends would. An approval clears the
budget: the person has shown they hold the phone.
"""

from __future__ import annotations

from . import keys
from .errors import MaxSendsReached, ResendTooSoon, VerificationError
from .policy import Policy, SendPolicy
from .store import Transaction

_key = keys.sends


def cooldown(sends: int, send: SendPolicy) -> float:
    """The wait after the ``sends``-th send (1-based) before the next one."""
    cooldowns = send.resend_cooldown_s
    # 0 sends: the verification began with a call; its first SMS waits the first cooldown.
    return cooldowns[min(max(sends, 1) - 1, len(cooldowns) - 1)]


def resend_at(record: dict, policy: Policy) -> float | None:
    """When the next send of a verification may happen, or None if none remains."""
    if record["state"] != "pending" or record["sends"] >= policy.send.max_sends:
        return None
    return record["last_send_at"] + cooldown(record["sends"], policy.send)


def resend_refusal(record: dict, now: float, policy: Policy) -> VerificationError | None:
    """Why this verification may not send again now (cap, then cooldown), or None."""
    if record["sends"] >= policy.send.max_sends:
        return MaxSendsReached()
    available = resend_at(record, policy)
    if now < available:
        return ResendTooSoon(retry_after_s=round(available - now, 3))
    return None


def prior_sends(tx: Transaction, account_id: str, e164: str, send: SendPolicy) -> list[float]:
    """Times of the SMS to this account+number within the window, oldest first."""
    if send.window_s <= 0:
        return []
    start = tx.now - send.window_s
    return [t for t in tx.get(_key(account_id, e164)) or () if t > start]


def refusal(prior: list[float], now: float, send: SendPolicy) -> VerificationError | None:
    """Why a new first send must wait (or may not happen), as a resend would; or None."""
    if not prior:
        return None
    if len(prior) >= send.max_sends:
        # The window, not a verification, holds the budget: say when it frees a send.
        return MaxSendsReached(retry_after_s=round(prior[-send.max_sends] + send.window_s - now, 3))
    available = prior[-1] + cooldown(len(prior), send)
    if now < available:
        return ResendTooSoon(retry_after_s=round(available - now, 3))
    return None


def note_send(
    tx: Transaction, record: dict, send: SendPolicy, prior: list[float] | None = None
) -> None:
    """Remember one SMS to the record's account+number.

    ``prior`` is ``prior_sends`` of the same transaction, when the caller already read it.
    """
    if send.window_s <= 0:
        return
    key = _key(record["account_id"], record["phone"])
    if prior is None:
        start = tx.now - send.window_s
        recent = [t for t in tx.get(key) or () if t > start]
    else:
        recent = prior
    # Only the newest max_sends stamps can ever decide a refusal.
    recent = [*recent[max(0, len(recent) - send.max_sends + 1) :], tx.now]
    tx.put(key, recent, expire_at=tx.now + send.window_s)


def clear(tx: Transaction, record: dict) -> None:
    """Forget the budget once the account has proved it holds the number."""
    key = _key(record["account_id"], record["phone"])
    if tx.get(key) is not None:
        tx.delete(key)

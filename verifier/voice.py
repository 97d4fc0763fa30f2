"""Voice calls: the code read out by phone, for phones that cannot take SMS.

Both seeds speak of people whose device cannot take SMS ("a cell phone number that can
receive SMS and make calls"). A start or a resend may ask for ``channel = "call"``:

* the call's text gives the digits one by one, separated (``1, 2, 3, 4, 5, 6``), twice,
  never as one run of digits a speech engine would read as a large number;
* calls have their own budget per account+number: at most ``voice.max_calls`` within
  ``send.window_s`` (per verification when the window is 0), ``voice.cooldown_s`` apart;
  they count in the velocity limits (``limits.*``) like SMS, since a call costs as much
  to pump;
* line types in ``voice.extra_types`` (default ``FIXED_LINE``: SP 800-63B-4 allows PSTN
  voice) are accepted for calls only; an SMS to such a number is refused by type;
* ``voice.enabled = false`` refuses every call (``invalid_request`` naming the channel).
"""

from __future__ import annotations

from . import keys
from .errors import (
    InvalidRequest,
    MaxSendsReached,
    ResendTooSoon,
    UnsupportedNumberType,
    VerificationError,
)
from .phone import PhoneInfo, check_policy
from .policy import Policy
from .store import Transaction

CHANNELS = ("sms", "call")


def channel_arg(channel: object) -> str:
    """The channel asked for (``sms`` when not given), or ``InvalidRequest``."""
    if channel is None:
        return "sms"
    if channel not in CHANNELS:
        raise InvalidRequest("channel must be sms or call")
    return channel  # type: ignore[return-value]


def check_number(info: PhoneInfo, policy: Policy, channel: str) -> None:
    """Raise when the policy refuses this number for this channel."""
    if channel == "sms":
        check_policy(info, policy.numbers)
        return
    if not policy.voice.enabled:
        raise InvalidRequest("channel: calls are turned off by the policy (voice.enabled)")
    try:
        check_policy(info, policy.numbers)
    except UnsupportedNumberType:
        if info.type not in policy.voice.extra_types:
            raise


def sms_refusal(record: dict, policy: Policy) -> VerificationError | None:
    """An SMS to a number accepted for calls only is refused by its type."""
    line_type = record.get("line_type")
    if line_type is not None and line_type not in policy.numbers.allowed_types:
        return UnsupportedNumberType(line_type)
    return None


def prior_calls(tx: Transaction, record: dict, policy: Policy) -> list[float]:
    """Times of the calls that count against this account+number's voice budget."""
    window = policy.send.window_s
    if window <= 0:
        return list(record.get("call_times", ()))
    start = tx.now - window
    return [t for t in tx.get(keys.calls(record["account_id"], record["phone"])) or () if t > start]


def refusal(prior: list[float], now: float, policy: Policy) -> VerificationError | None:
    """Why a call may not be placed now (cap, then cooldown), or None."""
    voice, window = policy.voice, policy.send.window_s
    if len(prior) >= voice.max_calls:
        wait = prior[-voice.max_calls] + window - now if window > 0 else None
        return MaxSendsReached(retry_after_s=None if wait is None else round(wait, 3))
    if prior and now < prior[-1] + voice.cooldown_s:
        return ResendTooSoon(retry_after_s=round(prior[-1] + voice.cooldown_s - now, 3))
    return None


def note_call(tx: Transaction, record: dict, prior: list[float], policy: Policy) -> None:
    """Remember one call: in the record, and in the account+number's window."""
    times = [*prior[-policy.voice.max_calls :], tx.now]
    record["calls"] = len(prior) + 1
    record["call_times"] = times
    window = policy.send.window_s
    if window > 0:
        key = keys.calls(record["account_id"], record["phone"])
        tx.put(key, times, expire_at=tx.now + window)


def calls_left(record: dict, policy: Policy) -> int:
    return max(0, policy.voice.max_calls - record.get("calls", 0))


def call_body(code: str, ttl_s: float) -> str:
    """What the call says: the digits one by one, twice, then how long the code lasts."""
    digits = ", ".join(code)
    minutes = max(1, round(ttl_s / 60))
    return (
        f"Your verification code is {digits}. Again: {digits}. "
        f"It expires in {minutes} minutes. Never share it."
    )

"""Velocity limits: sliding windows of timestamps kept in the store, one key per subject.

Each SMS counts in the buckets of its number (``per_number_per_day``,
``per_number_per_15min``, not for the number's bound owner: they keep others from flooding
or using up a number), its client IP (``per_ip_per_hour``; an IPv6 /64; without a buyer
address, the credential), its device and its account. A refusal answers ``rate_limited``
with the longest wait, and never says which bucket fired (OWASP: generic answers); the
event names it.
"""

from __future__ import annotations

import ipaddress

from . import keys
from .policy import LimitsPolicy
from .store import Transaction

QUARTER, HOUR, DAY = 900.0, 3600.0, 86400.0


def retry_after(tx: Transaction, key: str, limit: int, window_s: float) -> float | None:
    """Seconds until one more event fits under ``limit`` per ``window_s``; None if it fits now.

    A limit of 0 is off.
    """
    if limit <= 0:
        return None
    stamps = tx.get(key)
    if not stamps:
        return None
    start = tx.now - window_s
    recent = [t for t in stamps if t > start]
    if len(recent) < limit:
        return None
    return max(0.0, recent[-limit] + window_s - tx.now)


def record(tx: Transaction, key: str, limit: int, window_s: float) -> None:
    """Count one event now under ``key`` (kept only as long as the window needs)."""
    if limit <= 0:
        return
    now = tx.now
    stamps = tx.get(key)
    if stamps and limit > 1:
        start = now - window_s
        recent = [t for t in stamps if t > start][-(limit - 1) :]
        recent.append(now)
    else:  # the first event in the window (the common case), or a limit of one
        recent = [now]
    tx.put(key, recent, expire_at=now + window_s)


def ip_subject(ip: str) -> str:
    """The subject a per-IP limit counts: the address, or for IPv6 its /64.

    One IPv6 subscriber usually holds a whole /64, so counting single addresses would let
    one caller rotate through 2**64 of them. Anything that is not an address (a credential
    bucket such as ``key:…``) is its own subject.
    """
    if ":" not in ip or ip.startswith("key:"):
        return ip
    try:
        net = ipaddress.IPv6Network(f"{ip}/64", strict=False)
    except ValueError:
        return ip
    return str(net)


def send_buckets(tx: Transaction, record: dict, lim: LimitsPolicy) -> list[tuple[str, int, float]]:
    """The (key, limit, window) buckets one SMS to this verification counts in."""
    phone, account = record["phone"], record["account_id"]
    buckets = []
    if tx.get(keys.owner(phone)) != account:
        buckets += [
            (keys.rate("number", phone), lim.per_number_per_day, DAY),
            (keys.rate("number15", phone), lim.per_number_per_15min, QUARTER),
        ]
    if record.get("client_ip"):
        buckets.append(
            (keys.rate("ip", ip_subject(record["client_ip"])), lim.per_ip_per_hour, HOUR)
        )
    if record.get("device_id"):
        buckets.append((keys.rate("device", record["device_id"]), lim.per_device_per_hour, HOUR))
    buckets.append((keys.rate("account", account), lim.per_account_per_hour, HOUR))
    return buckets


Buckets = list[tuple[str, int, float]]


def send_wait(
    tx: Transaction, record: dict, lim: LimitsPolicy, buckets: Buckets | None = None
) -> tuple[float, str] | None:
    """(longest wait, bucket name) if one more SMS does not fit now, else None.

    ``buckets`` are this record's ``send_buckets``, when the caller already has them.
    """
    waits = []
    for key, limit, window in buckets if buckets is not None else send_buckets(tx, record, lim):
        wait = retry_after(tx, key, limit, window)
        if wait is not None:
            waits.append((wait, key.split(":")[1]))
    return max(waits) if waits else None


def record_send(
    tx: Transaction, verification: dict, lim: LimitsPolicy, buckets: Buckets | None = None
) -> None:
    """Count one SMS in each of its buckets (``buckets`` as for ``send_wait``)."""
    if buckets is None:
        buckets = send_buckets(tx, verification, lim)
    for key, limit, window in buckets:
        record(tx, key, limit, window)

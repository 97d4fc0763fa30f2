"""Velocity limits: sliding windows of timestamps kept in the store, one key per subject."""

from __future__ import annotations

import ipaddress

from .store import Transaction


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
    start = tx.now - window_s
    recent = [t for t in (tx.get(key) or ()) if t > start][-(limit - 1) :] if limit > 1 else []
    recent.append(tx.now)
    tx.put(key, recent, expire_at=tx.now + window_s)


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

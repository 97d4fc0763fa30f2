"""Abnormal-operation detectors: automation at check time, SMS-pumping shapes at start.

Each detector is a policy key under ``[fraud]`` (0 or false turns it off) and returns
the reason it fired, which the engine records as a ``fraud_flagged`` event.
"""

from __future__ import annotations

from . import keys
from .phone import prefix_of
from .policy import FraudPolicy
from .store import Transaction

MAX_TRACKED = 2000  # per prefix; bounds the work and the key size under a flood


def at_check(
    record: dict, now: float, client_ip: str | None, device_id: str | None, fraud: FraudPolicy
) -> str | None:
    """Why a check on ``record`` looks automated or hijacked, or None."""
    if fraud.min_check_delay_s > 0 and now - record["last_send_at"] < fraud.min_check_delay_s:
        return "check_too_fast"
    if fraud.client_mismatch:
        if record.get("client_ip") and client_ip and client_ip != record["client_ip"]:
            return "client_mismatch"
        if record.get("device_id") and device_id and device_id != record["device_id"]:
            return "client_mismatch"
    return None


def _prefix_key(e164: str) -> tuple[str, int]:
    prefix, tail = prefix_of(e164)
    return keys.prefix_starts(prefix), tail


def _open_starts(tx: Transaction, key: str, window_s: float) -> list[list]:
    start = tx.now - window_s
    return [e for e in (tx.get(key) or ()) if e[0] > start]


Prefix = tuple[str, int, list[list]]
"""A number's prefix key, its last four digits and the prefix's open starts."""


def prefix_state(tx: Transaction, e164: str, fraud: FraudPolicy) -> Prefix | None:
    """What ``at_start`` and ``note_start`` read, read once; None with the detectors off."""
    if not (fraud.sequential_starts or fraud.prefix_unverified_max):
        return None
    key, tail = _prefix_key(e164)
    return key, tail, _open_starts(tx, key, fraud.window_s)


def at_start(
    tx: Transaction, e164: str, fraud: FraudPolicy, state: Prefix | None = None
) -> str | None:
    """Why starting a verification to ``e164`` looks like SMS pumping, or None.

    ``state`` is ``prefix_state`` of this transaction, when the caller already has it.
    """
    if state is None:
        state = prefix_state(tx, e164, fraud)
        if state is None:
            return None
    _, tail, open_starts = state
    if fraud.prefix_unverified_max and len(open_starts) >= fraud.prefix_unverified_max:
        return "prefix_volume"
    if fraud.sequential_starts:
        near = {
            t for _, t, _ in open_starts if t != tail and abs(t - tail) <= fraud.sequential_span
        }
        if len(near) + 1 >= fraud.sequential_starts:
            return "sequential_numbers"
    return None


def note_start(
    tx: Transaction,
    e164: str,
    verification_id: str,
    fraud: FraudPolicy,
    state: Prefix | None = None,
) -> None:
    """Remember an unverified start to this number's prefix (``state`` as for ``at_start``)."""
    if state is None:
        state = prefix_state(tx, e164, fraud)
        if state is None:
            return
    key, tail, open_starts = state
    open_starts = open_starts[-(MAX_TRACKED - 1) :]
    open_starts.append([tx.now, tail, verification_id])
    tx.put(key, open_starts, expire_at=tx.now + fraud.window_s)


def note_completion(tx: Transaction, e164: str, verification_id: str, fraud: FraudPolicy) -> None:
    """A verification to this prefix was approved: it no longer counts as unverified."""
    if not (fraud.sequential_starts or fraud.prefix_unverified_max):
        return
    key, _ = _prefix_key(e164)
    entries = tx.get(key)
    if entries:
        kept = [e for e in entries if e[2] != verification_id]
        if len(kept) != len(entries):
            tx.put(key, kept, expire_at=tx.now + fraud.window_s)

"""Delivery state: what became of the last message a verification sent.

"The SMS sending server is busy" (the seed) is only something a shop can tell its buyer
if the verification knows where its message is. Each send starts the verification's
``delivery`` at ``queued``; the sender's delivery receipts move it on, never back:
``queued`` → ``sent`` (the gateway handed it to the network) → ``delivered`` or
``failed``. Each step keeps its time, and while queued the sender's expected wait.
A receipt names the message by its sequence number in the verification (``Message.seq``);
one for an older message is ignored, so a late receipt never speaks for a newer code.

With ``code.ttl_from = "delivery"``, a code's TTL starts at its delivery receipt rather
than at hand-off, so a code held by a busy gateway does not arrive already expired; it is
bounded by ``code.max_life_s`` from hand-off, so a code cannot live for ever (until its
receipt comes, it lives that long).
"""

from __future__ import annotations

import hashlib
import hmac

from .errors import InvalidRequest
from .policy import Policy

STATES = ("queued", "sent", "delivered", "failed")
RANK = {"queued": 0, "sent": 1, "delivered": 2, "failed": 2}


def state_arg(state: object) -> str:
    if state not in STATES:
        raise InvalidRequest(f"state must be one of {', '.join(STATES)}")
    return state  # type: ignore[return-value]


def on_send(record: dict, now: float) -> int:
    """A message was handed to the sender: it is queued. Returns its sequence number."""
    seq = record.get("messages", 0) + 1
    record["messages"] = seq
    record["delivery"] = {
        "seq": seq,
        "state": "queued",
        "queued_at": now,
        "sent_at": None,
        "delivered_at": None,
        "failed_at": None,
        "expected_wait_s": None,
    }
    return seq


def apply(
    record: dict,
    seq: int,
    state: str,
    now: float,
    policy: Policy,
    expected_wait_s: float | None = None,
) -> bool:
    """Move the record's delivery on by one receipt; False if it changes nothing."""
    current = record.get("delivery")
    if current is None or current["seq"] != seq:
        return False  # an older message's receipt, or a record from before receipts
    if RANK[state] < RANK[current["state"]] or current["state"] in ("delivered", "failed"):
        if state == current["state"] == "queued" and expected_wait_s is not None:
            record["delivery"] = dict(current, expected_wait_s=expected_wait_s)
            return True
        return False
    delivery = dict(current, state=state)
    delivery[f"{state}_at"] = now
    delivery["expected_wait_s"] = expected_wait_s if state == "queued" else None
    record["delivery"] = delivery
    code = policy.code
    if state == "delivered" and code.ttl_from == "delivery" and record["state"] == "pending":
        record["expires_at"] = min(now + code.ttl_s, current["queued_at"] + code.max_life_s)
    return True


def public(record: dict) -> dict | None:
    """The resource's ``delivery`` field."""
    delivery = record.get("delivery")
    if delivery is None:
        return None
    return {k: v for k, v in delivery.items() if k != "seq"}


def receipt_token(key: bytes, verification_id: str, seq: int) -> str:
    """A token naming one message, signed with the engine's key: a gateway that holds it
    may report that message's delivery, and nothing else (no API key needed)."""
    mac = hmac.new(key, f"receipt:{verification_id}:{seq}".encode(), hashlib.sha256)
    return f"{verification_id}.{seq}.{mac.hexdigest()[:32]}"


def read_token(key: bytes, token: object) -> tuple[str, int] | None:
    """The (verification id, seq) a token names, or None if it is not one of ours."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    parts = token.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 6:
        return None
    vid, seq = parts[0], int(parts[1])
    return (vid, seq) if hmac.compare_digest(receipt_token(key, vid, seq), token) else None

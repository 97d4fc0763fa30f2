"""Every store key the engine and its service write, built in one place.

Keys are ``kind:part[:part…]`` strings; the kind says what the value holds, so a look
at a store (``SELECT key FROM kv``) reads like the engine's state. Nothing else in the
package writes a key by hand.
"""

from __future__ import annotations


def verification(verification_id: str) -> str:
    """The verification record."""
    return f"v:{verification_id}"


def pending(account_id: str, e164: str) -> str:
    """The id of the account's pending verification of a number (the idempotent start)."""
    return f"pending:{account_id}:{e164}"


def owner(e164: str) -> str:
    """The account a number is bound to."""
    return f"owner:{e164}"


def number_of(account_id: str) -> str:
    """The number bound to an account."""
    return f"account:{account_id}"


def lock(account_id: str, e164: str) -> str:
    """Until when the number+account is locked after ``max_attempts`` wrong codes."""
    return f"lock:{account_id}:{e164}"


def sends(account_id: str, e164: str) -> str:
    """Times of the recent SMS to an account+number (the shared send budget)."""
    return f"sends:{account_id}:{e164}"


def calls(account_id: str, e164: str) -> str:
    """Times of the recent calls to an account+number (the voice budget)."""
    return f"calls:{account_id}:{e164}"


def streak(account_id: str) -> str:
    """Wrong codes in a row on an account."""
    return f"streak:{account_id}"


def rate(bucket: str, subject: str) -> str:
    """A velocity window: ``bucket`` names the limit, ``subject`` what it counts."""
    return f"rl:{bucket}:{subject}"


def dispute(dispute_id: str) -> str:
    return f"dispute:{dispute_id}"


def prefix_starts(prefix: str) -> str:
    """Unverified starts to one number prefix (the pumping detectors)."""
    return f"fraud:prefix:{prefix}"


def sandbox(e164: str) -> str:
    """Messages the sandbox sender kept for a number."""
    return f"sandbox:{e164}"


OUTBOX = "outbox:"


def outbox(sent_at: float, verification_id: str, n: int) -> str:
    """One message waiting in the durable outbox; keys sort by hand-off time."""
    return f"{OUTBOX}{sent_at:017.6f}:{verification_id}:{n}"


def idempotency(digest: str) -> str:
    return f"idem:{digest}"


API_KEYS = "apikey:"


def api_key(digest: str) -> str:
    """The scope of one API secret, by its SHA-256 digest."""
    return f"{API_KEYS}{digest}"


TWILIO_SERVICES = "twilio:service:"


def twilio_service(service_sid: str) -> str:
    """A Twilio-shaped ``/v2`` service (``VA…``) and the policy settings it maps to."""
    return f"{TWILIO_SERVICES}{service_sid}"

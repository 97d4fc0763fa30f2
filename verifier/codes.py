"""One-time codes: CSPRNG generation, keyed hashing, normalised constant-time comparison.

Only ``HMAC-SHA-256(key, verification id : code)`` is kept, so a stolen store does not
reveal codes and a code is bound to its own verification. ``seal``/``unseal`` exist
only for the policy that resends the *same* code (Twilio's behaviour), which must be
able to repeat it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable

CodeSource = Callable[[int], str]
"""Returns a code of the given number of digits; ``secrets`` by default."""


def random_code(length: int) -> str:
    """A uniformly random decimal code from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def normalise(typed: str) -> str:
    """NFKC-fold what the user typed (full-width digits) and drop spaces and hyphens."""
    if typed.isascii() and typed.isdigit():
        return typed  # the common case, already in normal form
    folded = unicodedata.normalize("NFKC", typed)
    return "".join(ch for ch in folded if ch != "-" and not ch.isspace())


def code_hash(key: bytes, verification_id: str, code: str) -> str:
    """The keyed hash stored in place of the code."""
    return hmac.new(key, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def matches(key: bytes, verification_id: str, typed: str, stored: str) -> bool:
    """Constant-time comparison of a normalised typed code against a stored hash."""
    candidate = code_hash(key, verification_id, normalise(typed))
    return hmac.compare_digest(candidate, stored)


def _pad(key: bytes, verification_id: str, length: int) -> bytes:
    return hmac.new(key, f"seal:{verification_id}".encode(), hashlib.sha256).digest()[:length]


def seal(key: bytes, verification_id: str, code: str) -> str:
    """Encrypt ``code`` with a one-time pad derived from the key, for same-code resends."""
    raw = code.encode()
    return bytes(
        a ^ b for a, b in zip(raw, _pad(key, verification_id, len(raw)), strict=True)
    ).hex()


def unseal(key: bytes, verification_id: str, sealed: str) -> str:
    raw = bytes.fromhex(sealed)
    return bytes(
        a ^ b for a, b in zip(raw, _pad(key, verification_id, len(raw)), strict=True)
    ).decode()


def pseudonym(key: bytes, e164: str) -> str:
    """A keyed pseudonym of a number: stable for counting, useless without the key."""
    return hmac.new(key, f"number:{e164}".encode(), hashlib.sha256).hexdigest()[:16]

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


class Keyed:
    """The functions above for one key, with the key's HMAC states computed once.

    ``hmac.new`` pads and hashes the key on every call, and its Python wrapper shows
    when every start and check hashes a code and a number. Here the inner and outer
    SHA-256 states of RFC 2104 are prepared once and copied per message; the results
    are byte for byte those of ``code_hash``, ``matches``, ``seal``, ``unseal`` and
    ``pseudonym``.
    """

    __slots__ = ("_inner", "_outer", "key")

    def __init__(self, key: bytes) -> None:
        self.key = key
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def _hex(self, text: str) -> str:
        inner = self._inner.copy()
        inner.update(text.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def code_hash(self, verification_id: str, code: str) -> str:
        return self._hex(f"{verification_id}:{code}")

    def matches(self, verification_id: str, typed: str, stored: str) -> bool:
        candidate = self._hex(f"{verification_id}:{normalise(typed)}")
        return hmac.compare_digest(candidate, stored)

    def seal(self, verification_id: str, code: str) -> str:
        return seal(self.key, verification_id, code)

    def unseal(self, verification_id: str, sealed: str) -> str:
        return unseal(self.key, verification_id, sealed)

    def pseudonym(self, e164: str) -> str:
        return self._hex(f"number:{e164}")[:16]

"""``Idempotency-Key`` for ``POST /v1/verifications``: one answer, one SMS, per key.

The first request with a key reserves it in the store (a short lease), runs, and keeps
its 2xx answer for ``retention_s``; a repeat with the same body gets that answer back, a
repeat with another body is ``invalid_request``, and a repeat that arrives while the first
is still running waits for it. Refusals are not kept: they sent nothing, and a retry after
``Retry-After`` should be able to succeed. A server that dies holding a reservation loses
it when the lease ends; the retry then runs again and the engine answers with the pending
verification (200, no second SMS).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass

from .. import keys
from ..clock import Clock
from ..errors import InvalidRequest
from ..store import Store, Transaction
from .problems import IdempotencyKeyInUse

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces
LEASE_S = 30.0
WAIT_S = 10.0
_KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: dict


def fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Idempotency:
    """Keeps answers by key in the shared store, so every worker and restart sees them."""

    def __init__(self, store: Store, clock: Clock, retention_s: float = 86400.0) -> None:
        self._store = store
        self._clock = clock
        self._retention_s = retention_s

    @staticmethod
    def _store_key(key: str) -> str:
        # Hashed: the key is the client's text and may be long or odd.
        return keys.idempotency(hashlib.sha256(key.encode()).hexdigest())

    def begin(self, key: str, body_hash: str) -> Replay | None:
        """Reserve ``key`` (None: go ahead) or return the answer it already has."""
        if not _KEY.match(key):
            raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters")
        skey = self._store_key(key)

        def op(tx: Transaction):
            held = tx.get(skey)
            if held is not None:
                if held["fingerprint"] != body_hash:
                    return InvalidRequest(
                        "this Idempotency-Key was used with a different request body"
                    )
                if held.get("status") is not None:
                    return Replay(held["status"], held["body"])
                if held["lease_until"] > tx.now:
                    return "busy"
            reservation = {"fingerprint": body_hash, "lease_until": tx.now + LEASE_S}
            tx.put(skey, reservation, expire_at=tx.now + LEASE_S)
            return None

        # Waiting is real time whatever the clock says (tests run the engine on a manual one).
        deadline = time.monotonic() + WAIT_S
        pause = threading.Event()
        delay = 0.01
        while True:
            result = self._store.transact(op, self._clock.now())
            if isinstance(result, InvalidRequest):
                raise result
            if result != "busy":
                return result
            if time.monotonic() >= deadline:
                raise IdempotencyKeyInUse(retry_after_s=1.0)
            pause.wait(delay)  # polling the store: the first request runs in another process
            delay = min(delay * 2, 0.2)

    def finish(self, key: str, body_hash: str, status: int, body: dict) -> None:
        """Keep the 2xx answer of a reserved key."""
        skey = self._store_key(key)
        kept = {"fingerprint": body_hash, "status": status, "body": body, "lease_until": 0.0}

        def op(tx: Transaction) -> None:
            tx.put(skey, kept, expire_at=tx.now + self._retention_s)

        self._store.transact(op, self._clock.now())

    def abandon(self, key: str, body_hash: str) -> None:
        """Drop a reservation whose request was refused, so a retry runs again."""
        skey = self._store_key(key)

        def op(tx: Transaction) -> None:
            held = tx.get(skey)
            pending = held is not None and held.get("status") is None
            if pending and held["fingerprint"] == body_hash:
                tx.delete(skey)

        self._store.transact(op, self._clock.now())

"""A durable outbox for an HTTP SMS gateway: stage in the engine's transaction, deliver later.

``GatewaySender.send`` writes the message under ``outbox:{sent_at}:{verification id}:{n}``
in the very transaction that decided to send it, so a message exists exactly when that
decision was committed, and it expires with its code (a late code is useless).
``OutboxDelivery`` runs beside the HTTP service in every worker process: it claims due
items atomically (unclaimed, or whose claimant's lease has run out), POSTs ``{to, body}``
to ``{gateway}/messages``, deletes an item once the gateway accepts it, and retries 429,
5xx, timeouts and refused connections with exponential backoff (at least the gateway's
``Retry-After``) until the code expires. Delivery is at least once: a worker that dies
between the gateway's answer and the delete leaves the item to be sent again.

The staged body holds the code in clear until it is delivered or expires: the price of
a durable outbox. The engine itself keeps only the code's HMAC.

This module is the service's edge (it reads the wall clock through the injected clock
and opens sockets); the engine never imports it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import mktime_tz, parsedate_tz

from . import keys
from .clock import Clock
from .senders import Message
from .store import Store, Transaction

PREFIX = keys.OUTBOX
LOG = logging.getLogger("smsverify.outbox")
Post = Callable[[str, dict, dict, float], tuple[int | None, str | None]]
"""(url, json payload, headers, timeout) -> (HTTP status or None, the Retry-After header)."""


def outbox_key(message: Message, n: int) -> str:
    return keys.outbox(message.sent_at, message.verification_id, n)


class GatewaySender:
    """Stages each message in the sender's outbox, in the engine's own transaction."""

    def __init__(
        self,
        ttl_s: float,
        wake: Callable[[], None] | None = None,
        callback: Callable[[str, int], str] | None = None,
    ) -> None:
        self._ttl_s = ttl_s
        self._wake = wake
        self._callback = callback  # (verification id, seq) -> the delivery receipt URL

    def send(self, message: Message, tx: Transaction) -> None:
        n = 1
        while tx.get(outbox_key(message, n)) is not None:
            n += 1
        expires_at = message.sent_at + self._ttl_s
        item = {
            "to": message.to,
            "body": message.body,
            "channel": message.channel,
            "status_callback": (
                self._callback(message.verification_id, message.seq)
                if self._callback is not None and message.seq
                else None
            ),
            "expires_at": expires_at,
            "attempts": 0,
            "not_before": message.sent_at,
            "lease_until": 0.0,
        }
        tx.put(outbox_key(message, n), item, expire_at=expires_at)
        if self._wake is not None:
            tx.after_commit(self._wake)


def retry_after_s(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds from ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    try:
        return max(0.0, mktime_tz(parsed) - now)
    except (TypeError, ValueError, OverflowError):
        return None


def post_json(
    url: str, payload: dict, headers: dict, timeout: float
) -> tuple[int | None, str | None]:
    """POST ``payload`` with the standard library; (None, None) when no answer came."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, None
    except urllib.error.HTTPError as err:
        retry_after = err.headers.get("Retry-After")
        err.close()
        return err.code, retry_after
    except (OSError, ValueError):  # URLError, timeouts, resets
        return None, None


class OutboxDelivery:
    """Delivers the shared outbox to ``{gateway}/messages``; one per worker process.

    A dispatcher thread claims due items and hands them to ``concurrency`` posting
    threads. ``on_result`` hears ``delivered``, ``retried``, ``expired`` (given up: the
    code expired first) or ``rejected`` (the gateway refused it for good, a 4xx).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        gateway: str,
        *,
        concurrency: int = 4,
        timeout_s: float = 5.0,
        lease_s: float = 15.0,
        poll_s: float = 1.0,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        on_result: Callable[[str], None] | None = None,
        post: Post = post_json,
    ) -> None:
        if lease_s <= timeout_s:
            raise ValueError("the lease must outlast a delivery attempt (lease_s > timeout_s)")
        self.store = store
        self.clock = clock
        self.url = gateway.rstrip("/") + "/messages"
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self._on_result = on_result or (lambda result: None)
        self._post = post
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._next_due: float | None = None

    def wake(self) -> None:
        """Look at the outbox now (a send just committed in this process)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="outbox-post")
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def depth(self, limit: int = 10_000) -> int:
        """Items staged and not yet delivered (counted up to ``limit``)."""
        return len(self.store.scan(PREFIX, self.clock.now(), limit=limit))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._next_due = None
            try:
                self.dispatch()
            except Exception as exc:  # a store hiccup must not end delivery: poll again
                LOG.warning(
                    "outbox dispatch failed",
                    extra={"event": "outbox_error", "result": type(exc).__name__},
                )
            # A send in this process wakes us at once; otherwise look again when the
            # next retry is due, or after poll_s for items staged by other processes.
            wait = self.poll_s
            if self._next_due is not None:
                wait = min(wait, max(0.01, self._next_due - self.clock.now()))
            self._wake.wait(wait)

    def dispatch(self) -> int:
        """Claim what is due and start posting it; returns how many were claimed."""
        claimed = 0
        now = self.clock.now()
        for key, item in self.store.scan(PREFIX, now, limit=500):
            waiting = max(item["lease_until"], item["not_before"])
            if waiting > now:
                self._due(waiting)
                continue
            if not self._slots.acquire(blocking=False):
                break  # every poster is busy; a finished one wakes the dispatcher
            got = self._claim(key)
            if got is None:
                self._slots.release()
                continue
            claimed += 1
            if self._pool is None:
                self._deliver(key, got)
            else:
                self._pool.submit(self._deliver, key, got)
        return claimed

    def _due(self, when: float) -> None:
        if self._next_due is None or when < self._next_due:
            self._next_due = when

    def _claim(self, key: str) -> dict | None:
        def op(tx: Transaction) -> dict | None:
            item = tx.get(key)
            if item is None or item["lease_until"] > tx.now or item["not_before"] > tx.now:
                return None
            if tx.now >= item["expires_at"]:
                tx.delete(key)
                return {"expired": True}
            claimed = dict(item, attempts=item["attempts"] + 1, lease_until=tx.now + self.lease_s)
            tx.put(key, claimed, expire_at=item["expires_at"])
            return claimed

        return self.store.transact(op, self.clock.now())

    def _deliver(self, key: str, item: dict) -> None:
        try:
            if item.get("expired"):
                self._on_result("expired")
                return
            payload = {
                "to": item["to"],
                "body": item["body"],
                "channel": item.get("channel", "sms"),
            }
            if item.get("status_callback"):
                payload["status_callback"] = item["status_callback"]
            status, header = self._post(self.url, payload, {"Idempotency-Key": key}, self.timeout_s)
            if status is not None and 200 <= status < 300:
                self._settle(key, None)
                result = "delivered"
            elif status is None or status == 429 or status >= 500:
                result = self._retry(key, item, retry_after_s(header, self.clock.now()))
            else:
                self._settle(key, None)
                result = "rejected"
            self._on_result(result)
            LOG.info(
                "sms delivery",
                extra={
                    "event": "sms_delivery",
                    "result": result,
                    "status": status,
                    "attempt": item["attempts"],
                },
            )
        except Exception as exc:  # the lease runs out and another attempt claims the item
            LOG.warning(
                "sms delivery failed", extra={"event": "outbox_error", "result": type(exc).__name__}
            )
        finally:
            self._slots.release()
            self._wake.set()

    def _retry(self, key: str, item: dict, wait: float | None) -> str:
        delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (item["attempts"] - 1))
        delay *= self._random.uniform(0.5, 1.0)  # jitter: workers do not retry in step
        delay = max(delay, wait or 0.0)
        due = self.clock.now() + delay
        if due >= item["expires_at"]:
            self._settle(key, None)
            return "expired"
        self._settle(key, dict(item, lease_until=0.0, not_before=due))
        return "retried"

    def _settle(self, key: str, item: dict | None) -> None:
        """Delete the item, or put it back for a later attempt."""

        def op(tx: Transaction) -> None:
            if item is None:
                tx.delete(key)
            elif tx.get(key) is not None:
                tx.put(key, item, expire_at=item["expires_at"])

        self.store.transact(op, self.clock.now())

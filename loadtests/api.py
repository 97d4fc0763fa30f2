"""The service's API and the buyer's phone as the load generators call them, through Locust.

Every request goes through a Locust ``FastHttpSession`` with ``catch_response=True`` and
a templated name (``POST /v1/verifications/{id}/check``), so Locust's statistics hold
one row per endpoint. Its answer is then classified:

* 2xx: a success.
* a problem body whose ``code`` is one of the contract's (``incorrect_code``,
  ``locked_out``, ``rate_limited`` …): an expected business outcome, reported to
  Locust as a failure *named by its code* (``Refused('incorrect_code')``), so Locust's
  failure table counts each code per endpoint while the endpoint's latency
  percentiles stay whole;
* anything else (a transport error, a 5xx, an answer outside the contract): a failure
  named ``Broken(...)``. The report keeps the two apart; only ``Broken`` is an error.

This module runs only inside Locust processes (gevent), but imports nothing of Locust.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from urllib.parse import quote

import gevent

from verifier import ERRORS

from .config import KEY_ENV

MAX_POLL_S = 20.0  # one long poll of the inbox waits at most this long

HTTP_CODES = ("invalid_request", "idempotency_key_in_use", "method_not_allowed")


BUSINESS_CODES = frozenset(ERRORS) | frozenset(HTTP_CODES)


class Refused(Exception):
    """An expected refusal of the contract, named by its code in Locust's failure table."""


class Broken(Exception):
    """A transport error or an answer outside the contract: a real error."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a call came back with: ``code`` is None on success, the refusal code, or
    ``"error"`` for a transport error or an answer outside the contract."""

    status: int
    body: dict
    code: str | None

    @property
    def ok(self) -> bool:
        return self.code is None


def call(client, method: str, path: str, name: str, json: dict | None = None) -> Answer:
    """One request through a Locust client, classified and reported as described above."""
    headers = {"Authorization": f"Bearer {os.environ.get(KEY_ENV, '')}"}
    with client.request(
        method, path, name=name, json=json, headers=headers, catch_response=True
    ) as r:
        if not r.status_code:  # no HTTP answer at all: the error says what happened
            r.failure(Broken(f"transport {type(getattr(r, 'error', None)).__name__}"))
            return Answer(0, {}, "error")
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict | list):
            r.failure(Broken(f"HTTP {r.status_code} without a JSON body"))
            return Answer(r.status_code, {}, "error")
        if 200 <= r.status_code < 300:
            r.success()
            return Answer(r.status_code, body if isinstance(body, dict) else {"items": body}, None)
        code = body.get("code") if isinstance(body, dict) else None
        if code in BUSINESS_CODES:
            r.failure(Refused(code))
            return Answer(r.status_code, body, code)
        r.failure(Broken(f"HTTP {r.status_code} {code or 'no code'}"))
        return Answer(r.status_code, {}, "error")


class Api:
    """The verification service's operations a visitor uses."""

    def __init__(self, client) -> None:
        self.client = client

    def start(self, phone: str, country: str | None, account: str) -> Answer:
        body = {"phone": phone, "country": country, "account_id": account}
        return call(self.client, "POST", "/v1/verifications", "POST /v1/verifications", body)

    def resend(self, vid: str) -> Answer:
        path = f"/v1/verifications/{quote(vid, safe='')}/resend"
        return call(self.client, "POST", path, "POST /v1/verifications/{id}/resend")

    def check(self, vid: str, code: str) -> Answer:
        path = f"/v1/verifications/{quote(vid, safe='')}/check"
        return call(self.client, "POST", path, "POST /v1/verifications/{id}/check", {"code": code})

    def cancel(self, vid: str) -> Answer:
        path = f"/v1/verifications/{quote(vid, safe='')}"
        return call(self.client, "DELETE", path, "DELETE /v1/verifications/{id}")

    def bind(self, account: str, vid: str) -> Answer:
        path = f"/v1/accounts/{quote(account, safe='')}/phone-number"
        return call(
            self.client,
            "PUT",
            path,
            "PUT /v1/accounts/{account_id}/phone-number",
            {"verification_id": vid},
        )


class Inbox:
    """A buyer's phone: the messages the fake gateway delivered to one number.

    ``received`` counts deliveries so far and ``code`` is the newest one's code, as the
    model's handset has them. A phone set to reject SMS (``blocked``) never looks.
    """

    def __init__(self, gateway_client, e164: str, blocked: bool = False) -> None:
        self.client = gateway_client
        self.path = f"/inbox/{quote(e164, safe='')}"
        self.blocked = blocked
        self.received = 0
        self.code: str | None = None

    def _poll(self, wait_s: float) -> bool:
        answer = call(
            self.client,
            "GET",
            f"{self.path}?after={self.received}&wait_s={wait_s:.3f}",
            "GET /inbox/{e164} (gateway)",
        )
        items = answer.body.get("items") if answer.ok else None
        if not items:
            return False
        newest = max(items, key=lambda m: m["n"])
        self.received, self.code = newest["n"], newest["code"]
        return True

    def refresh(self) -> None:
        """Look at the phone now (no waiting)."""
        if not self.blocked:
            self._poll(0.0)

    def wait(self, until: float) -> bool:
        """Wait for a new SMS or until wall-clock ``until``; True if one came."""
        while True:
            left = until - time.time()
            if left <= 0:
                return False
            if self.blocked:
                gevent.sleep(left)
                return False
            asked = time.time()
            if self._poll(min(left, MAX_POLL_S)):
                return True
            if time.time() - asked < 0.05:
                # An error answers at once instead of waiting: do not spin on it.
                gevent.sleep(max(0.0, min(until - time.time(), 0.2)))

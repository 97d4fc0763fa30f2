"""Concurrent checks against one verification, on a real server with two workers.

DESIGN.md, "Stores": "N concurrent wrong checks against one verification can never be
evaluated more than ``max_attempts`` times, on any store, with any number of workers."
And a code is single use: of many concurrent correct checks exactly one approves; and
concurrent retries with one ``Idempotency-Key`` get one answer and send one SMS.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from servekit import ADMIN_KEY, jp_mobile, wrong_code

MAX_ATTEMPTS = 5
WRONG_CHECKS = 200
CORRECT_CHECKS = 50
IDEMPOTENT_STARTS = 20


def burst(api, verification_id: str, code: str, n: int) -> list:
    """``n`` checks released together from ``n`` threads; their answers."""
    gate = threading.Barrier(n)

    def one(_):
        gate.wait()
        return api.check(verification_id, code)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus text exposition (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    found = re.search(r"^" + pattern + r" ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_concurrent_checks(kind, racing_server):
    srv = racing_server(kind, MAX_ATTEMPTS)
    api = srv.api

    phone, e164 = jp_mobile(11110001)
    ver = api.start(phone, "race-wrong").body
    code = api.code_for(e164)
    answers = burst(api, ver["id"], wrong_code(code), WRONG_CHECKS)
    codes = Counter(a.code for a in answers)
    assert codes == {"incorrect_code": MAX_ATTEMPTS, "locked_out": WRONG_CHECKS - MAX_ATTEMPTS}
    left = sorted(a.body["attempts_left"] for a in answers if a.code == "incorrect_code")
    assert left == list(range(MAX_ATTEMPTS))
    assert {a.status for a in answers if a.code == "locked_out"} == {423}
    after = api.check(ver["id"], code)
    assert after.status == 423 and after.code == "locked_out"
    state = api.get(ver["id"]).body
    assert state["status"] == "locked" and state["attempts_left"] == 0

    phone, e164 = jp_mobile(11110002)
    ver = api.start(phone, "race-right").body
    answers = burst(api, ver["id"], api.code_for(e164), CORRECT_CHECKS)
    statuses = Counter(a.status for a in answers)
    assert statuses == {200: 1, 409: CORRECT_CHECKS - 1}
    assert {a.code for a in answers if a.status == 409} == {"verification_not_pending"}

    # One Idempotency-Key, many concurrent retries: one answer, one SMS.
    phone, e164 = jp_mobile(11110003)
    body = {"phone": phone, "country": "JP", "account_id": "race-idem"}
    gate = threading.Barrier(IDEMPOTENT_STARTS)

    def start(_):
        gate.wait()
        return api("POST", "/v1/verifications", body, headers={"Idempotency-Key": "pay-7"})

    with ThreadPoolExecutor(max_workers=IDEMPOTENT_STARTS) as pool:
        answers = list(pool.map(start, range(IDEMPOTENT_STARTS)))
    assert {a.status for a in answers} == {201}
    assert len({a.body["id"] for a in answers}) == 1
    assert len(api.as_(ADMIN_KEY)("GET", "/sandbox/messages?to=%2B" + e164[1:]).body) == 1

    # Every worker's counters, summed (prometheus multiprocess mode).
    text = api("GET", "/metrics").body
    check_outcome = {"operation": "check_verification"}
    assert metric(text, "smsverify_outcomes_total", **check_outcome, outcome="incorrect_code") == 5
    assert metric(text, "smsverify_outcomes_total", **check_outcome, outcome="locked_out") == 196
    assert metric(text, "smsverify_lockouts_total") == 1

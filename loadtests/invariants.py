"""Security invariants checked after a load test, from what the server itself recorded.

The runner opens the store the server used (SQLite or Redis; ``verifier.stores``) and
only *counts* its events; every decision in them is the engine's. Checked:

* **attempts**: no verification had more than ``max_attempts`` wrong codes evaluated
  (``checked_wrong`` events per verification id);
* **brute force**: the brute-forcer's approvals stay within the analytical bound: each
  verification lets at most ``max_attempts`` guesses of 10^``length`` codes through, so
  over L verifications E = L·max_attempts / 10^length approvals are expected at most;
  the check fails only if the count is beyond the 99.9 % Poisson quantile of E;
* **line types**: every ``sent`` event's verification is for a number the policy
  accepts (``verifier.phone.check_policy`` on the stored number);
* **no 5xx**: the server's own request counter (``/metrics``) holds no 5xx answer.

A ``memory://`` store lives inside the server process and cannot be opened afterwards;
the first two checks then fall back to the answers the load generators received
(weaker: they see what the server said, not what it evaluated) and the third is
reported as not checked.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from verifier import Policy, SandboxSender, SystemClock, VerificationError, Verifier
from verifier.phone import check_policy, parse_phone
from verifier.stores import open_store

# Label values may hold braces (route templates), so the labels run to the last "}".
METRIC = re.compile(r"^(\w+)\{(.*)\}\s+(\S+)$")


@dataclass(frozen=True, slots=True)
class Invariant:
    name: str
    passed: bool | None  # None: could not be checked
    numbers: str
    source: str


def poisson_quantile(mean: float, q: float = 0.999) -> int:
    """The smallest k with P(X ≤ k) ≥ q for X ~ Poisson(mean)."""
    k, term = 0, math.exp(-mean)
    total = term
    while total < q:
        k += 1
        term *= mean / k
        total += term
    return k


def brute_force(lifecycles: int, successes: int, attempts: int, policy: Policy, source: str):
    space = 10**policy.code.length
    expected = lifecycles * policy.check.max_attempts / space
    allowed = poisson_quantile(expected)
    return Invariant(
        "brute-force successes within the analytical bound",
        successes <= allowed,
        f"{successes} approvals from {attempts} guesses over {lifecycles} verifications; "
        f"bound E = {lifecycles} × {policy.check.max_attempts} / 10^{policy.code.length} "
        f"= {expected:.2g}, at most {allowed} allowed (99.9 % Poisson quantile)",
        source,
    )


def attempts(wrong_by_verification: Counter, policy: Policy, source: str) -> Invariant:
    worst = max(wrong_by_verification.values(), default=0)
    return Invariant(
        "no verification evaluated more than max_attempts wrong codes",
        worst <= policy.check.max_attempts,
        f"most wrong codes in one verification: {worst} (max_attempts = "
        f"{policy.check.max_attempts}) over {len(wrong_by_verification)} verifications "
        "with a wrong code",
        source,
    )


def from_store(url: str, policy: Policy, brute_prefix: str, clock=None) -> list[Invariant]:
    """The three store invariants; ``brute_prefix`` starts every brute-forcer's account.

    ``clock`` reads the stored records (the wall clock by default, as the server did).
    """
    store = open_store(url)
    try:
        events = store.events()
        wrong = Counter(e.verification_id for e in events if e.kind == "checked_wrong")
        brute = {
            e.verification_id
            for e in events
            if e.kind == "started" and (e.account_id or "").startswith(brute_prefix)
        }
        checked = [e for e in events if e.verification_id in brute]
        successes = sum(e.kind == "checked_ok" for e in checked)
        guesses = sum(e.kind in ("checked_ok", "checked_wrong") for e in checked)
        source = f"{len(events)} events in the server's store"
        found = [
            attempts(wrong, policy, source),
            brute_force(len(brute), successes, guesses, policy, source),
            line_types(
                store,
                policy,
                [e.verification_id for e in events if e.kind == "sent"],
                clock or SystemClock(),
            ),
        ]
    finally:
        store.close()
    return found


def line_types(store, policy: Policy, sent_ids: list[str], clock) -> Invariant:
    verifier = Verifier(policy, store, SandboxSender(), clock)
    refused, unknown, numbers = 0, 0, set()
    for vid in set(sent_ids):
        try:
            phone = verifier.get(vid).phone
        except VerificationError:
            unknown += 1  # purged after its retention period
            continue
        numbers.add(phone)
        try:
            check_policy(parse_phone(phone, None), policy.numbers)
        except VerificationError:
            refused += 1
    note = f"; {unknown} verifications no longer stored" if unknown else ""
    return Invariant(
        "no SMS sent to a number of a refused type or country",
        refused == 0,
        f"{len(sent_ids)} sends to {len(numbers)} numbers, {refused} of them refused by the "
        f"policy's allowed types {list(policy.numbers.allowed_types)}{note}",
        "sent events and verification records in the server's store",
    )


def from_answers(sessions: pd.DataFrame, policy: Policy) -> list[Invariant]:
    """The fallback when the store cannot be opened: what the server answered."""
    source = "answers received by the load generators (memory:// store)"
    with_vid = sessions.dropna(subset=["verification_id"])
    wrong = Counter(dict(with_vid.groupby("verification_id")["wrong_codes"].sum().items()))
    brute = sessions[(sessions["actor"] == "bruteforce") & (sessions["sends"] > 0)]
    return [
        attempts(Counter({k: int(v) for k, v in wrong.items() if v}), policy, source),
        brute_force(
            len(brute),
            int((brute["outcome"] == "approved").sum()),
            int(brute["checks"].sum()),
            policy,
            source,
        ),
        Invariant(
            "no SMS sent to a number of a refused type or country",
            None,
            "not checked: a memory:// store cannot be opened from outside the server "
            "(run with the default SQLite store or a Redis store)",
            "-",
        ),
    ]


def server_errors(metrics_text: str) -> Invariant:
    """No 5xx in the server's own request counter."""
    total = errors = 0.0
    for line in metrics_text.splitlines():
        found = METRIC.match(line.strip())
        if not found or found.group(1) != "smsverify_http_requests_total":
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2)))
        value = float(found.group(3))
        total += value
        if labels.get("status", "").startswith("5"):
            errors += value
    return Invariant(
        "the server answered no 5xx",
        errors == 0 if total else None,
        f"{errors:.0f} of {total:.0f} requests",
        "smsverify_http_requests_total in /metrics",
    )

"""How a load test's outputs are read: session rows, Locust's CSV, the invariants."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from loadtests import invariants, locustcsv
from loadtests.comparison import Row
from loadtests.outcomes import CUT_OFF, OVERFLOW, frame, summarise
from verifier import ManualClock, Policy, SandboxSender, VerificationError, Verifier
from verifier.stores import open_store


def buyer(arrival, end, outcome, ttv=None, sends=1):
    times = {"arrival_s": arrival, "end_s": end, "ttv_s": ttv}
    counts = {"sends": sends, "checks": 1, "wrong_codes": 0, "codes_expired": 0}
    return {"actor": "buyer", "outcome": outcome, **times, **counts}


def test_both_sides_are_cut_off_alike():
    """A session still running at the cut-off is neither verified nor abandoned."""
    rows = frame(
        [
            buyer(0, 5, "approved", 5),
            buyer(1, 12, "approved", 11),  # approved after the cut-off: the model's reading
            buyer(2, 10, CUT_OFF),  # killed at the cut-off: the load test's reading
            buyer(3, 6, "gave_up", sends=2),
            buyer(4, 4, OVERFLOW, sends=0),
        ]
    )
    kpis = summarise(rows, run_s=10)
    assert kpis["checkouts"] == 4  # overflow never started
    assert (kpis["verified"], kpis["cut_off"], kpis["abandoned"]) == (1, 2, 1)
    assert kpis["conversion"] == pytest.approx(0.25)
    assert kpis["ttv_p50_s"] == 5
    assert kpis["overflow"] == 1
    assert kpis["buyer_sms_sent"] == 5 and kpis["sms_per_verified"] == 3  # (1 + 2) / 1


def test_an_empty_side_has_no_made_up_numbers():
    kpis = summarise(frame([]), run_s=10)
    assert kpis["checkouts"] == 0 and kpis["conversion"] is None and kpis["ttv_p95_s"] is None


def test_rows_flag_differences_over_ten_percent():
    assert Row("k", "k", 111, 100, 100, 90, 120, 0, 1).notable
    assert not Row("k", "k", 109, 100, 100, 90, 120, 0, 1).notable
    assert Row("k", "k", 1, 0, 0, 0, 0, 0, 1).notable  # undefined ratio, different values
    assert not Row("w", "w", 0.004, 0.0, 0, 0, 0, 3, 1, floor=0.05).notable  # under the floor


def test_locust_failures_separate_refusals_from_errors(tmp_path):
    (tmp_path / "locust_failures.csv").write_text(
        textwrap.dedent(
            """\
            Method,Name,Error,Occurrences,First Seen,Last Seen
            POST,POST /v1/verifications/{id}/check,Refused('incorrect_code'),7,a,b
            POST,POST /v1/verifications,Broken('HTTP 500 internal_error'),1,a,b
            GET,GET /inbox/{e164} (gateway),ConnectionRefusedError(111),2,a,b
            """
        )
    )
    found = locustcsv.failures(tmp_path / "locust")
    kinds = {(f.name, f.kind, f.what, f.count) for f in found}
    assert ("POST /v1/verifications/{id}/check", "refused", "incorrect_code", 7) in kinds
    assert ("POST /v1/verifications", "error", "HTTP 500 internal_error", 1) in kinds
    assert ("GET /inbox/{e164} (gateway)", "error", "ConnectionRefusedError(111)", 2) in kinds


def test_poisson_quantile():
    assert invariants.poisson_quantile(0.0) == 0
    assert invariants.poisson_quantile(1e-4) == 0  # P(X = 0) = 0.9999 ≥ 0.999
    assert invariants.poisson_quantile(0.01) == 1  # P(X = 0) = 0.990 < 0.999
    mean, k = 10.0, invariants.poisson_quantile(10.0)
    cdf = sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1))
    below = cdf - math.exp(-mean) * mean**k / math.factorial(k)
    assert cdf >= 0.999 > below


def test_attempts_fail_above_max_attempts():
    policy = Policy.default()
    assert invariants.attempts(Counter({"a": 5, "b": 1}), policy, "t").passed
    assert not invariants.attempts(Counter({"a": 6}), policy, "t").passed


def test_server_errors_read_route_templates_with_braces():
    text = textwrap.dedent(
        """\
        # TYPE smsverify_http_requests_total counter
        smsverify_http_requests_total{method="POST",route="/v1/verifications/{verification_id}/check",status="200"} 5.0
        smsverify_http_requests_total{method="POST",route="/v1/verifications",status="500"} 1.0
        """  # noqa: E501
    )
    found = invariants.server_errors(text)
    assert found.passed is False and found.numbers == "1 of 6 requests"


def test_store_invariants_count_the_engines_events(tmp_path):
    """One buyer, one brute-forced verification locked out: every invariant holds."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store, clock = open_store(url), ManualClock()
    sandbox = SandboxSender(store=store, clock=clock)
    # the per-number failure cap is off: this counts one verification's attempts
    policy = Policy.default().replace(**{"limits.failures_per_number_per_hour": 0})
    v = Verifier(policy, store, sandbox, clock)
    ver = v.start("+819012345678", None, "b1-0")
    clock.advance(5)
    v.check(ver.id, sandbox.messages(to=ver.phone)[-1].code)
    brute = v.start("+819012345679", None, "f1-0-1")
    clock.advance(5)
    wrong = "000000" if sandbox.messages(to=brute.phone)[-1].code != "000000" else "111111"
    for _ in range(policy.check.max_attempts + 2):
        with pytest.raises(VerificationError):
            v.check(brute.id, wrong)
    store.close()
    found = invariants.from_store(url, policy, brute_prefix="f1-", clock=clock)
    assert [i.passed for i in found] == [True, True, True]
    assert "most wrong codes in one verification: 5" in found[0].numbers
    assert "0 approvals from 5 guesses over 1 verifications" in found[1].numbers
    assert "2 sends to 2 numbers, 0 of them refused" in found[2].numbers


def test_the_runner_side_never_imports_locust_or_gevent():
    """Locust monkey-patches the standard library: only its own processes may load it."""
    code = (
        "import sys, loadtests.runner, loadtests.report, loadtests.transform, "
        "loadtests.comparison, loadtests.cli, loadtests.gateway, loadtests.capacity, "
        "loadtests.capacity_run, loadtests.capacity_report; "
        "bad = sorted(m for m in ('locust', 'gevent') if m in sys.modules); "
        "sys.exit(', '.join(bad) or None)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

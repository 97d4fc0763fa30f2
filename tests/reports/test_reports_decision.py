"""The decision rule's closed forms, the Pareto filter and the Erlang C sizing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reports.capacity import channels_needed, erlang_c, wait_quantile
from reports.decision import (
    Weights,
    constraint_failures,
    derive,
    front_2d,
    guess_bound,
    pareto_mask,
    recommend,
)
from verifier.policy import Policy


def test_default_guessing_bound_is_the_number_failure_cap_over_the_code_space():
    """docs/policy.md: 4 wrong codes per number per hour = 96 guesses per number per day."""
    assert guess_bound(Policy.default()) == pytest.approx(96 / 10**6)


def test_bound_follows_the_tightest_limit_and_is_one_without_any():
    p = Policy.default().replace(**{"limits.failures_per_number_per_hour": 0})
    # 5 SMS per 15 min = 480 verifications a day, 5 attempts each
    assert guess_bound(p) == pytest.approx(480 * 5 / 10**6)
    assert guess_bound(p.replace(**{"check.previous_codes_valid": True})) == pytest.approx(
        5 * 480 * 5 / 10**6
    )
    daily = p.replace(**{"limits.per_number_per_day": 10})
    assert guess_bound(daily) == pytest.approx(50 / 10**6)
    assert guess_bound(p.replace(**{"limits.per_number_per_15min": 0})) == 1.0
    assert guess_bound(p.replace(**{"code.length": 4, "check.max_attempts": 1000})) == 1.0


def test_hard_constraints():
    w = Weights()
    assert constraint_failures(Policy.default(), w) == []
    assert constraint_failures(Policy.default().replace(**{"code.ttl_s": 900}), w)
    assert constraint_failures(Policy.default().replace(**{"code.length": 4}), w)
    uncapped = Policy.default().replace(**{"limits.failures_per_number_per_hour": 0})
    assert constraint_failures(uncapped, w)  # 480 verifications x 5 guesses a day
    assert constraint_failures(
        Policy.default().replace(**{"limits.failures_per_number_per_hour": 5}), w
    )
    assert not constraint_failures(Policy.default().replace(**{"check.max_attempts": 20}), w)


def test_expected_cost_adds_sms_lost_orders_and_guessing():
    metrics = {
        "checkouts": 1000,
        "verified": 900,
        "sms_sent": 1500,
        "buyer_sms_sent": 1200,
        "pumping_sms_sent": 300,
        "bruteforce_verifications": 0,
    }
    w = Weights(order_value=10, fraud_loss_per_success=1000, attacked_per_1k=2)
    out = derive(metrics, Policy.default(), 0.05, w)
    assert out["lost_orders"] == 100
    assert out["fraud_sms"] == 300
    assert out["guessing_loss"] == pytest.approx(96e-6 * 2 * 1000)
    assert out["expected_cost"] == pytest.approx(1500 * 0.05 + 100 * 10 + 0.192)


def test_pareto_keeps_exactly_the_undominated_rows():
    frame = pd.DataFrame(
        {
            "conversion": [0.9, 0.95, 0.95, 0.8],
            "ttv_p95_s": [60, 60, 50, 60],
            "legit_lockouts": [1, 1, 1, 1],
            "guess_bound": [1e-5, 1e-5, 1e-5, 1e-5],
            "fraud_sms": [0, 0, 0, 0],
            "sms_cost": [10, 12, 12, 5],
        }
    )
    assert pareto_mask(frame).tolist() == [True, False, True, True]


def test_front_2d_orders_by_cost_with_rising_success():
    x = np.array([1.0, 2.0, 3.0, 2.5])
    y = np.array([0.5, 0.9, 0.95, 0.8])
    assert front_2d(x, y).tolist() == [0, 1, 2]


def test_recommend_takes_the_cheapest_feasible_and_refuses_when_none_is():
    totals = pd.DataFrame(
        {
            "point": ["a", "b", "c"],
            "expected_cost": [1.0, 2.0, 3.0],
            "guess_bound": [1e-3, 1e-5, 1e-5],
            "feasible": [False, True, True],
        }
    )
    assert recommend(totals)["point"] == "b"
    with pytest.raises(ValueError, match="hard constraints"):
        recommend(totals.assign(feasible=False))


def test_erlang_c_matches_the_worked_check():
    """parameters.md: M/M/10, lambda = 9, mu = 1 gives Wq = 0.669 by Erlang C."""
    c = erlang_c(10, 9.0)
    assert c / (10 * 1.0 - 9.0) == pytest.approx(0.669, abs=5e-4)
    assert erlang_c(10, 10.0) == 1.0


def test_channels_needed_is_the_fewest_meeting_the_p99_target():
    rate, service, ttl = 20.0, 5.7, 60.0
    c = channels_needed(rate, service, ttl)
    assert wait_quantile(c, rate, service) <= ttl
    assert wait_quantile(c - 1, rate, service) > ttl
    assert math.isinf(wait_quantile(100, rate, service))  # a = 114 > 100: overloaded
    assert channels_needed(0.0, service, ttl) == 1


def test_thinning_keeps_the_offered_load_per_channel():
    """--scale rounds channels and moves rates with them, so a drop stays overloaded."""
    from reports.plan import effective_scale, scaled
    from simulation.scenario import load

    written = load("ticket-drop")
    thin = scaled(written, 0.25)
    assert thin.gateway.channels == round(written.gateway.channels * 0.25)
    per_channel = written.arrivals.rate_per_s / written.gateway.channels
    assert thin.arrivals.rate_per_s / thin.gateway.channels == pytest.approx(per_channel)
    assert effective_scale(written, 0.25) == thin.gateway.channels / written.gateway.channels
    assert scaled(written, 1.0) == written

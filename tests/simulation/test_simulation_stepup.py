"""Payments in the model: step-up by payment risk against stolen-card fraud.

Checked against closed forms in the degenerate scenarios the seed's question has at its
ends: every payment stepped up (no fraud passes, no buyer is spared a code) and none
stepped up (every fraud passes, each costing its amount plus the chargeback fee).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulation.run import run_replication
from simulation.scenario import Scenario
from verifier import Policy
from verifier.errors import ConfigError

RATE, SHARE, DURATION = 2.0, 0.25, 1800.0
AMOUNT, FEE = 7000.0, 3000.0
BASE = {"name": "pay", "duration_s": DURATION, "arrivals": {"rate_per_s": RATE}}
PAYMENTS = {
    "amount": {"median": AMOUNT, "p99": AMOUNT},
    "returning_share": 1.0,
    "new_device_share": 0.0,
    "new_address_share": 0.0,
    "new_payment_method_share": 0.0,
    "fraud_share": SHARE,
    "fraud_amount": {"median": AMOUNT, "p99": AMOUNT},
    "fraud_new_device_share": 0.0,
    "fraud_new_address_share": 0.0,
    "fraud_new_payment_method_share": 0.0,
    "chargeback_fee": FEE,
}
EVERYONE_FREE = Policy.default().replace(
    **{"stepup.free_below_jpy": 1e12, "stepup.min_account_age_days": 0}
)


def _poisson_close(n: int, mean: float) -> bool:
    return abs(n - mean) <= 4 * math.sqrt(mean)


def test_with_every_payment_stepped_up_no_fraud_passes():
    scenario = Scenario.from_dict({**BASE, "payments": PAYMENTS})
    policy = Policy.default().replace(**{"stepup.enabled": False})
    m = run_replication(scenario, policy).metrics
    assert _poisson_close(m["fraud_payments"], RATE * SHARE * DURATION)
    assert m["fraud_payments_passed"] == 0 and m["fraud_loss"] == 0
    assert m["codes_skipped"] == 0


def test_with_no_payment_stepped_up_all_fraud_passes_at_its_closed_form_cost():
    scenario = Scenario.from_dict({**BASE, "payments": PAYMENTS})
    rep = run_replication(scenario, EVERYONE_FREE)
    m = rep.metrics
    n = m["fraud_payments"]
    assert _poisson_close(n, RATE * SHARE * DURATION)
    assert m["fraud_payments_passed"] == n
    assert m["fraud_loss"] == pytest.approx(n * (AMOUNT + FEE))
    # Every genuine buyer is spared the code: no buyer SMS, everyone approved at once.
    assert m["codes_skipped"] == m["checkouts"] == m["verified"]
    assert m["buyer_sms_sent"] == 0
    fraud = rep.verifications[rep.verifications["actor"] == "cardfraud"]
    assert len(fraud) == n and set(fraud["outcome"]) == {"passed"}


def test_a_code_stops_fraud_and_the_default_policy_sorts_payments_by_risk():
    risky = {**PAYMENTS, "fraud_new_device_share": 1.0, "returning_share": 0.5}
    scenario = Scenario.from_dict({**BASE, "payments": risky})
    rep = run_replication(scenario, Policy.default())
    m = rep.metrics
    assert m["fraud_payments"] > 0 and m["fraud_payments_passed"] == 0
    fraud = rep.verifications[rep.verifications["actor"] == "cardfraud"]
    assert set(fraud["outcome"]) == {"stopped_by_code"}
    # Returning buyers with nothing new, ¥7,000 and an account a year old or more pass
    # without a code; new accounts don't. Ages are lognormal (median 700, p99 5000 days).
    sigma = math.log(5000 / 700) / 2.3263478740408408
    old = 0.5 * math.erfc(math.log(365 / 700) / sigma / math.sqrt(2))
    expected = 0.5 * old
    share = m["codes_skipped"] / m["checkouts"]
    assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / m["checkouts"])


def test_a_payments_table_with_step_up_off_changes_nothing_else():
    plain = run_replication(Scenario.from_dict(BASE), Policy.default())
    quiet = {**PAYMENTS, "fraud_share": 0.0}
    paying = run_replication(
        Scenario.from_dict({**BASE, "payments": quiet}),
        Policy.default().replace(**{"stepup.enabled": False}),
    )
    pd.testing.assert_frame_equal(plain.verifications, paying.verifications)


@pytest.mark.parametrize(
    ("payments", "key"),
    [
        ({"tip": 1}, "payments.tip"),
        ({"fraud_share": -1}, "payments.fraud_share"),
        ({"new_device_share": 2}, "payments.new_device_share"),
        ({"amount": {"median": 10}}, "payments.amount"),
        ({"amount": {"median": 10, "p99": 5}}, "payments.amount.p99"),
        ({"currency": "yen!"}, "payments.currency"),
        ("lots", "payments"),
    ],
)
def test_a_bad_payments_table_names_its_key(payments, key):
    with pytest.raises(ConfigError) as err:
        Scenario.from_dict({**BASE, "payments": payments})
    assert err.value.key == key


def test_the_table_round_trips_and_can_be_set_key_by_key():
    scenario = Scenario.from_dict(BASE).replace(**{"payments.fraud_share": 0.1})
    assert scenario.payments is not None and scenario.payments.fraud_share == 0.1
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    assert "payments" not in Scenario.from_dict(BASE).to_dict()


def test_the_sampled_card_fraud_loss_matches_its_closed_form_expectation():
    """Partly risky fraud (spread amounts and ages, some novelty) at a threshold that
    lets about a third through: the model's loss over ~7,200 payments is within four
    standard errors of ``expected_loss`` times the payments, which the report uses (16 %
    of it: leaving out the chargeback fee, 25 %, would fail)."""
    from simulation.cardfraud import expected_loss

    payments = {
        **PAYMENTS,
        "fraud_amount": {"median": 8000.0, "p99": 80000.0},
        "account_age_days": {"median": 400.0, "p99": 3000.0},
        "fraud_new_device_share": 0.3,
        "fraud_new_address_share": 0.1,
        "fraud_share": 1.0,
    }
    scenario = Scenario.from_dict({**BASE, "duration_s": 2 * DURATION, "payments": payments})
    policy = Policy.default().replace(**{"stepup.free_below_jpy": 20000.0})
    m = run_replication(scenario, policy).metrics
    n = m["fraud_payments"]
    per_payment = expected_loss(scenario.payments, policy.stepup)
    share = m["fraud_payments_passed"] / n
    assert 0.2 < share < 0.5  # the case is not degenerate
    assert m["fraud_loss_expected"] == pytest.approx(n * per_payment)
    # A payment's loss is 0, or at most 20,000 + fee with probability p: the sum's
    # standard deviation is below sqrt(n p) times that.
    bound = 4 * math.sqrt(n * share) * (20000.0 + FEE)
    assert bound < 0.2 * n * per_payment
    assert abs(m["fraud_loss"] - n * per_payment) < bound
    # And the closed form's ends: step-up off, nothing passes; everything free, all pass.
    off = Policy.default().replace(**{"stepup.enabled": False})
    assert expected_loss(scenario.payments, off.stepup) == 0.0
    flat = Scenario.from_dict({**BASE, "payments": PAYMENTS}).payments
    assert expected_loss(flat, EVERYONE_FREE.stepup) == pytest.approx(AMOUNT + FEE)

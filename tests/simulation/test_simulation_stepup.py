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

"""The step-up stage and the voice and TTL-from studies of a tuning run.

Read from the shared tiny run (``conftest.py``: its steady scenario has payments), plus
unit tests of the stage's rules and of the stolen-card part of the expected cost.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reports import stepup
from reports.decision import Weights, derive
from simulation.scenario import Scenario
from verifier import Policy
from verifier.errors import ConfigError


def _stage(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["study"] == "stepup"]


def test_the_stage_runs_every_point_on_the_payment_scenario_only(tiny_report):
    results = pd.read_csv(tiny_report / "results.csv")
    stage = _stage(results)
    assert set(stage["scenario"]) == {"steady", "all"}
    assert len(stage[stage["scenario"] == "all"]) == len(stepup.thresholds()) == 9
    main = results[(results["study"] == "main") & (results["scenario"] == "all")]
    base = json.loads(main[main["recommended"]].iloc[0]["overrides"])
    for text in stage["overrides"]:
        point = json.loads(text)
        assert {k: v for k, v in point.items() if not k.startswith("stepup.")} == base


def test_points_are_compared_with_sms_for_everyone_and_the_cheapest_is_picked(tiny_report):
    totals = _stage(pd.read_csv(tiny_report / "results.csv"))
    totals = totals[totals["scenario"] == "all"]
    everyone = totals[~totals["stepup.enabled"].astype(bool)]
    assert len(everyone) == 1
    assert everyone.iloc[0]["delta_cost_per_1k"] == 0
    assert everyone.iloc[0]["codes_skipped"] == 0
    assert everyone.iloc[0]["payment_fraud_loss"] == 0
    assert totals["recommended"].sum() == 1
    best = totals[totals["recommended"]].iloc[0]
    assert best["expected_cost"] == totals["expected_cost"].min()
    # Sparing codes is the trade: the most generous point spares the most and expects
    # the most stolen-card loss; SMS for everyone spares none.
    generous = totals[totals["stepup.free_below_jpy"] == max(stepup.FREE_BELOW_JPY)]
    generous = generous[generous["stepup.min_account_age_days"] == min(stepup.MIN_AGE_DAYS)]
    g = generous.iloc[0]
    assert g["codes_skipped_per_1k"] == totals["codes_skipped_per_1k"].max() > 0
    assert g["payment_fraud_loss_per_1k"] == totals["payment_fraud_loss_per_1k"].max() > 0
    assert g["delta_sms_per_1k"] < 0


def test_the_report_shows_the_stage_its_plot_and_the_shipped_thresholds(tiny_report):
    md = (tiny_report / "report.md").read_text("utf-8")
    html = (tiny_report / "index.html").read_text("utf-8")
    assert "## Step-up at payment" in md and 'id="stepup"' in html
    assert (tiny_report / "plots" / "fraud-vs-friction.png").stat().st_size > 10_000
    assert "plots/fraud-vs-friction.png" in md
    totals = _stage(pd.read_csv(tiny_report / "results.csv"))
    best = totals[(totals["scenario"] == "all") & totals["recommended"]].iloc[0]
    shipped = Policy.from_toml(tiny_report / "recommended-policy.toml")
    assert shipped.stepup.enabled == bool(best["stepup.enabled"])
    if shipped.stepup.enabled:
        assert shipped.stepup.free_below_jpy == best["stepup.free_below_jpy"]
        assert shipped.stepup.min_account_age_days == best["stepup.min_account_age_days"]
        assert "Step-up at payment, against asking every payment for a code" in md
        assert stepup.describe(best) in md


def test_the_voice_and_ttl_from_studies_are_run_and_told(tiny_report):
    results = pd.read_csv(tiny_report / "results.csv")
    voice = results[results["study"] == "voice"]
    assert sorted(voice["voice.enabled"].astype(bool)) == [False, True]
    assert voice[~voice["voice.enabled"].astype(bool)]["voice_calls"].max() == 0
    ttl = results[results["study"] == "ttl_from"]
    assert set(ttl["code.ttl_from"]) == {"send", "delivery"}
    ttls = sorted(set(ttl["code.ttl_s"]))
    assert len(ttls) == 2 and 120.0 in ttls  # a short TTL and today's
    for (_scenario, at), group in ttl.groupby(["scenario", "code.ttl_s"]):
        send = group[group["code.ttl_from"] == "send"].iloc[0]
        delivery = group[group["code.ttl_from"] == "delivery"].iloc[0]
        assert send["code_life_mean_s"] == at
        assert at < delivery["code_life_mean_s"] <= delivery["code.max_life_s"]
        # paired with hand-off at the same TTL: the variant against itself would be zero
        assert pd.isna(send["delta_pairs"]) or send["delta_expired_per_1k"] == 0
        assert delivery["delta_pairs"] >= 1
    md = (tiny_report / "report.md").read_text("utf-8")
    assert "Voice calls for phones that reject SMS (steady)" in md
    assert "In ticket-drop at a 120 s TTL" in md
    assert "starting the TTL at delivery rather than at hand-off" in md
    calls_off = md[md.index("turning calls off ") :].split("\n", 1)[0]
    assert "orders per 1,000 checkouts" in calls_off and "paired" in calls_off


def _scenario(payments: bool) -> Scenario:
    data = {"name": "s", "duration_s": 60, "arrivals": {"rate_per_s": 1.0}}
    return Scenario.from_dict({**data, "payments": {}} if payments else data)


def test_the_stage_needs_a_payment_scenario_and_a_grid_that_leaves_step_up_alone():
    assert stepup.applies([_scenario(False), _scenario(True)], {"code.ttl_s": [300.0]})
    assert not stepup.applies([_scenario(False)], {})
    assert not stepup.applies([_scenario(True)], {"stepup.free_below_jpy": [5000.0]})
    assert stepup.items([_scenario(False)], {}, 2) == []


METRICS = {"checkouts": 1000, "verified": 990, "sms_sent": 1000, "buyer_sms_sent": 1000}


def test_the_expected_card_loss_is_costed_in_the_report_money():
    policy = Policy.default()
    weights = Weights(jpy_per_unit=150.0)
    plain = derive(METRICS, policy, 0.05, weights, "JPY")
    with_fraud = derive(
        {**METRICS, "fraud_loss": 0.0, "fraud_loss_expected": 30000.0, "voice_cost": 2.0},
        policy,
        0.05,
        weights,
        "JPY",
    )
    assert with_fraud["payment_fraud_loss"] == pytest.approx(200.0)  # 30,000 yen / 150
    assert with_fraud["expected_cost"] == pytest.approx(plain["expected_cost"] + 202.0)
    assert with_fraud["fraud_cost"] == pytest.approx(plain["fraud_cost"] + 200.0)
    # Without the closed form the sampled loss counts.
    sampled = derive({**METRICS, "fraud_loss": 1500.0}, policy, 0.05, weights, "JPY")
    assert sampled["payment_fraud_loss"] == pytest.approx(10.0)


def test_a_payment_currency_without_a_rate_stops_the_run_naming_the_key():
    with pytest.raises(ConfigError, match=r"stepup\.jpy_per_unit"):
        derive({**METRICS, "fraud_loss_expected": 100.0}, Policy.default(), 0.05, Weights(), "EUR")
    usd = Policy.default().replace(**{"stepup.jpy_per_unit": {"JPY": 1.0, "USD": 150.0}})
    out = derive({**METRICS, "fraud_loss_expected": 3.0}, usd, 0.05, Weights(), "USD")
    assert out["payment_fraud_loss"] == pytest.approx(3.0)  # 3 dollars = 450 yen = 3 units

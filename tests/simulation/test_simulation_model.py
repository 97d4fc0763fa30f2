"""The whole model on the real engine: invariants, determinism, outputs, shipped scenarios."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulation import scenario as scenarios
from simulation.arrivals import arrival_times, expected_count
from simulation.kpis import t975
from simulation.numbers import LANDLINE_TYPES, NumberPlan, find_block
from simulation.run import run_replication, simulate
from simulation.scenario import Scenario
from smsverify.cli import main
from verifier import Policy
from verifier.phone import parse_phone

SHORT = {"name": "short", "duration_s": 900, "arrivals": {"rate_per_s": 1.0}}
CONTRACT_KEYS = {
    "checkouts",
    "verified",
    "conversion",
    "ttv_p50_s",
    "ttv_p95_s",
    "ttv_p99_s",
    "codes_expired",
    "legit_lockouts",
    "abandoned",
    "sms_sent",
    "sms_per_verified",
    "sms_cost",
    "gateway_wait_mean_s",
    "gateway_wait_p99_s",
    "gateway_utilization",
    "bruteforce_attempts",
    "bruteforce_successes",
    "bruteforce_verifications",
    "pumping_sms_sent",
    "pumping_sms_blocked",
    "sim_events",
    "wall_s",
}


def without_wall(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "wall_s"}


def test_no_fraud_means_no_fraud_flags():
    result = simulate(scenarios.load("steady").replace(duration_s=1200))
    m = result.metrics
    assert m["checkouts"] > 2000
    assert m["fraud_flags"] == 0 == m["legit_fraud_flags"]
    assert m["bruteforce_attempts"] == m["pumping_sms_sent"] == 0
    assert result.timeseries()["fraud_flags"].sum() == 0


def test_buyer_accounting_adds_up():
    m = run_replication(Scenario.from_dict(SHORT), Policy.default()).metrics
    assert m["verified"] + m["abandoned"] == m["checkouts"]
    assert m["conversion"] == pytest.approx(m["verified"] / m["checkouts"])
    assert m["ttv_p50_s"] <= m["ttv_p95_s"] <= m["ttv_p99_s"]
    assert m["sms_sent"] == m["buyer_sms_sent"] == m["sms_delivered"] + m["sms_lost"]
    assert m["sms_cost"] == pytest.approx(0.05 * m["sms_sent"])
    assert 0 < m["gateway_utilization"] < 1


def test_same_seed_same_metrics_other_seed_other_metrics():
    s = Scenario.from_dict({**SHORT, "fraud": {"bruteforce_rate_per_s": 0.5}})
    a = run_replication(s, Policy.default())
    b = run_replication(s, Policy.default())
    c = run_replication(s.replace(seed=2), Policy.default())
    assert without_wall(a.metrics) == without_wall(b.metrics)
    assert a.verifications.equals(b.verifications) and a.timeseries.equals(b.timeseries)
    assert without_wall(a.metrics) != without_wall(c.metrics)


def test_metrics_do_not_depend_on_pythonhashseed(tmp_path):
    """Every key but wall_s is a function of scenario, policy, seed and replications."""
    file = tmp_path / "tiny.toml"
    file.write_text(
        'name = "tiny"\nduration_s = 300\n[arrivals]\nrate_per_s = 1\n'
        "[numbers]\nrecycled_share = 0.05\nlandline_typo_share = 0.05\n"
        "[fraud]\nbruteforce_rate_per_s = 0.2\npumping_rate_per_s = 0.2\n"
        "enumeration_rate_per_s = 0.1\nfarming_rate_per_s = 0.05\n"
    )
    outputs = []
    for hash_seed in ("0", "4242"):
        out = tmp_path / f"out-{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        code = "from smsverify.cli import main; raise SystemExit(main())"
        argv = ["simulate", "--scenario", str(file), "--out", str(out), "--replications", "2"]
        subprocess.run(
            [sys.executable, "-c", code, *argv],
            env=env,
            check=True,
            capture_output=True,
            cwd=Path(__file__).parents[2],
        )
        metrics = json.loads((out / "metrics.json").read_text())
        outputs.append((without_wall(metrics), (out / "verifications.csv").read_text()))
    assert outputs[0] == outputs[1]


def test_replications_carry_ci95_and_json_has_no_nan(tmp_path):
    file = tmp_path / "s.toml"
    file.write_text('name = "s"\nduration_s = 300\n[arrivals]\nrate_per_s = 0.5\n')
    out = tmp_path / "o"
    assert (
        main(
            [
                "simulate",
                "--scenario",
                str(file),
                "--out",
                str(out),
                "--replications",
                "3",
                "--seed",
                "5",
            ]
        )
        == 0
    )
    text = (out / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    m = json.loads(text)
    assert set(m) >= CONTRACT_KEYS
    assert (m["seed"], m["replications"]) == (5, 3)
    assert "verified_ci95" in m and "wall_s_ci95" not in m
    assert m["bruteforce_successes_ci95"] == 0.0
    assert m["sms_per_verified"] is not None
    assert {"replication", "actor", "outcome"} <= set(
        (out / "verifications.csv").read_text().splitlines()[0].split(",")
    )
    series = (out / "timeseries.csv").read_text().splitlines()
    assert series[0].startswith("replication,minute,arrivals,sms_sent")
    # One replication: no _ci95 keys; undefined values are null.
    empty = tmp_path / "e.toml"
    empty.write_text('name = "e"\nduration_s = 60\n[arrivals]\nrate_per_s = 0\n')
    assert main(["simulate", "--scenario", str(empty), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert not any(k.endswith("_ci95") for k in m)
    assert m["checkouts"] == 0 and m["conversion"] is None and m["ttv_p50_s"] is None


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.7062, abs=1e-3)
    assert t975(2) == pytest.approx(4.3027, abs=1e-3)
    assert t975(9) == pytest.approx(2.2622, abs=1e-3)
    assert t975(30) == pytest.approx(2.0423, abs=1e-3)
    assert t975(1000) == pytest.approx(1.9623, abs=1e-3)


def test_arrivals_follow_the_profile():
    """Thinning: counts per profile step are Poisson with mean rate × multiplier × length."""
    profile = ((0.0, 1.0), (1000.0, 8.0), (1500.0, 0.0), (2000.0, 2.0))
    times = arrival_times(np.random.default_rng(3), 3000.0, 4.0, profile)
    assert np.all(np.diff(times) >= 0) and times.min() >= 0 and times.max() < 3000
    for (start, m), end in zip(profile, [1000, 1500, 2000, 3000], strict=True):
        count = ((times >= start) & (times < end)).sum()
        mean = 4.0 * m * (end - start)
        assert abs(count - mean) <= 4 * math.sqrt(max(mean, 1))
    assert expected_count(3000.0, 4.0, profile) == 4.0 * (1000 + 500 * 8 + 1000 * 2)


@pytest.mark.parametrize("region", ["JP", "US", "GB", "DE", "IN", "BR", "NG"])
def test_numbers_are_distinct_valid_mobiles_drawn_at_random(region):
    plan = NumberPlan((region,), np.random.default_rng(1))
    _, numbers = plan.buyers(500)
    assert len(set(numbers)) == 500
    assert numbers != sorted(numbers)  # not sequential
    for number in numbers[:200] + [plan.fresh("bruteforce", region) for _ in range(20)]:
        assert parse_phone(number, region).type in ("MOBILE", "FIXED_LINE_OR_MOBILE")
    if find_block(region, LANDLINE_TYPES) is not None:  # the US has no landline-only numbers
        assert parse_phone(plan.landline(region), region).type in ("FIXED_LINE", "VOIP")


def test_recycled_numbers_and_landline_typos_meet_the_engine():
    s = Scenario.from_dict(
        {**SHORT, "numbers": {"recycled_share": 0.1, "landline_typo_share": 0.1}}
    )
    r = run_replication(s, Policy.default())
    buyers = r.verifications[r.verifications["actor"] == "buyer"]
    recycled = buyers[buyers["recycled"]]
    assert len(recycled) > 30
    assert (recycled["outcome"] == "phone_number_already_registered").all()
    typos = buyers[buyers["landline_typo"] & ~buyers["recycled"]]
    assert len(typos) > 30 and (typos["outcome"] == "approved").mean() > 0.9
    assert r.metrics["registered_refusals"] == len(recycled)


def test_phones_that_reject_sms_never_verify_and_use_up_their_sends():
    s = Scenario.from_dict({**SHORT, "users": {"blocks_sms_share": 1.0}})
    r = run_replication(s, Policy.default())
    m = r.metrics
    assert m["verified"] == 0 and m["checkouts"] > 0
    buyers = r.verifications
    assert (buyers["sms_received"] == 0).all()
    assert buyers["sends"].max() == Policy.default().send.max_sends


def test_enumerator_learns_registration_only_when_the_policy_reveals_it():
    s = Scenario.from_dict(
        {**SHORT, "numbers": {"recycled_share": 0.05}, "fraud": {"enumeration_rate_per_s": 0.5}}
    )
    revealing = run_replication(s, Policy.default()).metrics
    assert revealing["enumeration_revealed"] == revealing["enumeration_registered_probes"] > 10
    quiet = Policy.default().replace(**{"numbers.reveal_registered": "after_verification"})
    hidden = run_replication(s, quiet).metrics
    assert hidden["enumeration_registered_probes"] > 10 and hidden["enumeration_revealed"] == 0


def test_pumping_detector_blocks_consecutive_numbers():
    s = Scenario.from_dict({**SHORT, "fraud": {"pumping_rate_per_s": 2.0}})
    open_door = run_replication(s, Policy.default()).metrics
    assert open_door["pumping_sms_sent"] > 1000 and open_door["pumping_sms_blocked"] == 0
    guarded = Policy.default().replace(**{"fraud.sequential_starts": 5})
    m = run_replication(s, guarded).metrics
    # Only starts near open ones are refused, so some pass as the numbers move on.
    assert (
        m["pumping_sms_blocked"] > 0 and m["pumping_sms_sent"] < 0.5 * open_door["pumping_sms_sent"]
    )
    assert m["fraud_flags"] >= m["pumping_sms_blocked"]


@pytest.mark.parametrize("name", scenarios.shipped())
def test_every_shipped_scenario_runs_briefly(name):
    s = scenarios.load(name)
    short = s.replace(duration_s=min(s.duration_s, 240.0))
    m = simulate(short).metrics
    assert m["checkouts"] > 0 and m["sim_events"] > 0
    assert set(m) >= CONTRACT_KEYS


def test_the_docs_python_example_runs():
    """docs/simulation.md's Python example is executed as written."""
    text = (Path(__file__).parents[2] / "docs" / "simulation.md").read_text("utf-8")
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(snippet, "docs/simulation.md", "exec"), scope)
    assert scope["result"].metrics["replications"] == 2
    assert scope["rep"].index == 3

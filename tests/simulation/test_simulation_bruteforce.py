"""Brute force against the real engine, checked against the analytical bound.

A blind attacker who may make A wrong guesses per verification of a code drawn uniformly
from N = 10**length values succeeds with probability at most A / N per verification
(exactly A / N when the guesses are distinct, as the model's are). With a 4-digit code
the simulated success rate must not exceed that bound beyond chance and must match it
within its 95 % confidence interval.
"""

from __future__ import annotations

import math

import pytest

from simulation.run import run_replication
from simulation.scenario import Scenario
from verifier import Policy

ATTEMPTS = 100
LENGTH = 4


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95 % interval of a binomial proportion."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return centre - half / (1 + z * z / trials), centre + half / (1 + z * z / trials)


@pytest.fixture(scope="module")
def attack():
    policy = Policy.default().replace(
        **{
            "code.length": LENGTH,
            "code.ttl_s": 86400,  # only the attempt limit may stop the attacker
            "check.max_attempts": ATTEMPTS,
            "fraud.min_check_delay_s": 0,
            # the cross-verification failure limits would slow it: this tests one verification
            "limits.failures_per_account_per_hour": 0,
            "limits.failures_per_number_per_hour": 0,
        }
    )
    scenario = Scenario.from_dict(
        {
            "name": "bruteforce-bound",
            "duration_s": 3000,
            "seed": 11,
            "arrivals": {"rate_per_s": 0},
            "gateway": {"channels": 10**9, "service_time": {"dist": "fixed", "value_s": 1}},
            "fraud": {"bruteforce_rate_per_s": 100},
        }
    )
    result = run_replication(scenario, policy)
    frame = result.verifications
    return result.metrics, frame[frame["actor"] == "bruteforce"]


def test_success_rate_matches_the_bound_within_its_ci(attack):
    metrics, rows = attack
    finished = rows[rows["outcome"] != "stopped"]  # the last one was cut by the horizon
    trials = len(finished)
    successes = int((finished["outcome"] == "approved").sum())
    bound = ATTEMPTS / 10**LENGTH
    low, high = wilson(successes, trials)
    print(
        f"brute force: {successes}/{trials} = {successes / trials:.5f}, "
        f"95 % CI [{low:.5f}, {high:.5f}], bound A/N = {bound:.5f}"
    )
    assert low <= bound <= high
    assert metrics["bruteforce_successes"] == successes
    assert metrics["bruteforce_attempts"] == int(rows["checks"].sum())


def test_no_verification_yields_more_guesses_than_the_policy_allows(attack):
    _, rows = attack
    assert rows["wrong_codes"].max() <= ATTEMPTS
    assert set(rows["outcome"]) <= {"approved", "locked_out", "stopped"}
    locked = rows[rows["outcome"] == "locked_out"]
    assert (locked["wrong_codes"] == ATTEMPTS).all()
    approved = rows[rows["outcome"] == "approved"]
    assert (approved["checks"] <= ATTEMPTS).all()

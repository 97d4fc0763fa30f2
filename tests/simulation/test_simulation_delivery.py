"""TTL from delivery in the model: a gateway slower than the code's TTL, at both settings.

Degenerate on purpose: every message takes a fixed 15 s and the code lives 10 s. Timed
from hand-off, every code reaches its phone already expired, so nobody gets through;
timed from delivery (within a 60 s hard maximum), every code has its full 10 s."""

from __future__ import annotations

from simulation.run import run_replication
from simulation.scenario import Scenario
from verifier import Policy

SLOW = {
    "name": "slow-gateway",
    "duration_s": 600,
    "arrivals": {"rate_per_s": 0.2},
    "gateway": {"channels": 1000, "service_time": {"dist": "fixed", "value_s": 15.0}},
    "users": {
        "read_type_s": {"dist": "fixed", "value_s": 4.0},
        "typo_rate": 0.0,
        "resend_after_s": 30,
    },
}
BASE = Policy.default().replace(**{"code.ttl_s": 10, "fraud.min_check_delay_s": 0})


def test_timed_from_hand_off_every_code_arrives_expired():
    m = run_replication(Scenario.from_dict(SLOW), BASE).metrics
    assert m["checkouts"] > 50
    assert m["verified"] == 0 and m["codes_expired"] > 0


def test_timed_from_delivery_every_code_gets_its_full_ttl():
    policy = BASE.replace(**{"code.ttl_from": "delivery", "code.max_life_s": 60})
    m = run_replication(Scenario.from_dict(SLOW), policy).metrics
    assert m["verified"] == m["checkouts"] and m["codes_expired"] == 0
    # 15 s on the way, 4 s to read and type: the same time to verify for everyone.
    assert m["ttv_p50_s"] == m["ttv_p99_s"] == 19.0

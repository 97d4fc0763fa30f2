"""The voice fallback in the model: buyers whose phones reject SMS ask for a call after
reading the help; what the calls recover, checked at the ends where the answer is known."""

from __future__ import annotations

from simulation.run import run_replication
from simulation.scenario import Scenario
from verifier import Policy

HELP_S = 90.0
BASE = {
    "name": "voice",
    "duration_s": 900,
    "arrivals": {"rate_per_s": 0.5},
    "users": {"blocks_sms_share": 1.0, "help_delay_s": HELP_S, "give_up_after_s": 600},
    "voice": {"unanswered_rate": 0.0, "service_time": {"dist": "fixed", "value_s": 10.0}},
}
POLICY = Policy.default().replace(**{"fraud.min_check_delay_s": 0})


def _run(**users):
    data = {**BASE, "users": {**BASE["users"], **users}}
    return run_replication(Scenario.from_dict(data), POLICY)


def test_without_calls_no_buyer_whose_phone_rejects_sms_gets_through():
    m = _run(call_after_help_share=0.0).metrics
    assert m["checkouts"] > 0 and m["verified"] == 0
    assert m["voice_calls"] == 0 and m["buyers_asking_for_a_call"] == 0


def test_with_calls_every_such_buyer_is_recovered_by_a_call_after_the_help():
    rep = _run(call_after_help_share=1.0)
    m = rep.metrics
    assert m["buyers_asking_for_a_call"] == m["checkouts"]
    # Answered calls and patient buyers: everyone gets through, each by a call.
    assert m["approved_by_call"] == m["verified"]
    assert m["verified"] >= 0.97 * m["checkouts"]  # a few mistype until locked out
    assert m["voice_calls"] == m["buyer_calls"] >= m["verified"]
    assert m["voice_cost"] == m["voice_calls"] * 0.07
    buyers = rep.verifications[rep.verifications["actor"] == "buyer"]
    approved = buyers[buyers["outcome"] == "approved"]
    assert (approved["ttv_s"] >= HELP_S + 10.0).all()  # the help, then a 10 s call


def test_unanswered_calls_recover_nobody_and_stop_at_the_call_cap():
    data = {**BASE, "users": {**BASE["users"], "call_after_help_share": 1.0}}
    data["voice"] = {**BASE["voice"], "unanswered_rate": 1.0}
    m = run_replication(Scenario.from_dict(data), POLICY).metrics
    assert m["verified"] == 0 and m["approved_by_call"] == 0
    assert m["voice_calls_answered"] == 0
    assert m["buyer_calls"] <= POLICY.voice.max_calls * m["checkouts"]

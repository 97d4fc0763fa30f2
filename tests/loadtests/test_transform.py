"""Compression and rate scaling: the arithmetic that fits an hour into a short load test."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtests.transform import (
    DRAIN_PART,
    PEAK_BUYERS_PER_S,
    Transform,
    choose,
    parse_duration,
    peak_rate,
)
from simulation.arrivals import expected_count
from simulation.scenario import load
from verifier.errors import ConfigError


def scenario(**changes):
    return load("ticket-drop").replace(**changes)


def test_compress_squeezes_time_and_raises_rates():
    s = scenario(**{"gateway.busy": {"every_s": 900, "length_s": 120, "slowdown": 5.0}})
    played = Transform(compress=90, rate_scale=1 / 90, run_s=60).apply(s)
    assert played.duration_s == pytest.approx(40)
    assert [start for start, _ in played.arrivals.profile] == pytest.approx(
        [0, 600 / 90, 10, 1500 / 90]
    )
    assert [m for _, m in played.arrivals.profile] == [m for _, m in s.arrivals.profile]
    assert played.arrivals.rate_per_s == pytest.approx(s.arrivals.rate_per_s)  # X·Y = 1
    busy = played.gateway.busy
    assert (busy.every_s, busy.length_s, busy.slowdown) == pytest.approx((10, 120 / 90, 5.0))


def test_real_timings_stay_real():
    """Buyers, the gateway's service and the policy keep wall-clock seconds."""
    s = scenario()
    played = Transform(compress=50, rate_scale=0.1, run_s=120).apply(s)
    assert played.users == s.users
    assert played.gateway.service_time == s.gateway.service_time
    assert played.gateway.channels == s.gateway.channels


def test_fraud_rates_scale_like_arrivals():
    s = load("bruteforce")
    played = Transform(compress=60, rate_scale=0.05, run_s=90).apply(s)
    assert played.fraud.bruteforce_rate_per_s == pytest.approx(s.fraud.bruteforce_rate_per_s * 3)
    assert played.fraud.enumeration_rate_per_s == pytest.approx(s.fraud.enumeration_rate_per_s * 3)


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(min_value=1.0, max_value=500.0),
    y=st.floats(min_value=0.001, max_value=10.0),
)
def test_the_expected_number_of_buyers_scales_by_y_alone(x, y):
    """Squeezing time X-fold while rates grow X-fold keeps ∫λ; only Y changes the count."""
    s = scenario()
    played = Transform(compress=x, rate_scale=y, run_s=s.duration_s / x).apply(s)
    a, b = s.arrivals, played.arrivals
    original = expected_count(s.duration_s, a.rate_per_s, a.profile)
    assert expected_count(played.duration_s, b.rate_per_s, b.profile) == pytest.approx(
        original * y, rel=1e-9
    )
    assert peak_rate(played) == pytest.approx(peak_rate(s) * x * y)


def test_defaults_fit_the_duration_and_cap_the_peak():
    s = scenario()  # 3600 s, peak 10 x 1/s
    t = choose(s, run_s=60)
    assert t.window_s(s) == pytest.approx(60 - 60 / DRAIN_PART)
    assert t.compress == pytest.approx(3600 / 40)
    assert t.compress * t.rate_scale <= 1 + 1e-12
    assert peak_rate(t.apply(s)) <= PEAK_BUYERS_PER_S + 1e-9
    assert t.compress_default and t.rate_scale_default


def test_a_steep_peak_is_capped_below_x_y_one():
    s = scenario(**{"arrivals.rate_per_s": 20.0})  # peak 200/s, X·Y = 1 would be too much
    t = choose(s, run_s=60)
    assert peak_rate(t.apply(s)) == pytest.approx(PEAK_BUYERS_PER_S)
    assert t.compress * t.rate_scale < 1


def test_given_values_are_kept():
    s = scenario()
    t = choose(s, run_s=120, compress=40, rate_scale=0.5)
    assert (t.compress, t.rate_scale) == (40, 0.5)
    assert not t.compress_default and not t.rate_scale_default
    assert t.drain_s(s) == pytest.approx(120 - 90)


def test_a_compression_too_small_for_the_run_is_refused():
    with pytest.raises(ConfigError, match="compress"):
        choose(scenario(), run_s=60, compress=10)  # 360 s of arrivals in a 60 s run
    with pytest.raises(ConfigError, match="rate-scale"):
        choose(scenario(), run_s=60, rate_scale=0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("60", 60), ("2m", 120), ("1.5min", 90), ("1h", 3600), ("500ms", 0.5), (45, 45)],
)
def test_durations(text, seconds):
    assert math.isclose(parse_duration(text), seconds)


@pytest.mark.parametrize("text", ["", "soon", "-5s", "0s", "2d", "25h"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_the_docs_example_runs():
    """docs/loadtests.md's Python example is executed as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "loadtests.md").read_text("utf-8")
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(snippet, "docs/loadtests.md", "exec"), {})

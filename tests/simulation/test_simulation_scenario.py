"""Scenario files: defaults, the duration grammar, and errors that name the key."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulation import scenario as scenarios
from simulation.durations import Duration
from simulation.scenario import Scenario
from smsverify.cli import main
from verifier.errors import ConfigError

MINIMAL = {"name": "t", "duration_s": 60}


def with_(**tables) -> dict:
    return {**MINIMAL, **tables}


def test_only_name_and_duration_are_required_and_defaults_follow_the_design():
    s = Scenario.from_dict(MINIMAL)
    assert s.seed == 1
    assert (s.arrivals.rate_per_s, s.arrivals.profile) == (1.0, ((0.0, 1.0),))
    g = s.gateway
    assert (g.channels, g.busy, g.loss_rate, g.cost_per_sms) == (20, None, 0.0, 0.05)
    assert g.service_time == Duration.lognormal(2.0, 30.0)
    u = s.users
    assert u.read_type_s == Duration.lognormal(12.0, 60.0)
    assert (u.typo_rate, u.blocks_sms_share, u.resend_after_s, u.give_up_after_s) == (
        0.03,
        0.0,
        45.0,
        600.0,
    )
    assert not s.fraud.any
    assert s.numbers.countries == ("JP",)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"duration_s": 60}, "name"),
        ({"name": "t"}, "duration_s"),
        (with_(colour="red"), "colour"),
        (with_(gateway={"channel": 3}), "gateway.channel"),
        (with_(gateway={"channels": "many"}), "gateway.channels"),
        (with_(gateway={"channels": 2.5}), "gateway.channels"),
        (with_(gateway={"channels": 0}), "gateway.channels"),
        (with_(gateway={"loss_rate": 1.5}), "gateway.loss_rate"),
        (
            with_(gateway={"busy": {"every_s": 10, "length_s": 20, "slowdown": 2}}),
            "gateway.busy.length_s",
        ),
        (
            with_(gateway={"busy": {"every_s": 10, "length_s": 2, "slowdown": 0.5}}),
            "gateway.busy.slowdown",
        ),
        (with_(gateway={"busy": {"every_s": 10, "length_s": 2}}), "gateway.busy.slowdown"),
        (with_(gateway={"service_time": 2.0}), "gateway.service_time"),
        (with_(gateway={"service_time": {"dist": "gamma"}}), "gateway.service_time.dist"),
        (with_(gateway={"service_time": {"dist": "fixed"}}), "gateway.service_time.value_s"),
        (
            with_(gateway={"service_time": {"dist": "fixed", "value_s": 1, "mean_s": 1}}),
            "gateway.service_time.mean_s",
        ),
        (
            with_(gateway={"service_time": {"dist": "exponential", "mean_s": 0}}),
            "gateway.service_time.mean_s",
        ),
        (
            with_(users={"read_type_s": {"dist": "lognormal", "median_s": 10, "p99_s": 5}}),
            "users.read_type_s.p99_s",
        ),
        (with_(users={"typo_rate": -0.1}), "users.typo_rate"),
        (with_(users={"give_up_after_s": True}), "users.give_up_after_s"),
        (with_(arrivals={"rate_per_s": math.inf}), "arrivals.rate_per_s"),
        (with_(arrivals={"profile": [[10, 1]]}), "arrivals.profile[0][0]"),
        (with_(arrivals={"profile": [[0, 1], [0, 2]]}), "arrivals.profile[1][0]"),
        (with_(arrivals={"profile": [[0, -1]]}), "arrivals.profile[0][1]"),
        (with_(arrivals={"profile": [0, 1]}), "arrivals.profile[0]"),
        (with_(numbers={"countries": ["XX"]}), "numbers.countries[0]"),
        (with_(numbers={"countries": []}), "numbers.countries"),
        (with_(fraud={"pumping_rate_per_s": -1}), "fraud.pumping_rate_per_s"),
        (with_(fraud={"bruteforce": 1}), "fraud.bruteforce"),
        ({**MINIMAL, "seed": -1}, "seed"),
        ({**MINIMAL, "duration_s": 0}, "duration_s"),
    ],
)
def test_errors_name_the_key(data, key):
    with pytest.raises(ConfigError) as caught:
        Scenario.from_dict(data)
    assert caught.value.key == key


def test_toml_syntax_errors_are_config_errors():
    with pytest.raises(ConfigError):
        Scenario.from_toml("name = ")


def test_lognormal_is_fitted_to_median_and_p99():
    """μ = ln median, σ = ln(p99/median) / 2.3263 (DESIGN)."""
    draw = Duration.lognormal(2.0, 30.0).block(np.random.default_rng(1))
    values = draw(400_000)
    assert np.median(values) == pytest.approx(2.0, rel=0.02)
    assert np.percentile(values, 99) == pytest.approx(30.0, rel=0.03)
    mean = Duration.lognormal(2.0, 30.0).mean()
    assert values.mean() == pytest.approx(mean, rel=0.03)


def test_round_trip_and_replace():
    s = scenarios.load("gateway-brownout")
    assert Scenario.from_dict(s.to_dict()) == s
    changed = s.replace(**{"gateway.channels": 3, "seed": 9})
    assert (changed.gateway.channels, changed.seed) == (3, 9)
    with pytest.raises(ConfigError) as caught:
        s.replace(**{"gateway.channels": -3})
    assert caught.value.key == "gateway.channels"


def test_every_shipped_scenario_loads():
    names = scenarios.shipped()
    assert {"steady", "ticket-drop", "gateway-brownout", "sms-pumping", "bruteforce"} <= set(names)
    for name in names:
        assert scenarios.load(name).name == name


def test_a_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "steady").write_text('name = "mine"\nduration_s = 5\n')
    assert scenarios.load("steady").name == "mine"
    assert scenarios.load(tmp_path / "steady").name == "mine"


def test_unknown_scenario_name_exits_2_listing_the_shipped_ones(tmp_path, capsys):
    code = main(["simulate", "--scenario", "no-such-thing", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no-such-thing" in err and "steady" in err and "ticket-drop" in err

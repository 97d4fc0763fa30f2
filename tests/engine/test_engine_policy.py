"""Policy files: defaults, partial files, refusals that name the key, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

import verifier
from verifier import ConfigError, Policy

DEFAULT_TOML = Path(verifier.__file__).parent / "policies" / "default.toml"


def test_default_matches_the_design():
    p = Policy.default()
    assert (p.code.length, p.code.ttl_s) == (6, 300)
    assert p.send.resend_cooldown_s == (30, 60, 120) and p.send.max_sends == 5
    assert (p.check.max_attempts, p.check.lockout_s, p.check.previous_codes_valid) == (
        5,
        900,
        False,
    )
    assert p.numbers.allowed_types == ("MOBILE", "FIXED_LINE_OR_MOBILE")
    assert p.numbers.reveal_registered == "immediately"
    assert (p.limits.per_number_per_day, p.limits.per_ip_per_hour) == (0, 30)
    assert p.limits.per_number_per_15min == 5
    assert p.limits.failures_per_account_per_hour == 30
    assert p.limits.consecutive_failures_per_account == 100
    assert (p.check.approval_ttl_s, p.send.window_s) == (600, 3600)
    assert p.fraud.min_check_delay_s == 1.0
    assert p.non_conformities() == []


def test_shipped_file_is_the_default():
    assert Policy.from_toml(DEFAULT_TOML) == Policy.default()
    assert Policy.from_toml(str(DEFAULT_TOML)) == Policy.default()


def test_a_file_may_give_only_what_it_changes(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[code]\nttl_s = 120\n[check]\nmax_attempts = 3\n")
    p = Policy.from_toml(path)
    assert p.code.ttl_s == 120 and p.check.max_attempts == 3 and p.code.length == 6


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[code]\nttl = 5\n", "code.ttl"),
        ("[cod]\nttl_s = 5\n", "cod"),
        ("[code]\nttl_s = 0\n", "code.ttl_s"),
        ("[code]\nttl_s = 86401\n", "code.ttl_s"),
        ("[code]\nlength = 3\n", "code.length"),
        ("[code]\nlength = 6.5\n", "code.length"),
        ("[code]\nlength = true\n", "code.length"),
        ("[send]\nmax_sends = 101\n", "send.max_sends"),
        ("[send]\nresend_cooldown_s = []\n", "send.resend_cooldown_s"),
        ("[send]\nresend_cooldown_s = [30, -1]\n", "send.resend_cooldown_s[1]"),
        ("[check]\nmax_attempts = 0\n", "check.max_attempts"),
        ("[check]\nlockout_s = 604801\n", "check.lockout_s"),
        ("[check]\nprevious_codes_valid = 1\n", "check.previous_codes_valid"),
        ('[numbers]\nallowed_types = ["MOBILE", "CARRIER_PIGEON"]\n', "numbers.allowed_types[1]"),
        ('[numbers]\ndenied_countries = ["XX"]\n', "numbers.denied_countries[0]"),
        ('[numbers]\nreveal_registered = "sometimes"\n', "numbers.reveal_registered"),
        ("[limits]\nper_ip_per_hour = 1000000001\n", "limits.per_ip_per_hour"),
        ("[fraud]\nmin_check_delay_s = 3601\n", "fraud.min_check_delay_s"),
        ("code = 5\n", "code"),
        ("[code\n", "policy"),
    ],
)
def test_bad_keys_and_values_are_refused_naming_the_key(text, key):
    with pytest.raises(ConfigError) as err:
        Policy.from_toml(text)
    assert err.value.key == key
    assert str(err.value).startswith(key)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Policy.from_toml(tmp_path / "nope.toml")


def test_to_toml_round_trips():
    p = Policy.default().replace(
        **{"code.ttl_s": 90, "send.resend_cooldown_s": [15, 45], "numbers.denied_countries": ["RU"]}
    )
    assert Policy.from_toml(p.to_toml()) == p


def test_nist_non_conformities_load_but_are_flagged():
    p = Policy.from_toml("[code]\nttl_s = 900\nlength = 4\n[check]\nmax_attempts = 200\n")
    flags = p.non_conformities()
    assert len(flags) == 3 and any("ttl_s" in f for f in flags)

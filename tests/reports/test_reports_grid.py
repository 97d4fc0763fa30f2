"""Grid syntax: values per key kind, list values with '/', and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.grid import DEFAULT_GRID, expand, format_value, label, parse_grid, policy_key
from verifier.errors import ConfigError
from verifier.policy import Policy


def test_values_take_the_kind_of_their_key():
    grid = parse_grid(
        [
            "code.ttl_s=60,300",
            "check.max_attempts=3,5,10",
            "send.resend_cooldown_s=30/60/120,15/30/60,0",
            "send.resend_same_code=true,false",
            "numbers.reveal_registered=never",
        ]
    )
    assert grid["code.ttl_s"] == [60.0, 300.0]
    assert grid["check.max_attempts"] == [3, 5, 10]
    assert grid["send.resend_cooldown_s"] == [[30.0, 60.0, 120.0], [15.0, 30.0, 60.0], [0.0]]
    assert grid["send.resend_same_code"] == [True, False]
    assert grid["numbers.reveal_registered"] == ["never"]


def test_repeated_values_are_tried_once():
    assert parse_grid(["code.ttl_s=60,60,120"]) == {"code.ttl_s": [60.0, 120.0]}


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("code.ttl_s=0", "code.ttl_s"),  # out of range, refused by Policy.replace
        ("code.ttl_s=soon", "code.ttl_s"),
        ("code.tll_s=60", "code.tll_s"),  # unknown key
        ("nope=1", "nope"),
        ("check.max_attempts=3.5", "check.max_attempts"),
        ("check.max_attempts=", "check.max_attempts"),
        ("send.resend_cooldown_s=30/-1", "send.resend_cooldown_s"),
        ("send.resend_same_code=yes", "send.resend_same_code"),
        ("code.ttl_s", "code.ttl_s"),  # no '='
    ],
)
def test_bad_keys_and_values_raise_config_error_naming_the_key(spec, key):
    with pytest.raises(ConfigError) as caught:
        parse_grid([spec])
    assert key in str(caught.value)


def test_a_key_given_twice_is_refused():
    with pytest.raises(ConfigError, match=r"code\.ttl_s"):
        parse_grid(["code.ttl_s=60", "code.ttl_s=120"])


def test_expansion_is_the_product_with_the_default_first_and_once():
    points = expand({"code.ttl_s": [120.0, 300.0], "check.max_attempts": [3, 5]})
    assert points[0] == {}
    # (300, 5) is today's policy: it is the default point, not a second copy.
    assert len(points) == 4
    keys = {policy_key(Policy.default().replace(**p)) for p in points[1:]}
    assert policy_key(Policy.default()) not in keys


def test_the_default_grid_is_valid_and_fits_the_budget():
    points = expand(DEFAULT_GRID)
    assert len(points) == 18
    for overrides in points:
        Policy.default().replace(**overrides)


def test_format_value_inverts_parse_and_labels_are_short():
    assert format_value([30.0, 60.0, 120.0]) == "30/60/120"
    assert format_value(300.0) == "300"
    assert label({}) == "default"
    assert label({"code.ttl_s": 120.0, "check.max_attempts": 3}) == "TTL 120 s · 3 attempts"


def test_reports_never_loads_the_web_or_load_test_stack():
    """reports/ runs the model and writes files: no locust, fastapi or uvicorn."""
    import subprocess
    import sys

    code = (
        "import sys, reports.cli, reports.builder, reports.sweep, reports.results, "
        "reports.plots, reports.plan, reports.capacity\n"
        "bad = [m for m in ('locust', 'fastapi', 'uvicorn') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import reports.cli as c; print(c.__name__)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    light = subprocess.run(
        [sys.executable, "-c", "import sys, reports.cli; print('pandas' in sys.modules)"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert light.stdout.strip() == "False"  # building the parser stays cheap


DOCS = Path(__file__).resolve().parents[2] / "docs" / "report.md"


def test_the_documented_grid_parses_as_described():
    """docs/report.md's grid example is valid and tries the product it says."""
    text = DOCS.read_text("utf-8")
    block = text.split("--grid code.ttl_s=60,120,300,600")[1].split("```")[0]
    specs = ["code.ttl_s=60,120,300,600", *block.replace("\\", " ").split()]
    grid = parse_grid(specs)
    assert [len(v) for v in grid.values()] == [4, 3, 3, 2, 2]
    assert grid["send.resend_cooldown_s"][2] == [0.0]
    assert "`code.ttl_s=120,300,600 send.resend_cooldown_s=30/60/120,60/120/240" in text


def test_every_option_is_documented():
    import argparse

    from reports.cli import add_arguments

    text = DOCS.read_text("utf-8")
    parser = add_arguments(argparse.ArgumentParser())
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in text, option

"""A tiny tuning run through the real model, shared by the report tests.

Two small scenarios (a steady one with payments, so the step-up stage runs, and a
drop), a four-point grid, a short KN race (first stage 3, cap 6) and the command
line's defaults for everything else, run once
per session through ``smsverify tune`` exactly as a user would, with one measured
deployment (``--capacity``); ``tiny_report`` is the output folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsverify.cli import main

STEADY = """
name = "steady"
duration_s = 600
[arrivals]
rate_per_s = 2.0
[gateway]
channels = 20
service_time = { dist = "lognormal", median_s = 5.0, p99_s = 17.0 }
loss_rate = 0.02
[users]
resend_after_s = 30
[fraud]
bruteforce_rate_per_s = 0.4
[payments]
fraud_share = 0.05
fraud_new_device_share = 0.3
fraud_new_address_share = 0.2
fraud_new_payment_method_share = 0.3
"""
DROP = """
name = "ticket-drop"
duration_s = 900
[arrivals]
rate_per_s = 1.0
profile = [[0, 1.0], [300, 8.0], [420, 1.0]]
[gateway]
channels = 24
service_time = { dist = "lognormal", median_s = 5.0, p99_s = 17.0 }
[users]
resend_after_s = 30
"""
GRID = ["code.ttl_s=120,300", "check.max_attempts=3,5"]
RACE = ["--first-stage", "3", "--max-replications", "6"]  # KN, on a small budget


def write_scenarios(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "steady.toml", folder / "ticket-drop.toml"]
    for path, text in zip(paths, (STEADY, DROP), strict=True):
        path.write_text(text, "utf-8")
    return paths


@pytest.fixture(scope="session")
def tiny_scenarios(tmp_path_factory) -> list[Path]:
    return write_scenarios(tmp_path_factory.mktemp("scenarios"))


@pytest.fixture(scope="session")
def measured_capacity(tmp_path_factory) -> Path:
    """A measured deployment for the planners' section (``--capacity``)."""
    path = tmp_path_factory.mktemp("capacity") / "capacity.json"
    path.write_text(json.dumps(CAPACITY), "utf-8")
    return path


@pytest.fixture(scope="session")
def tune_argv(tiny_scenarios, measured_capacity):
    """``smsverify tune`` arguments for the tiny sweep, writing to ``out``."""

    def argv(out: Path) -> list[str]:
        args = ["tune", "--out", str(out), "--grid", *GRID, *RACE]
        args += ["--capacity", str(measured_capacity)]
        for path in tiny_scenarios:
            args += ["--scenario", str(path)]
        return args

    return argv


# What ``smsverify loadtest --find-capacity`` writes (the keys the report reads).
CAPACITY = {
    "scenario": "ticket-drop",
    "deployment": "SQLite, 1 server worker, API v1",
    "command": "smsverify loadtest --scenario ticket-drop --find-capacity --duration 5m",
    "lower_bound": False,
    "capacity_checkouts_per_s": 80.0,
    "capacity_requests_per_s": 190.0,
    "limit": "server CPU: its processes kept 0.95 cores busy with 1 worker(s)",
    "steps": [],
}


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory, tune_argv) -> Path:
    out = tmp_path_factory.mktemp("report") / "latest"
    if main(tune_argv(out)) != 0:
        raise RuntimeError("smsverify tune failed")
    return out

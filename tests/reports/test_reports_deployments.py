"""The planner's answer: measured deployments (``--capacity``) against the model's peaks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loadtests.capacity import HOLDS, SLO, Finding, Limits, Search, Step
from loadtests.capacity_run import CapacityOptions, CapacityRun, _json
from loadtests.locustcsv import Endpoint
from reports import deployments
from simulation.scenario import load
from smsverify.cli import main
from verifier.errors import ConfigError

CAPACITY = {
    "scenario": "ticket-drop",
    "deployment": "SQLite, 1 server worker, API v1",
    "command": "smsverify loadtest --scenario ticket-drop --find-capacity",
    "limit": "server CPU",
    "capacity_checkouts_per_s": 80.0,
    "capacity_requests_per_s": 190.0,
}


def test_each_deployment_is_set_against_every_scenarios_peak(tiny_report, measured_capacity):
    given = json.loads(measured_capacity.read_text("utf-8"))
    md = (tiny_report / "report.md").read_text("utf-8")
    assert "### Against measured deployments" in md
    section = md.split("### Against measured deployments", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| SQLite")
    ]
    results = pd.read_csv(tiny_report / "results.csv")
    best = results[(results["study"] == "main") & results["recommended"].astype(bool)]
    peaks = best[best["scenario"] != "all"].set_index("scenario")
    assert sorted(r[4] for r in rows) == sorted(peaks.index)
    for row in rows:
        peak = peaks.loc[row[4]]
        held, asked = given["capacity_checkouts_per_s"], given["capacity_requests_per_s"]
        assert row[2] == f"{held:.3g}" and row[3] == f"{asked:.3g}"
        assert row[7].startswith(f"{held / peak['full_peak_arrivals_per_s']:.3g}×")
        requests = peak[[f"full_peak_{k}_per_s" for k in ("start", "resend", "check")]].sum()
        assert row[8].startswith(f"{asked / requests:.3g}×")
    assert f"* {given['deployment']}: what ran out: {given['limit']}. " in section
    assert f"Measured with `{given['command']}`." in section
    html = (tiny_report / "index.html").read_text("utf-8")
    assert "<h3>Against measured deployments</h3>" in html


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "expected an object"),
        (json.dumps({**CAPACITY, "command": None}), "missing 'command'"),
        (json.dumps({**CAPACITY, "capacity_checkouts_per_s": -3}), "non-negative number"),
        (json.dumps({**CAPACITY, "capacity_requests_per_s": "many"}), "non-negative number"),
    ],
)
def test_a_bad_capacity_file_is_refused_naming_the_file(tmp_path, text, said):
    path = _write(tmp_path, "sqlite.json", text)
    with pytest.raises(ConfigError) as err:
        deployments.read(path)
    assert err.value.key == "capacity" and said in str(err.value)
    assert "sqlite.json" in str(err.value)


def test_tune_refuses_a_missing_capacity_file_before_it_sweeps(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["tune", "--out", str(out), "--capacity", str(tmp_path / "none.json")]
    assert main(argv) == 2
    assert "cannot read none.json" in capsys.readouterr().err
    assert not (out / "points").exists()  # nothing was swept


def test_what_a_capacity_search_writes_is_what_the_report_reads(tmp_path):
    small = Path(__file__).parents[1] / "loadtests" / "small.toml"
    endpoints = [Endpoint("POST /v1/verifications", 600, 0, 60.0, 3.0, 8.0, 20.0, 40.0)]
    common = {
        "seconds": 10.0,
        "buyers": 300,
        "overflow": 0,
        "lag_p99_s": 0.0,
        "generator_cpu_warning": False,
        "endpoints": endpoints,
        "errors": 0,
    }
    steps = [
        Step(index=1, rate=30.0, verdict=HOLDS, **common),
        Step(index=2, rate=60.0, verdict=SLO, why="p99", **common),
    ]
    options = CapacityOptions(str(small), store="redis://127.0.0.1:6379/1", server_workers=2)
    run = CapacityRun(
        load(small), options, Limits(), Search(), 30.0, "Redis", Finding(steps), 2, 6.0
    )
    path = _write(tmp_path, "capacity.json", json.dumps(_json(run)))
    found = deployments.read(path)
    assert found.name == "Redis, 2 server workers, API v1"
    assert found.scenario == "small" and not found.lower_bound
    assert found.checkouts_per_s == 30.0 and found.requests_per_s == 60.0
    assert found.command.startswith("smsverify loadtest --scenario …/small.toml --find-capacity")
    assert str(small.parent) not in path.read_text("utf-8")  # no folder of this machine
    assert "--store redis://127.0.0.1:6379/1 --server-workers 2" in found.command

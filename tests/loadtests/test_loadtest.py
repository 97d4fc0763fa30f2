"""``smsverify loadtest`` end to end: real gateway, server and Locust on loopback.

Each run is bounded (a small scenario, at most 15 s of load, a hard timeout on the
command) and every test ends by finding and killing any process the run left behind:
each child carries the run's output folder in ``SMSVERIFY_LOADTEST_OUT``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.servers import MARKER

SMALL = Path(__file__).with_name("small.toml")
RUN_TIMEOUT_S = 150.0
NUMBER = re.compile(r"^[+-]?[\d,]+(\.\d+)?( %)?$")

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find leftovers")


def leftovers(out: Path) -> list[int]:
    """Processes whose environment names ``out`` as their run's folder."""
    marker = f"{MARKER}={out.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_leftovers(out: Path) -> list[int]:
    found = leftovers(out)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "smsverify", "loadtest", "--scenario", str(SMALL)]
    command += ["--out", str(out), "--store", f"sqlite:///{tmp_path / 'server.db'}", *args]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    proc = subprocess.Popen(command, start_new_session=True, **pipes)
    return proc, out


def finish(proc: subprocess.Popen, out: Path, timeout: float = RUN_TIMEOUT_S) -> str:
    """The command's output once it exits; on a timeout, stop it (and what it started)."""
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the runner stops its children on SIGTERM
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        raise AssertionError(f"loadtest did not finish within {timeout:g} s:\n{output}") from None
    finally:
        time.sleep(0.2)  # let the last child's exit reach /proc before looking
        stray = kill_leftovers(out)
    assert not stray, f"the run left processes behind: {stray}"
    return output


def table(markdown: str, title: str) -> list[list[str]]:
    """The first table under ``## title``, as rows of cells (header and rule left out)."""
    section = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def test_a_bounded_run_writes_a_filled_report_and_the_invariants_hold(tmp_path):
    proc, out = start(tmp_path, "--duration", "15s")
    output = finish(proc, out)
    assert proc.returncode == 0, output
    md = (out / "load-report.md").read_text("utf-8")
    html = (out / "load-report.html").read_text("utf-8")
    assert (out / "load-report.png").stat().st_size > 1000
    assert (out / "outcomes" / "process-0.json").exists()
    assert str(tmp_path) not in md and str(tmp_path) not in html

    compared = {row[0]: row for row in table(md, "Measured vs predicted")}
    for label in (
        "buyers arrived",
        "verified by the end of the run",
        "conversion (%)",
        "time to verify p50 (s)",
        "SMS/s over the arrival window",
        "gateway wait mean (s)",
        "brute-force checks",
    ):
        measured, predicted, mean = compared[label][1], compared[label][2], compared[label][4]
        assert all(NUMBER.match(v) for v in (measured, predicted, mean)), compared[label]
    assert int(compared["buyers arrived"][1]) > 10

    endpoints = {row[0]: row for row in table(md, "Requests per endpoint")}
    for name in ("POST /v1/verifications", "POST /v1/verifications/{id}/check"):
        requests, p95 = endpoints[name][1], endpoints[name][4]
        assert NUMBER.match(requests) and int(requests.replace(",", "")) > 0
        assert NUMBER.match(p95)
    assert int(endpoints["Aggregated"][7]) == 0  # no transport errors, no 5xx

    codes = table(md, "Outcomes by error code")
    assert any(row[1] in ("incorrect_code", "abnormal_operation") for row in codes), codes

    checks = table(md, "Security invariants")
    assert [row[1] for row in checks] == ["pass"] * 4, checks
    assert "pass" in output and "FAIL" not in output


def test_a_master_and_a_worker_share_the_arrivals(tmp_path):
    proc, out = start(tmp_path, "--duration", "10s", "--workers", "1")
    output = finish(proc, out)
    assert proc.returncode == 0, output
    md = (out / "load-report.md").read_text("utf-8")
    assert "1 Locust master and 1 worker" in md
    assert (out / "locust-master.log").exists() and (out / "locust-worker-0.log").exists()
    assert sorted(p.name for p in (out / "outcomes").iterdir()) == ["process-0.json"]
    compared = {row[0]: row for row in table(md, "Measured vs predicted")}
    assert int(compared["buyers arrived"][1]) > 0
    assert compared["buyers arrived"][1] == compared["buyers arrived"][2]  # same arrivals
    assert [row[1] for row in table(md, "Security invariants")] == ["pass"] * 4


def test_ctrl_c_stops_everything_the_run_started(tmp_path):
    proc, out = start(tmp_path, "--duration", "30s")
    deadline = time.monotonic() + 60
    while not (out / "locust_stats.csv").exists():  # Locust is up and running
        if proc.poll() is not None or time.monotonic() > deadline:
            finish(proc, out, timeout=1)
            pytest.fail("the load test never started Locust")
        time.sleep(0.2)  # polling a starting run
    assert leftovers(out)  # gateway, server, Locust
    proc.send_signal(signal.SIGINT)
    output = finish(proc, out, timeout=40)
    assert proc.returncode == 130, output
    assert "interrupted" in output


def test_the_same_visitors_through_the_twilio_shaped_api(tmp_path):
    """``--api twilio``: every request goes to /v2, the invariants still hold on the store."""
    proc, out = start(tmp_path, "--duration", "15s", "--api", "twilio")
    output = finish(proc, out)
    assert proc.returncode == 0, output
    md = (out / "load-report.md").read_text("utf-8")
    assert "`/v2`, the Twilio Verify shape" in md

    endpoints = {row[0]: row for row in table(md, "Requests per endpoint")}
    assert not [name for name in endpoints if name.startswith(("POST /v1", "GET /v1", "PUT /v1"))]
    for name in (
        "POST /v2/Services/{ServiceSid}/Verifications",
        "POST /v2/Services/{ServiceSid}/VerificationCheck",
    ):
        assert int(endpoints[name][1].replace(",", "")) > 0, endpoints
    assert int(endpoints["Aggregated"][7]) == 0  # no transport errors, no 5xx, no odd answer

    compared = {row[0]: row for row in table(md, "Measured vs predicted")}
    assert int(compared["verified by the end of the run"][1]) > 0
    assert int(compared["brute-force checks"][1]) > 0
    assert "enumeration probes that revealed a registration" not in compared  # no binding

    codes = {row[1] for row in table(md, "Outcomes by error code")}
    assert "incorrect_code" in codes, codes  # a wrong code, read from 200 valid: false
    checks = table(md, "Security invariants")
    assert [row[1] for row in checks] == ["pass"] * 4, checks
    # The brute-forcer's own service lets the store invariant find its verifications.
    brute = next(row for row in checks if row[0].startswith("brute-force"))
    assert not brute[2].startswith("0 approvals from 0 guesses"), brute


def test_find_capacity_steps_the_load_up_and_writes_the_capacity_report(tmp_path):
    """``--find-capacity``: real server and Locust, two steps, the report and its JSON."""
    args = ("--find-capacity", "--duration", "36s", "--steps", "2", "--start-rate", "2")
    proc, out = start(tmp_path, *args)
    output = finish(proc, out)
    assert proc.returncode == 0, output
    assert "step 1: 2 checkouts/s offered" in output and "step 2: 4 checkouts/s" in output
    found = json.loads((out / "capacity.json").read_text("utf-8"))
    assert [s["rate"] for s in found["steps"]] == [2.0, 4.0]
    for s in found["steps"]:
        assert s["verdict"] in ("holds", "slo", "errors"), s
        names = {e["name"] for e in s["endpoints"]}
        assert "POST /v1/verifications" in names and not any("(gateway)" in n for n in names)
        assert s["requests_per_s"] > 0 and s["buyers"] > 0
        assert s["server_cpu"] is not None and s["server_rss_mb"] > 10
    md = (out / "capacity-report.md").read_text("utf-8")
    assert "## The answer" in md and "What ran out:" in md
    steps = table(md, "Steps")
    assert [row[0] for row in steps] == ["1", "2"]
    assert (out / "capacity-knee.png").stat().st_size > 10_000
    assert str(tmp_path) not in md and str(SMALL.parent) not in md
    assert "--store sqlite:///…/server.db" in md


def test_find_capacity_reports_a_saturated_load_generator_and_stops(tmp_path):
    """One session slot for a burst of buyers: the generator, not the server, ran out."""
    from loadtests.capacity_run import CapacityOptions, find

    out = tmp_path / "out"
    options = CapacityOptions(
        str(SMALL), duration="36s", steps=2, start_rate=5.0, out=out, max_sessions=1
    )
    try:
        run = find(options)
    finally:
        time.sleep(0.2)
        stray = kill_leftovers(out)
    assert not stray, f"the run left processes behind: {stray}"
    assert [s.verdict for s in run.finding.steps] == ["generator"]  # and no second step
    assert "session slot" in run.finding.steps[0].why
    assert run.finding.limit(2, 1).startswith("the load generator")
    md = (out / "capacity-report.md").read_text("utf-8")
    assert "generator saturated" in md and "No step held" in md

"""HTTP throughput: full verification flows/s on one ``smsverify serve``, beside a no-op route.

For each configuration (store x workers) the runner starts one server with
``SMSVERIFY_BENCH=1`` (which adds ``GET /bench/noop``, a route that does no work) on
127.0.0.1 and runs Locust against it, each run its own headless process, bounded in
users and time. Three modes:

``saturation`` (the default): ``NoopUser`` (the stack's own ceiling), then ``FlowUser``
(start, read the sandbox, check: one approved verification, one after another with no
wait: a closed loop). It prints flows/s, the flow's HTTP requests/s next to the no-op's,
and p50/p95/p99 latencies, as a Markdown table.

``half``: first the closed loop of ``FlowUser`` for ``--saturation-seconds`` (its
flows/s is the saturation), then ``PacedFlowUser`` at a fixed offered rate of half of
that (or ``--rate``) for ``--half-seconds``: ``ceil(rate / --user-rate)`` users, each
starting ``rate / users`` flows/s on a fixed schedule from a random phase (see
``scheduled``; ``--arrivals poisson`` for exponential gaps). Statistics are reset once
every user has started. It prints p50/p95/p99 per request and per flow.

``ratio``: the issue's lean-service goals, on one server per configuration. Round
after round (``--rounds``) it runs ``BareUser`` on ``GET /bench/bare`` (a bare FastAPI
app in the same worker process, without any of the service's middleware: see
``verifier/http/bare.py``), ``NoopUser`` (the no-op route through all of it) and
``FlowUser``, each for ``--seconds`` under the very same Locust, and prints each rate's
ratio to the bare endpoint's (summed over the rounds, so a noisy round weighs by its
length, not its rate): flow requests/s over bare (goal 0.7 on memory, 0.5 on SQLite)
and no-op over bare (goal 0.8).

``soak``: the same, paced for ``--soak-seconds``, while the runner samples the RSS of
every process of the server (its process group: the uvicorn parent and its workers,
from ``/proc/<pid>/status``) every ``--sample-seconds``. It prints RSS at 1 min and at
the end, and the growth between them.

    .venv/bin/python bench/http.py [--seconds 20] [--users 16] [--configs memory,sqlite,redis2]
    .venv/bin/python bench/http.py --mode half [--configs memory,sqlite] [--half-seconds 60]
    .venv/bin/python bench/http.py --mode soak [--configs sqlite] [--soak-seconds 300]
    .venv/bin/python bench/http.py --mode ratio [--configs memory,sqlite] [--rounds 2]

This file also holds the Locust user classes. They exist only when the file is loaded
as a module (through a small generated locustfile, under another name than ``http``),
so the runner never imports Locust, and nothing in ``verifier`` ever does.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, where this very file would
# shadow the standard library's ``http`` package (which urllib and Locust import).
if sys.path and os.path.realpath(sys.path[0] or ".") == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse
import csv
import json
import math
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICY = """
[fraud]
min_check_delay_s = 0
[limits]
per_ip_per_hour = 0
per_number_per_day = 0
"""
CONFIGS = {
    "memory": ("memory://", 1),
    "sqlite": ("sqlite", 1),
    "sqlite2": ("sqlite", 2),
    "redis2": ("redis", 2),
}
NOOP_SHARE = 0.4  # of each configuration's seconds; the rest runs full flows
USER_RATE_ENV = "SMSVERIFY_BENCH_USER_RATE"  # flows/s of each PacedFlowUser
ARRIVALS_ENV = "SMSVERIFY_BENCH_ARRIVALS"  # "uniform" (fixed period) or "poisson"
DEFAULT_CONFIGS = {
    "saturation": "memory,sqlite,redis2",
    "half": "memory,sqlite",
    "soak": "sqlite",
    "ratio": "memory,sqlite",
}
RATIO_GOALS = {"memory": 0.7, "sqlite": 0.5, "redis": 0.5}  # flow req/s over bare req/s
NOOP_GOAL = 0.8  # no-op route through every middleware, over bare
P99_GOAL_MS = 20.0  # every request's p99 at half of saturation
# The credentials of the bench server (SMSVERIFY_API_KEYS); the flow calls as ``verify``
# and reads the sandbox as ``admin``, as a shop's test suite would.
VERIFY_KEY = "bench-verify-" + "v" * 24
ADMIN_KEY = "bench-admin-" + "a" * 24
API_KEYS = f"verify={VERIFY_KEY},admin={ADMIN_KEY}"
VERIFY = {"Authorization": f"Bearer {VERIFY_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
REQUESTS = ("start", "sandbox", "check")
SHIM = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("smsverify_bench_http", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
NoopUser, FlowUser, PacedFlowUser = module.NoopUser, module.FlowUser, module.PacedFlowUser
BareUser = module.BareUser
"""


def jp_mobile() -> str:
    """A random valid Japanese mobile number in E.164 (090 and 8 more digits)."""
    return f"+8190{random.randrange(10_000_000, 100_000_000)}"


if __name__ == "smsverify_bench_http":
    # Loaded by the generated locustfile (see SHIM).
    from locust import FastHttpUser, constant, task

    class BareUser(FastHttpUser):
        """The baseline: a bare FastAPI endpoint, none of the service's middleware."""

        wait_time = constant(0)

        @task
        def bare(self) -> None:
            self.client.get("/bench/bare", name="bare")

    class NoopUser(FastHttpUser):
        """A route that does no work, through every middleware of the service."""

        wait_time = constant(0)

        @task
        def noop(self) -> None:
            self.client.get("/bench/noop", name="noop")

    class FlowUser(FastHttpUser):
        """One buyer after another: start, read the code from the sandbox, check it."""

        wait_time = constant(0)

        @task
        def flow(self) -> None:
            began = time.perf_counter()
            e164 = jp_mobile()
            body = {"phone": e164, "country": None, "account_id": uuid.uuid4().hex}
            with self.client.post(
                "/v1/verifications", json=body, name="start", headers=VERIFY, catch_response=True
            ) as answer:
                if answer.status_code != 201:
                    answer.failure(f"start answered {answer.status_code}")
                    return
                verification_id = answer.json()["id"]
            with self.client.get(
                "/sandbox/messages?to=%2B" + e164[1:],
                name="sandbox",
                headers=ADMIN,
                catch_response=True,
            ) as answer:
                if answer.status_code != 200 or not answer.json():
                    answer.failure("no sandbox message")
                    return
                code = answer.json()[-1]["code"]
            with self.client.post(
                f"/v1/verifications/{verification_id}/check",
                json={"code": code},
                name="check",
                headers=VERIFY,
                catch_response=True,
            ) as answer:
                if answer.status_code != 200:
                    answer.failure(f"check answered {answer.status_code}")
                    return
            self.environment.events.request.fire(
                request_type="FLOW",
                name="flow",
                response_time=(time.perf_counter() - began) * 1000,
                response_length=0,
                exception=None,
                context={},
            )

    def scheduled(rate: float, poisson: bool):
        """A wait_time that starts each user's flows on a fixed schedule of ``rate``/s.

        The first flow waits a random phase within one period (Locust starts all users of
        a batch at once, so ``constant_throughput`` users would all fire together), then
        each start is one period (or, with ``poisson``, an exponential gap of that mean)
        after the previous *scheduled* start: a late user fires at once and catches up,
        so the offered rate does not depend on the server, and users whose flows were
        slowed together do not stay in phase (as they would with ``constant_pacing``).
        """
        period = 1 / rate

        def wait_time(user) -> float:
            now = time.monotonic()
            if getattr(user, "bench_next", None) is None:
                user.bench_next = now + random.uniform(0, period)
            else:
                user.bench_next += random.expovariate(rate) if poisson else period
            return max(0.0, user.bench_next - now)

        return wait_time

    class PacedFlowUser(FlowUser):
        """The same flow, started at a fixed rate per user (``USER_RATE_ENV`` flows/s)."""

        wait_time = scheduled(
            float(os.environ.get(USER_RATE_ENV, "1")), os.environ.get(ARRIVALS_ENV) == "poisson"
        )

        def on_start(self) -> None:
            time.sleep(self.wait_time())  # the random phase; Locust makes sleep cooperative


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with opener.open(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # polling a starting server
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """End a process group this runner started (a server and its workers)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def start_redis(workdir: Path) -> tuple[str, subprocess.Popen] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    command += ["--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return f"redis://127.0.0.1:{port}/0", proc
        except OSError:
            time.sleep(0.05)  # polling a starting server
    stop(proc)
    return None


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def start_locust(
    base: str,
    user: str,
    seconds: float,
    users: int,
    prefix: Path,
    user_rate: float = 0.0,
    arrivals: str = "uniform",
) -> subprocess.Popen:
    """Start one headless Locust run in its own process group; it stops by itself."""
    locustfile = prefix.parent / "bench_locustfile.py"
    locustfile.write_text(SHIM.format(path=os.path.realpath(__file__)))
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--only-summary",
    ]
    command += ["-u", str(users), "-r", str(users), "--run-time", f"{max(1, round(seconds))}s"]
    command += ["--host", base, "--csv", str(prefix), "--loglevel", "WARNING"]
    if user_rate:
        # Every user starts within the first second; leave that ramp out of the numbers.
        command += ["--reset-stats"]
    command += [user]
    env = {**os.environ, USER_RATE_ENV: repr(user_rate or 1.0), ARRIVALS_ENV: arrivals}
    with open(f"{prefix}-locust.log", "wb") as log:
        return subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )


def locust_stats(proc: subprocess.Popen, prefix: Path) -> dict:
    """Per-name stats of a finished Locust run, from its CSV."""
    try:
        with open(f"{prefix}_stats.csv", newline="") as handle:
            return {row["Name"]: row for row in csv.DictReader(handle)}
    except FileNotFoundError:
        log = Path(f"{prefix}-locust.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Locust exited with {proc.returncode} and no stats:\n{log}") from None


def run_locust(
    base: str, user: str, seconds: float, users: int, prefix: Path, user_rate: float = 0.0
) -> dict:
    """One headless Locust run; its per-name stats from the CSV."""
    proc = start_locust(base, user, seconds, users, prefix, user_rate)
    try:
        proc.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(proc)
    return locust_stats(proc, prefix)


def number(row: dict, key: str) -> float:
    value = row.get(key) or "0"
    return float(value) if value != "N/A" else 0.0


def server_pids(pgid: int) -> list[int]:
    """Every process in a process group (the server: uvicorn's parent and its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # Fields after the command's closing parenthesis: state, ppid, pgrp, ...
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_kib(pids: list[int]) -> int:
    """Summed VmRSS of these processes, in KiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue  # gone meanwhile
    return total


class Server:
    """One ``smsverify serve`` on 127.0.0.1 with SMSVERIFY_BENCH=1, stopped on exit."""

    def __init__(self, name: str, store: str, workers: int, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        policy = workdir / "policy.toml"
        policy.write_text(POLICY)
        self.command = [sys.executable, "-m", "smsverify", "serve", "--host", "127.0.0.1"]
        self.command += ["--port", str(self.port), "--store", store]
        self.command += ["--workers", str(workers), "--policy", str(policy)]
        self.log_path = workdir / f"{name}-server.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = {**os.environ, "SMSVERIFY_BENCH": "1", "SMSVERIFY_API_KEYS": API_KEYS}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_http(self.base + "/healthz", self.proc)
        except BaseException:
            stop(self.proc)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            stop(self.proc)

    def rss_kib(self) -> int:
        return rss_kib(server_pids(self.proc.pid))


def latencies(stats: dict, names: tuple[str, ...]) -> dict:
    return {
        name: {
            "count": int(number(stats.get(name, {}), "Request Count")),
            "failures": int(number(stats.get(name, {}), "Failure Count")),
            "rps": number(stats.get(name, {}), "Requests/s"),
            "p50_ms": number(stats.get(name, {}), "50%"),
            "p95_ms": number(stats.get(name, {}), "95%"),
            "p99_ms": number(stats.get(name, {}), "99%"),
            "max_ms": number(stats.get(name, {}), "Max Response Time"),
        }
        for name in names
    }


def bench_config(name: str, store: str, workers: int, args, workdir: Path) -> dict:
    with Server(name, store, workers, workdir) as server:
        noop = run_locust(
            server.base,
            "NoopUser",
            args.seconds * NOOP_SHARE,
            args.users,
            workdir / f"{name}-noop",
        )
        flow_s = args.seconds * (1 - NOOP_SHARE)
        flow = run_locust(server.base, "FlowUser", flow_s, args.users, workdir / f"{name}-flow")
    parts = [flow.get(n, {}) for n in REQUESTS]
    flow_rps = sum(number(p, "Requests/s") for p in parts)
    noop_rps = number(noop.get("noop", {}), "Requests/s")
    flows = flow.get("flow", {})
    return {
        "config": name,
        "store": store.split(":")[0],
        "workers": workers,
        "flows_per_s": number(flows, "Requests/s"),
        "flow_http_rps": flow_rps,
        "noop_rps": noop_rps,
        "ratio": flow_rps / noop_rps if noop_rps else 0.0,
        "flow_p50_ms": number(flows, "50%"),
        "flow_p95_ms": number(flows, "95%"),
        "flow_p99_ms": number(flows, "99%"),
        "request_p50_ms": max(number(p, "50%") for p in parts),
        "request_p95_ms": max(number(p, "95%") for p in parts),
        "request_p99_ms": max(number(p, "99%") for p in parts),
        "noop_p50_ms": number(noop.get("noop", {}), "50%"),
        "noop_p95_ms": number(noop.get("noop", {}), "95%"),
        "noop_p99_ms": number(noop.get("noop", {}), "99%"),
        "failures": sum(int(number(p, "Failure Count")) for p in parts),
    }


def paced_config(name: str, store: str, workers: int, args, workdir: Path) -> dict:
    """Saturation by a closed loop, then flows at a fixed rate (half of it), same server."""
    soak = args.mode == "soak"
    seconds = args.soak_seconds if soak else args.half_seconds
    result: dict = {"config": name, "store": store.split(":")[0], "workers": workers}
    with Server(name, store, workers, workdir) as server:
        result["load_before"] = load_average()
        closed = run_locust(
            server.base,
            "FlowUser",
            args.saturation_seconds,
            args.users,
            workdir / f"{name}-saturation",
        )
        result["saturation_users"] = args.users
        result["saturation_flows_per_s"] = number(closed.get("flow", {}), "Requests/s")
        result["saturation_failures"] = sum(
            int(number(closed.get(n, {}), "Failure Count")) for n in REQUESTS
        )
        rate = args.rate or result["saturation_flows_per_s"] / 2
        if rate <= 0:
            raise RuntimeError(f"{name}: no flow completed in the saturation run")
        users = min(args.max_users, max(1, math.ceil(rate / args.user_rate)))
        result.update(
            offered_flows_per_s=rate, users=users, user_rate=rate / users, arrivals=args.arrivals
        )
        print(
            f"{name}: saturation {result['saturation_flows_per_s']:.1f} flows/s; "
            f"{rate:.1f} flows/s offered by {users} users for {seconds:g} s ...",
            file=sys.stderr,
        )
        prefix = workdir / f"{name}-{args.mode}"
        samples: list[tuple[float, int]] = []
        result["rss_before_kib"] = server.rss_kib()
        locust = start_locust(
            server.base, "PacedFlowUser", seconds, users, prefix, rate / users, args.arrivals
        )
        began = time.monotonic()
        try:
            deadline = began + seconds + 60
            next_sample = began
            while locust.poll() is None and time.monotonic() < deadline:
                if soak and time.monotonic() >= next_sample:
                    samples.append((time.monotonic() - began, server.rss_kib()))
                    next_sample += args.sample_seconds
                time.sleep(0.2)  # waiting for Locust, which stops by itself
        finally:
            stop(locust)
        result["load_after"] = load_average()
        stats = locust_stats(locust, prefix)
    result["seconds"] = seconds
    result["achieved_flows_per_s"] = number(stats.get("flow", {}), "Requests/s")
    result["latency"] = latencies(stats, (*REQUESTS, "flow"))
    result["failures"] = sum(result["latency"][n]["failures"] for n in REQUESTS)
    result["request_p99_ms"] = max(result["latency"][n]["p99_ms"] for n in REQUESTS)
    result["p99_goal_met"] = result["request_p99_ms"] <= P99_GOAL_MS
    if soak:
        if not samples:
            raise RuntimeError(f"{name}: Locust ended before the first RSS sample")
        result["rss_samples"] = [{"t_s": round(t, 1), "rss_kib": kib} for t, kib in samples]
        at_minute = min(samples, key=lambda sample: abs(sample[0] - 60))[1]
        at_end = samples[-1][1]
        result["rss_1min_kib"] = at_minute
        result["rss_end_kib"] = at_end
        result["rss_growth_pct"] = (at_end - at_minute) / at_minute * 100
        result["rss_goal_met"] = result["rss_growth_pct"] < 10
    return result


def ratio_config(name: str, store: str, workers: int, args, workdir: Path) -> dict:
    """Bare, no-op and flow runs, round after round, on one server; their ratios to bare."""
    kinds = {"bare": ("BareUser", ("bare",)), "noop": ("NoopUser", ("noop",))}
    kinds["flow"] = ("FlowUser", REQUESTS)
    counts = {kind: 0 for kind in kinds}
    seconds = {kind: 0.0 for kind in kinds}
    failures = {kind: 0 for kind in kinds}
    p99 = {kind: 0.0 for kind in kinds}
    rounds = []
    with Server(name, store, workers, workdir) as server:
        load_before = load_average()
        for i in range(args.rounds):
            row = {}
            for kind, (user, names) in kinds.items():
                prefix = workdir / f"{name}-{kind}-{i}"
                stats = run_locust(server.base, user, args.seconds, args.users, prefix)
                parts = [stats.get(n, {}) for n in names]
                count = sum(int(number(p, "Request Count")) for p in parts)
                rps = sum(number(p, "Requests/s") for p in parts)
                counts[kind] += count
                seconds[kind] += count / rps if rps else 0.0
                failures[kind] += sum(int(number(p, "Failure Count")) for p in parts)
                p99[kind] = max(p99[kind], *(number(p, "99%") for p in parts))
                row[kind] = rps
            rounds.append(row)
            print(
                f"{name} round {i + 1}: bare {row['bare']:.0f}, noop {row['noop']:.0f}, "
                f"flow {row['flow']:.0f} req/s",
                file=sys.stderr,
            )
        load_after = load_average()
    rate = {kind: counts[kind] / seconds[kind] if seconds[kind] else 0.0 for kind in kinds}
    kind_of_store = store.split(":")[0]
    goal = RATIO_GOALS.get(kind_of_store, 0.5)
    flow_ratio = rate["flow"] / rate["bare"] if rate["bare"] else 0.0
    noop_ratio = rate["noop"] / rate["bare"] if rate["bare"] else 0.0
    return {
        "config": name,
        "store": kind_of_store,
        "workers": workers,
        "rounds": rounds,
        "rps": rate,
        "p99_ms": p99,
        "failures": failures,
        "flow_ratio": flow_ratio,
        "flow_goal": goal,
        "noop_ratio": noop_ratio,
        "load_before": load_before,
        "load_after": load_after,
    }


def ratio_table(results: list[dict]) -> str:
    lines = [
        "| config | workers | bare req/s | noop req/s | flow req/s | noop/bare (≥ 0.8) | "
        "flow/bare (goal) | worst p99 ms bare / noop / flow | failures | "
        "load avg 1/5 min before → after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rps, p99 = r["rps"], r["p99_ms"]
        lines.append(
            f"| {r['config']} | {r['workers']} | {rps['bare']:.0f} | {rps['noop']:.0f}"
            f" | {rps['flow']:.0f} | {r['noop_ratio']:.2f} {yes_no(r['noop_ratio'] >= NOOP_GOAL)}"
            f" | {r['flow_ratio']:.2f} (≥ {r['flow_goal']:g}) "
            f"{yes_no(r['flow_ratio'] >= r['flow_goal'])}"
            f" | {p99['bare']:.0f} / {p99['noop']:.0f} / {p99['flow']:.0f}"
            f" | {sum(r['failures'].values())}"
            f" | {r['load_before']} → {r['load_after']} |"
        )
    return "\n".join(lines)


def table(results: list[dict]) -> str:
    lines = [
        "| config | workers | flows/s | flow req/s | noop req/s | flow/noop | "
        "flow p50/p95/p99 ms | slowest request p50/p95/p99 ms | noop p50/p95/p99 ms | failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['config']} | {r['workers']} | {r['flows_per_s']:.1f} | {r['flow_http_rps']:.0f}"
            f" | {r['noop_rps']:.0f} | {r['ratio']:.2f}"
            f" | {r['flow_p50_ms']:.0f} / {r['flow_p95_ms']:.0f} / {r['flow_p99_ms']:.0f}"
            f" | {r['request_p50_ms']:.0f} / {r['request_p95_ms']:.0f} / {r['request_p99_ms']:.0f}"
            f" | {r['noop_p50_ms']:.0f} / {r['noop_p95_ms']:.0f} / {r['noop_p99_ms']:.0f}"
            f" | {r['failures']} |"
        )
    return "\n".join(lines)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "**no**"


def paced_tables(results: list[dict]) -> str:
    lines = [
        "| config | workers | saturation flows/s (users) | offered flows/s (users x flows/s) | "
        "achieved flows/s | seconds | failures | load avg 1/5 min before → after | "
        f"request p99 ≤ {P99_GOAL_MS:g} ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['config']} | {r['workers']}"
            f" | {r['saturation_flows_per_s']:.1f} ({r['saturation_users']})"
            f" | {r['offered_flows_per_s']:.1f} ({r['users']} x {r['user_rate']:.2f})"
            f" | {r['achieved_flows_per_s']:.1f} | {r['seconds']:g} | {r['failures']}"
            f" | {r['load_before']} → {r['load_after']} | {yes_no(r['p99_goal_met'])} |"
        )
    lines += [
        "",
        "| config | what | count | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, row in r["latency"].items():
            lines.append(
                f"| {r['config']} | {name} | {row['count']} | {row['rps']:.1f}"
                f" | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f}"
                f" | {row['max_ms']:.0f} |"
            )
    soaks = [r for r in results if "rss_samples" in r]
    if soaks:
        lines += [
            "",
            "| config | RSS before MiB | RSS at 1 min MiB | RSS at end MiB | "
            "growth after 1 min | < 10 % |",
            "|---|---|---|---|---|---|",
        ]
        for r in soaks:
            lines.append(
                f"| {r['config']} | {r['rss_before_kib'] / 1024:.1f}"
                f" | {r['rss_1min_kib'] / 1024:.1f} | {r['rss_end_kib'] / 1024:.1f}"
                f" | {r['rss_growth_pct']:+.1f} % | {yes_no(r['rss_goal_met'])} |"
            )
        for r in soaks:
            samples = ", ".join(
                f"{s['t_s']:.0f} s: {s['rss_kib'] / 1024:.1f}" for s in r["rss_samples"]
            )
            lines += ["", f"{r['config']} RSS samples (MiB): {samples}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode", choices=("saturation", "half", "soak", "ratio"), default="saturation"
    )
    parser.add_argument(
        "--seconds", type=float, help="per configuration (ratio: per run; default 20, ratio 10)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="of bare, noop and flow (ratio)")
    parser.add_argument("--users", type=int, default=16, help="of the closed loops")
    parser.add_argument("--configs", help=f"of {','.join(CONFIGS)}; default: by mode")
    parser.add_argument(
        "--saturation-seconds", type=float, default=15.0, help="closed loop before half/soak"
    )
    parser.add_argument("--half-seconds", type=float, default=60.0)
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="RSS, in soak")
    parser.add_argument("--rate", type=float, help="offered flows/s (default: half saturation)")
    parser.add_argument("--user-rate", type=float, default=2.0, help="flows/s per paced user")
    parser.add_argument("--max-users", type=int, default=500, help="of the paced runs")
    parser.add_argument(
        "--arrivals",
        choices=("uniform", "poisson"),
        default="uniform",
        help="each paced user's gaps: one period, or exponential of that mean",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    configs = args.configs or DEFAULT_CONFIGS[args.mode]
    if args.seconds is None:
        args.seconds = 10.0 if args.mode == "ratio" else 20.0
    # A SIGTERM goes through the finally clauses below, which stop every process started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    with tempfile.TemporaryDirectory(prefix="smsverify-bench-") as tmp:
        workdir = Path(tmp)
        redis = None
        try:
            for name in configs.split(","):
                store, workers = CONFIGS[name]
                if store == "sqlite":
                    store = f"sqlite:///{workdir / name}.db"
                elif store == "redis":
                    redis = redis or start_redis(workdir)
                    if redis is None:
                        print(f"{name}: skipped, no redis-server on PATH", file=sys.stderr)
                        continue
                    store = redis[0]
                if args.mode == "saturation":
                    print(f"{name}: {args.seconds:g} s ...", file=sys.stderr)
                    results.append(bench_config(name, store, workers, args, workdir))
                elif args.mode == "ratio":
                    results.append(ratio_config(name, store, workers, args, workdir))
                else:
                    results.append(paced_config(name, store, workers, args, workdir))
        finally:
            if redis is not None:
                stop(redis[1])
    shown = {"saturation": table, "ratio": ratio_table}.get(args.mode, paced_tables)
    print(shown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""HTTP throughput: full verification flows/s on one ``smsverify serve``, beside a no-op route.

For each configuration (store x workers) the runner starts one server with
``SMSVERIFY_BENCH=1`` (which adds ``GET /bench/noop``, a route that does no work), then
runs Locust twice against that same server, each as its own headless process: first
``NoopUser`` (the stack's own ceiling), then ``FlowUser`` (start, read the sandbox,
check: one approved verification). It prints flows/s, the flow's HTTP requests/s next to
the no-op's, and p50/p95/p99 latencies, as a Markdown table.

    .venv/bin/python bench/http.py [--seconds 20] [--users 16] [--configs memory,sqlite,redis2]

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
SHIM = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("smsverify_bench_http", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
NoopUser, FlowUser = module.NoopUser, module.FlowUser
"""


def jp_mobile() -> str:
    """A random valid Japanese mobile number in E.164 (090 and 8 more digits)."""
    return f"+8190{random.randrange(10_000_000, 100_000_000)}"


if __name__ == "smsverify_bench_http":
    # Loaded by the generated locustfile (see SHIM).
    from locust import FastHttpUser, constant, task

    class NoopUser(FastHttpUser):
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
                "/v1/verifications", json=body, name="start", catch_response=True
            ) as answer:
                if answer.status_code != 201:
                    answer.failure(f"start answered {answer.status_code}")
                    return
                verification_id = answer.json()["id"]
            with self.client.get(
                "/sandbox/messages?to=%2B" + e164[1:], name="sandbox", catch_response=True
            ) as answer:
                if answer.status_code != 200 or not answer.json():
                    answer.failure("no sandbox message")
                    return
                code = answer.json()[-1]["code"]
            with self.client.post(
                f"/v1/verifications/{verification_id}/check",
                json={"code": code},
                name="check",
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


def run_locust(base: str, user: str, seconds: float, users: int, prefix: Path) -> dict:
    """One headless Locust run; its per-name stats from the CSV."""
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
    command += ["-u", str(users), "-r", str(users), "--run-time", f"{int(seconds)}s"]
    command += ["--host", base, "--csv", str(prefix), "--loglevel", "WARNING", user]
    subprocess.run(
        command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def number(row: dict, key: str) -> float:
    value = row.get(key) or "0"
    return float(value) if value != "N/A" else 0.0


def bench_config(name: str, store: str, workers: int, args, workdir: Path) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    policy = workdir / "policy.toml"
    policy.write_text(POLICY)
    command = [sys.executable, "-m", "verifier.cli", "serve", "--port", str(port)]
    command += ["--store", store, "--workers", str(workers), "--policy", str(policy)]
    env = {**os.environ, "SMSVERIFY_BENCH": "1"}
    with open(workdir / f"{name}-server.log", "wb") as log:
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for_http(base + "/healthz", server)
            noop = run_locust(
                base, "NoopUser", args.seconds * NOOP_SHARE, args.users, workdir / f"{name}-noop"
            )
            flow_s = args.seconds * (1 - NOOP_SHARE)
            flow = run_locust(base, "FlowUser", flow_s, args.users, workdir / f"{name}-flow")
        finally:
            stop(server)
    parts = [flow.get(n, {}) for n in ("start", "sandbox", "check")]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per configuration")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--configs", default="memory,sqlite,redis2", help=",".join(CONFIGS))
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="smsverify-bench-") as tmp:
        workdir = Path(tmp)
        redis = None
        try:
            for name in args.configs.split(","):
                store, workers = CONFIGS[name]
                if store == "sqlite":
                    store = f"sqlite:///{workdir / name}.db"
                elif store == "redis":
                    redis = redis or start_redis(workdir)
                    if redis is None:
                        print(f"{name}: skipped, no redis-server on PATH", file=sys.stderr)
                        continue
                    store = redis[0]
                print(f"{name}: {args.seconds:g} s ...", file=sys.stderr)
                results.append(bench_config(name, store, workers, args, workdir))
        finally:
            if redis is not None:
                stop(redis[1])
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

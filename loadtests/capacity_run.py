"""``smsverify loadtest --find-capacity``: raise the load in steps until the SLO breaks.

``find(CapacityOptions)``:

1. loads the scenario and zeroes what the load generators do not play (as a load test);
2. starts ``smsverify serve`` once (``--server-workers``, ``--store``): the deployment
   under test keeps its state from step to step, like a real one through a peak;
3. for each step the search (``capacity.Search``) asks for, starts a fresh fake gateway
   on the same port (its timeline starts at the step; it is given enough channels never
   to queue, since the SMS provider is not what is measured), waits for the server's
   outbox to hand the last step's SMS over (at most ``DRAIN_MAX_S``), and runs Locust for the
   step's share of ``--duration``: open arrivals at the step's rate, at real time (no
   compression), with the scenario's attackers at the same ratio to buyers as in the
   scenario; it samples the CPU and memory of the server's and Locust's processes and
   the outbox's depth as the measured window (after the warm-up) begins and ends;
4. judges the step (``capacity.judge``), and writes ``OUT/capacity-report.md``,
   ``.html``, ``capacity-knee.png`` and ``capacity.json``.

Every server listens on 127.0.0.1; every step is bounded in sessions and time.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from simulation.arrivals import expected_count
from simulation.scenario import Scenario, load
from verifier import Policy
from verifier.errors import ConfigError
from verifier.http.server import OUTBOX_CONCURRENCY

from . import capacity_report, locustcsv, outcomes
from .capacity import GATEWAY, GENERATOR, Finding, Limits, Search, Step, judge, server_endpoints
from .config import KEY_ENV, LoadConfig
from .runner import (
    LOCUST_TIMEOUT_S,
    POLICY_CHANGES,
    STOP_GRACE_S,
    UNPLAYED,
    _locust,
    _server_command,
    _store,
    _twilio_services,
    check_generators,
)
from .servers import Children, fetch, free_port
from .transform import FRAUD_RATES, parse_duration, peak_rate

MIN_STEP_S = 12.0  # the shortest step's load: 4 s of warm-up, 8 s measured
# What a step spends besides its load: a fresh gateway, Locust's start, its grace and
# stop (measured: about 5.5 s), so that --duration bounds the whole search.
STEP_OVERHEAD_S = 6.0
DRAIN_MAX_S = 60.0  # a step starts once the last one's SMS left the outbox, or after this
WARMUP_PART = 1 / 3  # the first third of a step warms up: Locust's counts restart after it
GATEWAY_CHANNELS = 100_000  # the fake gateway never queues in a capacity run
CPU_WARNING = "CPU usage above"  # Locust's own warning when its process saturates
SERVER_WORKERS_MAX = 16
SESSIONS = 10_000  # concurrent buyers over all generators (a load test's default: 2,000)


@dataclass(frozen=True)
class CapacityOptions:
    scenario: str
    store: str | None = None  # None: a SQLite file in ``out``
    duration: str | float = "5m"  # the whole search; the steps share it
    steps: int = 8
    start_rate: float | None = None  # None: the scenario's peak buyer rate
    workers: int = 0  # Locust: 0 one process, N a master and N workers
    server_workers: int = 1
    slo_p99_ms: float = 250.0
    max_error_rate: float = 0.01
    out: Path = Path("reports/out/capacity")
    max_sessions: int = SESSIONS  # buyers in flight; a capacity run holds many at once
    api: str = "v1"


@dataclass
class CapacityRun:
    """One search: what it was told, and every step it ran."""

    scenario: Scenario
    options: CapacityOptions
    limits: Limits
    search: Search
    step_s: float
    store_kind: str
    finding: Finding = field(default_factory=Finding)
    cores: int = 1
    peak: float = 0.0  # the scenario's own peak buyer rate, for the headroom

    @property
    def command(self) -> str:
        return command(self.options)

    @property
    def deployment(self) -> str:
        return deployment(self)

    @property
    def headroom(self) -> float | None:
        """The capacity found over the scenario's peak (None if nothing held)."""
        found = self.finding.capacity
        return None if found is None or not self.peak > 0 else found.rate / self.peak


def mean_rate(scenario: Scenario) -> float:
    """The scenario's mean buyer arrival rate over its duration."""
    a = scenario.arrivals
    return expected_count(scenario.duration_s, a.rate_per_s, a.profile) / scenario.duration_s


def step_scenario(scenario: Scenario, rate: float, step_s: float) -> Scenario:
    """The scenario as one step plays it: a flat ``rate`` of buyers for ``step_s``, and each
    attacker at its scenario rate times ``rate`` over the scenario's mean buyer rate."""
    mean = mean_rate(scenario)
    k = rate / mean if mean > 0 else 0.0
    changes: dict = {
        "duration_s": step_s,
        "arrivals.rate_per_s": rate,
        "arrivals.profile": [[0.0, 1.0]],
        "gateway.busy": None,
    }
    for name in FRAUD_RATES:
        changes[f"fraud.{name}"] = getattr(scenario.fraud, name) * k
    return scenario.replace(**changes)


def group_usage(pgid: int) -> tuple[float, float] | None:
    """CPU seconds (user + system) and resident MB of every process in group ``pgid``.

    Read from ``/proc``; None where there is none (not Linux).
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    cpu = rss = 0.0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) != pgid:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / ticks
        rss += int(fields[21]) * page / 2**20
    return cpu, rss


def _usage(pids: list[int]) -> tuple[float, float] | None:
    found = [u for u in (group_usage(p) for p in pids) if u is not None]
    if not found:
        return None
    return sum(u[0] for u in found), sum(u[1] for u in found)


def _cpu(before, after, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0:
        return None
    return max(0.0, after[0] - before[0]) / seconds


def _lag_p99(sessions) -> float | None:
    if sessions.empty or "start_lag_s" not in sessions:
        return None
    lags = sessions["start_lag_s"].dropna().to_numpy(dtype=float)
    return float(np.percentile(lags, 99)) if lags.size else None


def outbox_depth(server: str) -> int | None:
    """SMS staged in the server's outbox (``smsverify_outbox_depth`` in ``/metrics``)."""
    try:
        status, text = fetch(server + "/metrics", timeout=10)
    except OSError:
        return None
    if status != 200:
        return None
    for line in text.splitlines():
        if line.startswith("smsverify_outbox_depth"):
            return int(float(line.split()[-1]))
    return None


def _drain(server: str) -> int | None:
    """Wait (at most ``DRAIN_MAX_S``) for the outbox to empty; the depth left."""
    deadline = time.monotonic() + DRAIN_MAX_S
    while True:
        depth = outbox_depth(server)
        if not depth or time.monotonic() > deadline:
            return depth
        time.sleep(0.5)  # polling the server's metrics between steps


def _validate(options: CapacityOptions) -> float:
    check_generators(options.api, options.workers, options.max_sessions)
    if not 1 <= options.server_workers <= SERVER_WORKERS_MAX:
        raise ConfigError(
            "server-workers", f"expected 1..{SERVER_WORKERS_MAX}, got {options.server_workers}"
        )
    memory = options.store is not None and options.store.lower().startswith("memory:")
    if memory and options.server_workers > 1:
        raise ConfigError(
            "store", "memory:// lives in one process: use one server worker, or SQLite/Redis"
        )
    total = parse_duration(options.duration)
    if not 1 <= options.steps <= 64:
        raise ConfigError("steps", f"expected 1..64, got {options.steps}")
    step_s = total / options.steps - STEP_OVERHEAD_S
    if step_s < MIN_STEP_S:
        raise ConfigError(
            "duration",
            f"{total:g} s over {options.steps} steps leaves {max(step_s, 0):g} s of load a "
            f"step (each also spends about {STEP_OVERHEAD_S:g} s starting and stopping); give "
            f"at least {(MIN_STEP_S + STEP_OVERHEAD_S) * options.steps:g} s or fewer steps",
        )
    return step_s


def _clean(out: Path) -> None:
    shutil.rmtree(out / "steps", ignore_errors=True)
    for name in (*capacity_report.OWN_FILES, "policy.toml", "server.db"):
        (out / name).unlink(missing_ok=True)
    for pattern in ("*.log", "server.db*"):
        for path in out.glob(pattern):
            path.unlink()


def _gateway_command(scenario_arg: str, port: int, seed: int) -> list[str]:
    command = [sys.executable, "-m", "loadtests.gateway", "--scenario", str(scenario_arg)]
    command += ["--port", str(port), "--compress", "1", "--seed", str(seed)]
    return [*command, "--channels", str(GATEWAY_CHANNELS), "--no-busy"]


@dataclass
class _Deployment:
    """The server under test and what every step needs to reach it."""

    children: Children
    server: str
    gateway_port: int
    api_key: str
    nonce: int
    account_sid: str = ""
    services: dict = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"


def find(options: CapacityOptions) -> CapacityRun:
    step_s = _validate(options)
    limits = Limits(options.slo_p99_ms, options.max_error_rate)
    scenario = load(options.scenario).replace(**UNPLAYED)
    peak = peak_rate(scenario)
    start = options.start_rate if options.start_rate is not None else peak
    search = Search(start=start, steps=options.steps)
    policy = Policy.default().replace(**POLICY_CHANGES)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    (out / "policy.toml").write_text(policy.to_toml(), "utf-8")
    store_url, store_kind = _store(options, out)  # the same default as a load test's
    run = CapacityRun(
        scenario, options, limits, search, step_s, store_kind, cores=os.cpu_count() or 1, peak=peak
    )
    with Children(out) as children:
        gw_port, sv_port = free_port(), free_port()
        there = _Deployment(
            children,
            f"http://127.0.0.1:{sv_port}",
            gw_port,
            secrets.token_urlsafe(24),
            secrets.randbelow(10**9),
        )
        command = _server_command(
            sv_port, store_url, there.gateway, out / "policy.toml", options.server_workers
        )
        children.start(
            "server",
            command,
            {
                "SMSVERIFY_ACCESS_LOG": "0",
                "SMSVERIFY_LOG_LEVEL": "WARNING",
                "SMSVERIFY_API_KEYS": f"verify={there.api_key}",
                "SMSVERIFY_HMAC_KEY": secrets.token_hex(32),
            },
        )
        children.wait_healthy("server", there.server + "/healthz")
        if options.api == "twilio":
            there.account_sid = "AC" + secrets.token_hex(16)
            there.services = _twilio_services(there.server, there.account_sid, there.api_key)
        while (rate := search.next_rate(run.finding.tried)) is not None:
            index = len(run.finding.steps) + 1
            step = _step(there, options, limits, scenario, policy, rate, step_s, index)
            run.finding.steps.append(step)
            _write(out, run)  # after every step: an interrupted search keeps what it found
    _write(out, run)
    return run


def _write(out: Path, run: CapacityRun) -> None:
    capacity_report.write(out, run)
    (out / "capacity.json").write_text(json.dumps(_json(run), indent=2) + "\n", "utf-8")


def _step(
    there: _Deployment,
    options: CapacityOptions,
    limits: Limits,
    scenario: Scenario,
    policy: Policy,
    rate: float,
    step_s: float,
    index: int,
) -> Step:
    """Run step ``index`` at ``rate`` checkouts/s and judge it on its last two thirds."""
    children = there.children
    warmup_s = step_s * WARMUP_PART
    window_s = step_s - warmup_s
    k = index - 1
    folder = Path(options.out) / "steps" / f"{index:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    # A fresh gateway: its timeline and inboxes start with the step. It holds nothing to
    # save, and a polite stop waits on the server's idle keep-alive connections.
    children.stop("gateway", signal.SIGKILL)
    command = _gateway_command(options.scenario, there.gateway_port, scenario.seed + k)
    children.start("gateway", command)
    children.wait_healthy("gateway", there.gateway + "/healthz")
    left = _drain(there.server)  # no step inherits the last one's SMS backlog
    processes = max(1, options.workers)
    settings = LoadConfig(
        scenario=step_scenario(scenario, rate, step_s).to_dict(),
        gateway=there.gateway,
        out=str(folder / "outcomes"),
        run_s=step_s,
        processes=processes,
        max_sessions=options.max_sessions,
        code_length=policy.code.length,
        nonce=there.nonce + k,  # new numbers and accounts every step
        api=options.api,
        account_sid=there.account_sid,
        services=there.services,
        warmup_s=warmup_s,
    )
    config = settings.write(folder / "locust-config.json")
    env = {"SMSVERIFY_LOADTEST_CONFIG": str(config), KEY_ENV: there.api_key}
    server_pid = children.procs["server"].pid
    began = time.monotonic()
    main = _locust(children, there.server, folder, options.workers, step_s, env)
    generators = [p.pid for n, p in children.procs.items() if n.startswith("locust")]
    # CPU and memory over the measured window: from the warm-up's end to just before
    # the cut-off, while every process still runs.
    lead = settings.lead_s
    children.wait(main, lead + warmup_s)  # returns early only if Locust ends early
    gateway_pid = [children.procs["gateway"].pid]
    before, gen_before, mark = _usage([server_pid]), _usage(generators), time.monotonic()
    gw_before = _usage(gateway_pid)
    outbox_start = outbox_depth(there.server)
    children.wait(main, max(0.0, began + lead + step_s - 0.5 - time.monotonic()))
    after, gen_after, gw_after = _usage([server_pid]), _usage(generators), _usage(gateway_pid)
    outbox_end = outbox_depth(there.server)
    seconds = time.monotonic() - mark
    if children.wait(main, STOP_GRACE_S + LOCUST_TIMEOUT_S) is None:
        children.stop(main)
    log = "\n".join(children.log_tail(n, 400) for n in children.procs if n.startswith("locust"))
    for name in [n for n in children.procs if n.startswith("locust")]:
        children.stop(name)
    sessions, headers = outcomes.read(folder / "outcomes")
    buyers = sessions[sessions["actor"] == "buyer"] if len(sessions) else sessions
    overflow = int((buyers["outcome"] == outcomes.OVERFLOW).sum()) if len(buyers) else 0
    measured = buyers[buyers["arrival_s"] >= warmup_s] if len(buyers) else buyers
    started = int((measured["outcome"] != outcomes.OVERFLOW).sum()) if len(measured) else 0
    prefix = folder / "locust"
    step = Step(
        index=index,
        rate=rate,
        seconds=window_s,
        buyers=started,
        overflow=overflow,
        lag_p99_s=_lag_p99(buyers),
        generator_cpu_warning=CPU_WARNING in log,
        endpoints=server_endpoints(locustcsv.endpoints(prefix)),
        errors=sum(
            f.count
            for f in locustcsv.failures(prefix)
            if f.kind == "error" and not f.name.endswith(GATEWAY)
        ),
        server_cpu=_cpu(before, after, seconds),
        server_rss_mb=None if after is None else after[1],
        generator_cpu=_cpu(gen_before, gen_after, seconds),
        gateway_cpu=_cpu(gw_before, gw_after, seconds),
        load_avg=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        outbox_start=outbox_start,
        outbox_end=outbox_end,
        outbox_left=left,
    )
    if len(headers) < processes:
        why = f"{len(headers)} of {processes} load generators wrote their outcomes"
        return replace(step, verdict=GENERATOR, why=why)
    verdict, why = judge(step, limits)
    return replace(step, verdict=verdict, why=why)


def _elided(text: str) -> str:
    """A file path as ``…/name``, a SQLite URL as ``sqlite:///…/name``; anything else as
    it is (reports name no folder of the machine they ran on)."""
    scheme, path = ("sqlite:///", text[10:]) if text.startswith("sqlite:///") else ("", text)
    if (not scheme and "://" in text) or "/" not in path:
        return text
    return f"{scheme}…/{path.rpartition('/')[2]}"


def _outbox_threads() -> str | None:
    """``SMSVERIFY_OUTBOX_CONCURRENCY`` as the server inherits it, if set."""
    return os.environ.get(OUTBOX_CONCURRENCY) or None


def command(options: CapacityOptions) -> str:
    """The command line that runs this search again (``--out`` left out, folders elided)."""
    scenario = _elided(options.scenario)
    threads = _outbox_threads()
    words = [f"{OUTBOX_CONCURRENCY}={threads}"] if threads else []
    words += ["smsverify", "loadtest", "--scenario", scenario, "--find-capacity"]
    words += ["--duration", str(options.duration), "--steps", str(options.steps)]
    if options.store is not None:
        words += ["--store", _elided(options.store)]
    words += ["--server-workers", str(options.server_workers)]
    if options.workers:
        words += ["--workers", str(options.workers)]
    if options.start_rate is not None:
        words += ["--start-rate", f"{options.start_rate:g}"]
    words += ["--slo-p99-ms", f"{options.slo_p99_ms:g}"]
    words += ["--max-error-rate", f"{options.max_error_rate:g}"]
    if options.api != "v1":
        words += ["--api", options.api]
    return " ".join(words)


def deployment(run: CapacityRun) -> str:
    """The deployment under test, in a few words."""
    o = run.options
    workers = "1 server worker" if o.server_workers == 1 else f"{o.server_workers} server workers"
    threads = _outbox_threads()
    outbox = f", {threads} outbox threads" if threads else ""
    return f"{run.store_kind.split(' (')[0]}, {workers}{outbox}, API {o.api}"


def _json(run: CapacityRun) -> dict:
    """The run for a program: options, limits and every step with its endpoints."""
    found = run.finding.capacity
    options = asdict(run.options)
    options.pop("out")  # where it was written is the reader's business, not the result's
    options["scenario"] = _elided(options["scenario"])
    if options["store"] is not None:
        options["store"] = _elided(options["store"])
    return {
        "scenario": run.scenario.name,
        "deployment": deployment(run),
        "command": command(run.options),
        "lower_bound": run.finding.generator_limited is not None
        or run.finding.first_broken is None,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        "limits": asdict(run.limits),
        "step_s": run.step_s,
        "store": run.store_kind,
        "capacity_checkouts_per_s": None if found is None else found.rate,
        "capacity_requests_per_s": None if found is None else found.requests_per_s,
        "limit": run.finding.limit(run.cores, run.options.server_workers),
        "scenario_peak_checkouts_per_s": run.peak,
        "headroom": run.headroom,
        "steps": [
            {**asdict(s), "requests_per_s": s.requests_per_s, "p99_ms": s.p99_ms}
            for s in run.finding.steps
        ],
    }

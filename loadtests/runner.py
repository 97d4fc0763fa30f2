"""One load test from start to report: gateway, server, Locust, model, invariants.

``run(Options)``:

1. loads the scenario, zeroes what the load generators do not play (``UNPLAYED``),
   picks the compression and rate scale (``loadtests.transform``) and transforms it;
2. writes the server's policy (the shipped default with ``POLICY_CHANGES``);
3. starts the fake gateway and ``smsverify serve --sender`` that gateway on free
   loopback ports and waits for their ``/healthz``;
4. runs Locust headless (one process, or a master and ``workers`` workers) with the
   configuration in ``SMSVERIFY_LOADTEST_CONFIG``, bounded in users and time;
5. reads the gateway's ``/stats`` and the server's ``/metrics``, then stops everything
   it started (also on errors and Ctrl-C);
6. runs the model on the same transformed scenario, checks the invariants on the
   server's store, and writes ``OUT/load-report.md`` and ``.html``.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from simulation.arrivals import expected_count
from simulation.scenario import load
from verifier import Policy
from verifier.errors import ConfigError

from . import comparison, invariants, locustcsv, outcomes, report
from .config import APIS, KEY_ENV, LoadConfig, basic
from .servers import Children, fetch, fetch_json, free_port
from .transform import choose, parse_duration

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
POLICY_CHANGES = {"limits.per_ip_per_hour": 0}  # all load comes from 127.0.0.1
# What the load generators' visitors do not do, taken out of the scenario on both sides:
# recycled numbers, the SIM farm, payment summaries (step-up) and voice-call fallback.
UNPLAYED = {
    "numbers.recycled_share": 0.0,
    "fraud.farming_rate_per_s": 0.0,
    "payments": None,
    "users.call_after_help_share": 0.0,
}
MAX_SESSIONS = 2000  # concurrent sessions over all load generators
STOP_GRACE_S = 3.0  # Locust's own time limit comes this long after the cut-off
LOCUST_TIMEOUT_S = 90.0  # beyond its time limit, Locust is stopped by force
WORKERS_MAX = 64
# Rows of measured-against-predicted an API cannot play: /v2 binds no number to an
# account, so its enumerator has no registration to reveal while the model's does.
SKIPPED = {"twilio": ("enumeration_revealed",)}
OWN_FILES = (
    "load-report.md",
    "load-report.html",
    report.PLOT,
    "locust.html",
    "gateway-stats.json",
    "server-metrics.txt",
    "locust-config.json",
    "policy.toml",
)


@dataclass(frozen=True)
class Options:
    scenario: str
    store: str | None = None  # None: a SQLite file in ``out``, so invariants can be read
    duration: str | float = "60s"
    compress: float | None = None
    rate_scale: float | None = None
    workers: int = 0
    out: Path = Path("reports/out/loadtest")
    max_sessions: int = MAX_SESSIONS
    api: str = "v1"  # "twilio": the same visitors through the Verify v2 shape (/v2)


def _clean(out: Path) -> None:
    """Remove what an earlier run left in ``out`` (only this runner's own files)."""
    shutil.rmtree(out / "outcomes", ignore_errors=True)
    for name in OWN_FILES:
        (out / name).unlink(missing_ok=True)
    for pattern in ("locust_*.csv", "*.log", "server.db*"):
        for path in out.glob(pattern):
            path.unlink()


def _store(options: Options, out: Path) -> tuple[str, str]:
    """The store URL for the server, and its kind for the report."""
    if options.store is None:
        return f"sqlite:///{(out / 'server.db').resolve()}", "SQLite (a file in the output folder)"
    kind = options.store.partition(":")[0].lower()
    return options.store, {"memory": "memory://", "sqlite": "SQLite", "redis": "Redis"}.get(
        kind, kind
    )


def _locust(children: Children, host: str, out: Path, workers: int, run_s: float, env: dict):
    """Start Locust headless; return the name of the process whose exit ends the run."""
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    processes = max(1, workers)
    limit = f"{math.ceil(run_s + STOP_GRACE_S)}s"
    command = [*base, "--headless", "-u", str(processes), "-r", str(processes), "-t", limit]
    command += ["--stop-timeout", "2", "--csv", str(out / "locust"), "--html"]
    command += [str(out / "locust.html"), "--host", host, "--only-summary"]
    command += ["--loglevel", "WARNING", "--exit-code-on-error", "0"]
    if workers == 0:
        children.start("locust", command, env)
        return "locust"
    port = free_port()
    command += ["--master", "--expect-workers", str(workers), "--expect-workers-max-wait", "60"]
    command += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    children.start("locust-master", command, env)
    for k in range(workers):
        worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        children.start(f"locust-worker-{k}", [*worker, "--loglevel", "WARNING"], env)
    return "locust-master"


def _gateway_command(scenario_arg: str, port: int, transform, scenario) -> list[str]:
    command = [sys.executable, "-m", "loadtests.gateway", "--scenario", str(scenario_arg)]
    command += ["--port", str(port), "--compress", repr(transform.compress)]
    return [*command, "--seed", str(scenario.seed)]


def _server_command(
    port: int, store: str, gateway: str, policy: Path, workers: int = 1
) -> list[str]:
    command = [sys.executable, "-m", "smsverify", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--store", store, "--sender", gateway]
    return [*command, "--policy", str(policy), "--workers", str(workers)]


def _twilio_services(server: str, account_sid: str, key: str) -> dict[str, str]:
    """Create the run's ``/v2`` services: the shop's, and one for the brute-forcer.

    The brute-forcer's accounts start with ``f`` (``loadtests/visitors.py``); on ``/v2`` an
    account id is the service SID and a pseudonym of the number, so its own service is
    what lets the invariants pick out its verifications.
    """
    services = {}
    for letter, name in (("", "Load test shop"), ("f", "Load test brute force")):
        status, text = fetch(
            server + "/v2/Services",
            "POST",
            form={"FriendlyName": name},
            headers={"Authorization": basic(account_sid, key)},
        )
        if status != 201:
            raise RuntimeError(f"creating a /v2 service answered {status}: {text[:200]}")
        services[letter] = json.loads(text)["sid"]
    return services


def check_generators(api: str, workers: int, max_sessions: int) -> None:
    """The options every run of the load generators shares (a load test, a capacity search)."""
    if api not in APIS:
        raise ConfigError("api", f"expected one of {', '.join(APIS)}, got {api!r}")
    if not 0 <= workers <= WORKERS_MAX:
        raise ConfigError("workers", f"expected 0..{WORKERS_MAX}, got {workers}")
    if max_sessions < 1:
        raise ConfigError("max_sessions", "must be at least 1")


def run(options: Options) -> report.LoadRun:
    check_generators(options.api, options.workers, options.max_sessions)
    scenario = load(options.scenario).replace(**UNPLAYED)
    run_s = parse_duration(options.duration)
    transform = choose(scenario, run_s, options.compress, options.rate_scale)
    played = transform.apply(scenario)
    policy = Policy.default().replace(**POLICY_CHANGES)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    (out / "policy.toml").write_text(policy.to_toml(), "utf-8")
    store_url, store_kind = _store(options, out)
    processes = max(1, options.workers)
    nonce = secrets.randbelow(10**9)
    api_key = secrets.token_urlsafe(24)  # this run's credential, for the server and Locust

    with Children(out) as children:
        gw_port, sv_port = free_port(), free_port()
        gateway = f"http://127.0.0.1:{gw_port}"
        server = f"http://127.0.0.1:{sv_port}"
        children.start("gateway", _gateway_command(options.scenario, gw_port, transform, scenario))
        children.start(
            "server",
            _server_command(sv_port, store_url, gateway, out / "policy.toml"),
            {
                "SMSVERIFY_ACCESS_LOG": "0",
                "SMSVERIFY_LOG_LEVEL": "WARNING",
                "SMSVERIFY_API_KEYS": f"verify={api_key}",
                "SMSVERIFY_HMAC_KEY": secrets.token_hex(32),
            },
        )
        children.wait_healthy("gateway", gateway + "/healthz")
        children.wait_healthy("server", server + "/healthz")
        account_sid, services = "", {}
        if options.api == "twilio":
            account_sid = "AC" + secrets.token_hex(16)
            services = _twilio_services(server, account_sid, api_key)
        config = LoadConfig(
            scenario=played.to_dict(),
            gateway=gateway,
            out=str(out / "outcomes"),
            run_s=run_s,
            processes=processes,
            max_sessions=options.max_sessions,
            code_length=policy.code.length,
            nonce=nonce,
            api=options.api,
            account_sid=account_sid,
            services=services,
        ).write(out / "locust-config.json")
        env = {"SMSVERIFY_LOADTEST_CONFIG": str(config), KEY_ENV: api_key}
        main = _locust(children, server, out, options.workers, run_s, env)
        if children.wait(main, run_s + STOP_GRACE_S + LOCUST_TIMEOUT_S) is None:
            children.stop(main)
        stats = fetch_json(gateway + "/stats?messages=1")
        (out / "gateway-stats.json").write_text(json.dumps(stats) + "\n", "utf-8")
        metrics_text = fetch(server + "/metrics")[1]
        (out / "server-metrics.txt").write_text(metrics_text, "utf-8")
        children.stop_all()
        sessions, headers = outcomes.read(out / "outcomes")
        if len(headers) < processes:
            tail = children.log_tail(main, 30)
            raise RuntimeError(
                f"{len(headers)} of {processes} load generators wrote their outcomes; "
                f"Locust's log ends:\n{tail}"
            )

    cut_s = min(h["stopped_at_s"] for h in headers)
    arrivals = played.arrivals
    expected = expected_count(played.duration_s, arrivals.rate_per_s, arrivals.profile)
    prediction = comparison.predict(played, policy, cut_s, expected)
    measured = comparison.measured(sessions, stats, played, cut_s)
    if store_url.startswith("memory:"):
        checks = invariants.from_answers(sessions, policy)
    else:
        brute_prefix = f"{services['f']}:" if options.api == "twilio" else f"f{nonce}-"
        checks = invariants.from_store(store_url, policy, brute_prefix=brute_prefix)
    checks.append(invariants.server_errors(metrics_text))
    result = report.LoadRun(
        scenario=scenario,
        played=played,
        transform=transform,
        policy=policy,
        policy_changes=POLICY_CHANGES,
        unplayed=UNPLAYED,
        store_kind=store_kind,
        workers=options.workers,
        sessions=sessions,
        headers=headers,
        cut_s=cut_s,
        gateway_stats=stats,
        endpoints=locustcsv.endpoints(out / "locust"),
        failures=locustcsv.failures(out / "locust"),
        rows=comparison.rows(measured, prediction, played, skip=SKIPPED.get(options.api, ())),
        prediction=prediction,
        invariants=checks,
        locust_version=f"Locust {version('locust')}",
        api=options.api,
    )
    report.write(out, result)
    return result

"""``smsverify simulate``: run a scenario through the model and write its tables.

Writes ``OUT/metrics.json`` (the contract keys, means and ``_ci95`` half-widths with
replications; JSON ``null`` for undefined values), ``OUT/verifications.csv`` (one row
per session) and ``OUT/timeseries.csv`` (one row per simulated minute), then prints a
short summary. ``--out`` is created if missing; the three files are overwritten.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from verifier import ConfigError, Policy

from . import scenario as scenarios
from .arrivals import expected_count
from .kpis import json_safe
from .run import Result, simulate

LONG_RUN_CHECKOUTS = 50_000  # show a progress bar above this many expected checkouts


def simulate_command(args: argparse.Namespace) -> int:
    """Entry point of ``smsverify simulate`` (arguments from ``smsverify.cli``)."""
    scenario = scenarios.load(args.scenario)
    if args.seed is not None:
        scenario = scenario.replace(seed=args.seed)
    policy = Policy.from_toml(args.policy) if args.policy else Policy.default()
    replications = args.replications
    if replications < 1:
        raise ConfigError("replications", "must be at least 1")
    console = Console(stderr=True)
    started = time.perf_counter()
    expected = replications * expected_count(
        scenario.duration_s, scenario.arrivals.rate_per_s, scenario.arrivals.profile
    )
    if expected >= LONG_RUN_CHECKOUTS and console.is_terminal:
        result = _with_progress(console, scenario, policy, replications)
    else:
        result = simulate(scenario, policy, replications)
    result.metrics["wall_s"] = time.perf_counter() - started
    out = Path(args.out)
    write(result, out)
    summary(Console(), result, out, policy)
    return 0


def _with_progress(console, scenario, policy, replications) -> Result:
    total = scenario.duration_s * replications
    columns = (TextColumn("simulating {task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(scenario.name, total=total)

        def tick(i: int, sim_time: float) -> None:
            bar.update(task, completed=i * scenario.duration_s + min(sim_time, scenario.duration_s))

        return simulate(scenario, policy, replications, tick)


def write(result: Result, out: Path) -> None:
    """Write ``metrics.json``, ``verifications.csv`` and ``timeseries.csv`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(result.metrics), indent=2, allow_nan=False)
    (out / "metrics.json").write_text(text + "\n", "utf-8")
    result.verifications().to_csv(out / "verifications.csv", index=False)
    result.timeseries().to_csv(out / "timeseries.csv", index=False)


def _fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def _pm(metrics: dict, key: str, unit: str = "", digits: int = 1, scale: float = 1.0) -> str:
    value, ci = metrics.get(key), metrics.get(f"{key}_ci95")
    if value is not None:
        value = value * scale
    text = _fmt(value, unit, digits)
    if ci is not None:
        text += f" ± {ci * scale:,.{digits}f}"
    return text


def summary(console: Console, result: Result, out: Path, policy: Policy) -> None:
    """Print the headline numbers of a run."""
    m = result.metrics
    table = Table(
        title=f"{m['scenario']}: seed {m['seed']}, {m['replications']} replication(s)",
        show_header=False,
        title_justify="left",
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("checkouts", _pm(m, "checkouts", digits=0)),
        (
            "verified (conversion)",
            f"{_pm(m, 'verified', digits=0)} ({_pm(m, 'conversion', ' %', 1, 100)})",
        ),
        (
            "time to verify p50 / p95 / p99",
            f"{_fmt(m['ttv_p50_s'], ' s')} / {_fmt(m['ttv_p95_s'], ' s')} / "
            f"{_fmt(m['ttv_p99_s'], ' s')}",
        ),
        (
            "abandoned (gave up, locked out)",
            f"{_pm(m, 'abandoned', digits=0)} ({_fmt(m['gave_up'], digits=0)}, "
            f"{_fmt(m['legit_lockouts'], digits=0)})",
        ),
        ("codes expired at check", _pm(m, "codes_expired", digits=0)),
        (
            "SMS sent (per verified, cost)",
            f"{_pm(m, 'sms_sent', digits=0)} ({_fmt(m['sms_per_verified'], digits=2)}, "
            f"{_fmt(m['sms_cost'], digits=2)})",
        ),
        (
            "gateway wait mean / p99",
            f"{_fmt(m['gateway_wait_mean_s'], ' s', 2)} / {_fmt(m['gateway_wait_p99_s'], ' s', 2)}",
        ),
        ("gateway utilisation", _pm(m, "gateway_utilization", " %", 1, 100)),
        ("fraud flags", _pm(m, "fraud_flags", digits=0)),
        (
            "brute force: checks / successes",
            f"{_fmt(m['bruteforce_attempts'], digits=0)} / "
            f"{_fmt(m['bruteforce_successes'], digits=0)}",
        ),
        (
            "pumping SMS sent / blocked",
            f"{_fmt(m['pumping_sms_sent'], digits=0)} / {_fmt(m['pumping_sms_blocked'], digits=0)}",
        ),
        (
            "step-up: buyers spared a code (SMS saved, est.)",
            f"{_pm(m, 'codes_skipped', digits=0)} ({_fmt(m['sms_saved_est'], digits=0)})",
        ),
        (
            "voice calls (answered, cost) / approved",
            f"{_fmt(m['voice_calls'], digits=0)} ({_fmt(m['voice_calls_answered'], digits=0)}, "
            f"{_fmt(m['voice_cost'], digits=2)}) / {_fmt(m['approved_by_call'], digits=0)}",
        ),
        (
            "card fraud: payments / passed / loss",
            f"{_fmt(m['fraud_payments'], digits=0)} / {_fmt(m['fraud_payments_passed'], digits=0)}"
            f" / {_fmt(m['fraud_loss'], digits=0)}",
        ),
        ("SimPy events / wall", f"{_fmt(m['sim_events'], digits=0)} / {m['wall_s']:.2f} s"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    for problem in policy.non_conformities():
        console.print(f"[yellow]policy not conforming to NIST SP 800-63B:[/] {problem}")
    console.print(f"wrote {out / 'metrics.json'}, verifications.csv, timeseries.csv")

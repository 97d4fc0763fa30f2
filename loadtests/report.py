"""The load report: ``OUT/load-report.md``, ``OUT/load-report.html`` and a PNG plot.

Sections: the run and its transformations, requests per endpoint (Locust's CSV),
outcomes by error code, SMS and the gateway queue over time (the gateway's per-second
series), measured against predicted, and the security invariants. Nothing in it names
a path of the machine it ran on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.arrivals import rate_at
from simulation.scenario import Scenario
from verifier import Policy

from .comparison import THRESHOLD, Prediction, Row
from .document import Section, fmt, markdown, page
from .invariants import Invariant
from .locustcsv import Endpoint, Failure
from .outcomes import outcome_counts
from .transform import PEAK_BUYERS_PER_S, Transform

PLOT = "load-report.png"
SERIES_ROWS = 12  # the over-time table groups seconds into about this many rows


@dataclass
class LoadRun:
    """Everything one load test measured and predicted, as the report shows it."""

    scenario: Scenario  # as loaded, with what the load test does not play set to zero
    played: Scenario  # transformed: what the load generators and the model played
    transform: Transform
    policy: Policy
    policy_changes: dict
    unplayed: dict
    store_kind: str
    workers: int  # 0: one Locust process; N: a master and N workers
    sessions: pd.DataFrame
    headers: list[dict]
    cut_s: float
    gateway_stats: dict
    endpoints: list[Endpoint]
    failures: list[Failure]
    rows: list[Row]
    prediction: Prediction
    invariants: list[Invariant]
    locust_version: str
    api: str = "v1"  # "twilio": the visitors called the Verify v2 shape (/v2)

    @property
    def passed(self) -> bool:
        return all(i.passed is not False for i in self.invariants)


def _signed(value: float | None) -> str:
    if value is None:
        return "-"
    percent = round(value * 100)
    return f"{percent:+d} %" if percent else "0 %"


def _how(default: bool, why: str) -> str:
    return f"default: {why}" if default else "given"


def settings(run: LoadRun) -> Section:
    t, s, p = run.transform, run.scenario, run.played
    window, g = t.window_s(s), s.gateway
    scheduled = int(run.sessions["actor"].eq("buyer").sum())
    overflow = sum(h["overflow"] for h in run.headers)
    cap = run.headers[0]["sessions_cap"] if run.headers else None
    lag_max = max((h["start_lag_max_s"] or 0.0 for h in run.headers), default=None)
    lag_mean = max((h["start_lag_mean_s"] or 0.0 for h in run.headers), default=None)
    peak = p.arrivals.rate_per_s * max(m for _, m in p.arrivals.profile)
    changes = ", ".join(f"`{k} = {v}`" for k, v in run.policy_changes.items())
    unplayed = ", ".join(f"`{k}`" for k in run.unplayed)
    generators = (
        "1 Locust process"
        if run.workers == 0
        else f"1 Locust master and {run.workers} worker{'s' if run.workers > 1 else ''} "
        "(arrivals split between the workers)"
    )
    gateway = (
        f"{g.channels} channels, service time {g.service_time.to_dict()}, loss {g.loss_rate:g}"
    )
    if g.busy is not None:
        b = p.gateway.busy
        gateway += f", busy every {b.every_s:g} s for {b.length_s:g} s (×{b.slowdown:g})"
    scale_rule = f"X·Y ≤ 1 and a peak of at most {PEAK_BUYERS_PER_S:g} buyers/s"
    not_played = (
        f"{unplayed} taken out on both sides (no pre-registered numbers, no SIM farm, "
        "no payment summaries, no voice-call fallback)"
    )
    api = "`/v1`, smsverify's own API"
    if run.api == "twilio":
        api = (
            "`/v2`, the Twilio Verify shape, called as an app using the `twilio` SDK does "
            "(form bodies, HTTP Basic, checks by `To`); one service for the shop and one "
            "for the brute-forcer"
        )
        not_played += (
            "; binding a number to an account (no `/v2` equivalent): buyers register "
            "nothing, so the enumerator probes only fresh numbers and its "
            "revealed-registration row is left out"
        )
    rows = [
        ["scenario", f"{s.name}: {s.description}" if s.description else s.name],
        [
            "run",
            f"{t.run_s:g} s: arrivals during the first {window:g} s, then "
            f"{t.drain_s(s):g} s for the last buyers to finish",
        ],
        [
            "compression X",
            f"{t.compress:g} ({_how(t.compress_default, 'fits the duration')}): "
            f"{s.duration_s:g} s of scenario in {window:g} s; buyer and gateway timings, "
            "and the policy's timers, stay real",
        ],
        [
            "rate scale Y",
            f"{t.rate_scale:.4g} ({_how(t.rate_scale_default, scale_rule)}); buyers arrive "
            f"at X·Y = {t.compress * t.rate_scale:.3g} times the original rate",
        ],
        [
            "buyer arrivals",
            f"base {p.arrivals.rate_per_s:.3g}/s, peak {peak:.3g}/s; {scheduled} buyers scheduled",
        ],
        [
            "load generators",
            f"{generators}; open arrivals; at most {fmt(cap)} concurrent sessions per process; "
            f"{overflow} arrivals over the cap (overflow)",
        ],
        [
            "schedule lag",
            f"sessions started {fmt(lag_mean, 3)} s late on average, {fmt(lag_max, 3)} s at worst",
        ],
        [
            "server",
            f"`smsverify serve`, 1 worker, {run.store_kind} store, sender: the fake gateway",
        ],
        [
            "policy",
            f"the shipped default except {changes}: every request comes from 127.0.0.1 "
            "(the model's buyers carry no IP either)",
        ],
        ["gateway", gateway],
        ["API", api],
        ["not played", not_played],
        [
            "cut-off",
            f"sessions still running {run.cut_s:.1f} s after time zero are cut off, on both sides",
        ],
        ["Locust", run.locust_version],
    ]
    return Section("Run").table(["setting", "value"], rows)


def requests(run: LoadRun) -> Section:
    refused, errors = {}, {}
    for f in run.failures:
        bucket = refused if f.kind == "refused" else errors
        bucket[f.name] = bucket.get(f.name, 0) + f.count
    rows = [
        [
            e.name,
            fmt(e.requests),
            fmt(e.rps, 2),
            fmt(e.p50_ms, 0),
            fmt(e.p95_ms, 0),
            fmt(e.p99_ms, 0),
            fmt(refused.get(e.name, 0)) if e.name != "Aggregated" else fmt(sum(refused.values())),
            fmt(errors.get(e.name, 0)) if e.name != "Aggregated" else fmt(sum(errors.values())),
        ]
        for e in run.endpoints
    ]
    section = Section("Requests per endpoint")
    section.table(
        ["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "refusals", "errors"],
        rows,
    )
    return section.text(
        "From Locust's CSV (`locust_stats.csv`; Locust's own page is `locust.html`). "
        "Latencies include refusals. The gateway's inbox is a long poll: its latency is how "
        "long a phone waited for an SMS, not a service time. *Refusals* are the contract's "
        "business outcomes (reported to Locust as failures named by their code); *errors* "
        "are transport errors and answers outside the contract."
    )


def outcomes(run: LoadRun) -> Section:
    section = Section("Outcomes by error code")
    rows = [[f.name, f.what, fmt(f.count)] for f in run.failures if f.kind == "refused"]
    section.table(["endpoint", "code", "answers"], rows or [["-", "none", "0"]])
    if run.api == "twilio":
        section.text(
            "Through `/v2` the codes are ours as read back from Twilio's answers "
            "(`loadtests/twilio_api.py`): a wrong code is a 200 with `valid: false`; a "
            "20404 on a check is read from the verification's status."
        )
    errors = [[f.name, f.what, fmt(f.count)] for f in run.failures if f.kind == "error"]
    total = sum(f.count for f in run.failures if f.kind == "error")
    section.text(f"Errors (transport, 5xx, answers outside the contract): {total}.")
    if errors:
        section.table(["endpoint", "error", "count"], errors)
    counts = outcome_counts(run.sessions, run.cut_s)
    section.text("Sessions by how they ended:")
    section.table(
        ["actor", "outcome", "sessions"],
        [[r.actor, r.outcome, fmt(int(r.sessions))] for r in counts.itertuples()],
    )
    return section


def _series(run: LoadRun) -> pd.DataFrame:
    series = pd.DataFrame(run.gateway_stats.get("timeseries") or [])
    end = math.ceil(run.transform.run_s)
    seconds = pd.DataFrame({"t": np.arange(0, end)})
    if series.empty:
        series = pd.DataFrame(
            columns=["t", "accepted", "delivered", "queue_max", "wait_sum_s", "waits"]
        )
    frame = seconds.merge(series, on="t", how="left").fillna(0)
    buyers = run.sessions[run.sessions["actor"] == "buyer"]
    arrivals = np.bincount(
        np.clip(buyers["arrival_s"].astype(float).to_numpy() // 1, 0, end - 1).astype(int),
        minlength=end,
    )
    frame["arrivals"] = arrivals[:end]
    return frame


def over_time(run: LoadRun, out: Path) -> Section:
    frame = _series(run)
    _plot(run, frame, out / PLOT)
    step = max(1, math.ceil(len(frame) / SERIES_ROWS))
    rows = []
    for start in range(0, len(frame), step):
        part = frame.iloc[start : start + step]
        waits = part["waits"].sum()
        rows.append(
            [
                f"{start}–{start + len(part)}",
                fmt(int(part["arrivals"].sum())),
                fmt(part["accepted"].sum() / len(part), 2),
                fmt(part["delivered"].sum() / len(part), 2),
                fmt(int(part["queue_max"].max())),
                fmt(part["wait_sum_s"].sum() / waits if waits else None, 3),
            ]
        )
    section = Section("SMS and the gateway queue over time").image(PLOT)
    section.table(
        [
            "seconds",
            "buyers arrived",
            "SMS/s accepted",
            "SMS/s delivered",
            "queue max",
            "wait mean (s)",
        ],
        rows,
    )
    return section.text(
        "From the fake gateway's per-second series (`gateway-stats.json`), on the run's "
        "timeline (second 0 is time zero, shared by every load generator)."
    )


def _plot(run: LoadRun, frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = run.played
    t = frame["t"].to_numpy(dtype=float)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    axes[0].bar(t, frame["arrivals"], width=1.0, align="edge", color="#9ecae1", label="measured")
    inside = np.append(t[t < p.duration_s], p.duration_s)
    last = np.minimum(inside, np.nextafter(p.duration_s, 0))  # the end repeats the last step
    rate = rate_at(last, p.arrivals.rate_per_s, p.arrivals.profile)
    axes[0].step(inside, rate, where="post", color="#08519c", label="scenario rate")
    axes[0].set_ylabel("buyers / s")
    axes[0].legend(loc="upper right")
    axes[1].plot(t, frame["accepted"], label="accepted", color="#e6550d")
    axes[1].plot(t, frame["delivered"], label="delivered", color="#31a354")
    axes[1].set_ylabel("SMS / s")
    axes[1].legend(loc="upper right")
    axes[2].plot(t, frame["queue_max"], color="#756bb1", label="queue (max)")
    axes[2].set_ylabel("messages waiting")
    waits = frame["wait_sum_s"] / frame["waits"].where(frame["waits"] > 0)
    twin = axes[2].twinx()
    twin.plot(t, waits, color="#636363", linestyle=":", label="wait mean (s)")
    twin.set_ylabel("wait (s)")
    lines = axes[2].get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    axes[2].legend(lines[0] + more[0], lines[1] + more[1], loc="upper right")
    axes[2].set_xlabel("seconds since time zero")
    busy = p.gateway.busy
    for ax in axes:
        ax.axvline(run.cut_s, color="#999", linewidth=0.8)
        k = 1
        while busy is not None and k * busy.every_s < t[-1] + 1:
            start = k * busy.every_s
            ax.axvspan(start, start + busy.length_s, color="#fdd0a2", alpha=0.4, linewidth=0)
            k += 1
    title = f"{run.scenario.name}: arrivals, SMS and the gateway queue"
    if busy is not None:
        title += " (shaded: gateway busy)"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def comparison(run: LoadRun) -> Section:
    pred = run.prediction
    section = Section("Measured vs predicted")
    section.text(
        "The model (`simulation/run.py`) played the same transformed scenario under the same "
        "policy. *Predicted* is its replication 0, which draws the very arrival times the "
        "load generators played, and *difference* compares the measurement with it. *Model "
        f"mean* and *model 5–95 %* summarise {pred.replications} replications: what sampling "
        f"alone spreads a run over. Both sides are cut off at {run.cut_s:.1f} s. Differences "
        f"over {THRESHOLD:.0%} are listed below the table."
    )
    rows = []
    for r in run.rows:
        band = "-"
        if r.low is not None:
            band = f"{fmt(r.low, r.digits, r.scale)} – {fmt(r.high, r.digits, r.scale)}"
        rows.append(
            [
                r.label,
                fmt(r.measured, r.digits, r.scale),
                fmt(r.predicted, r.digits, r.scale),
                _signed(r.difference),
                fmt(r.mean, r.digits, r.scale),
                band,
            ]
        )
    headers = ["metric", "measured", "predicted", "difference", "model mean", "model 5–95 %"]
    section.table(headers, rows)
    notable = [r for r in run.rows if r.notable]
    if not notable:
        return section.text(f"No metric differs by more than {THRESHOLD:.0%}.")
    for r in notable:
        inside = r.within_spread
        why = (
            "inside the model's 5–95 % band: within sampling noise"
            if inside
            else "outside the model's 5–95 % band"
            if inside is False
            else "no band to compare with"
        )
        section.text(
            f"- {r.label}: measured {fmt(r.measured, r.digits, r.scale)}, predicted "
            f"{fmt(r.predicted, r.digits, r.scale)} ({_signed(r.difference)}); {why}."
        )
    return section.text("`docs/loadtests.md` explains the differences of a reference run.")


def invariants(run: LoadRun) -> Section:
    rows = [
        [
            i.name,
            "pass" if i.passed else "not checked" if i.passed is None else "FAIL",
            i.numbers,
            i.source,
        ]
        for i in run.invariants
    ]
    return Section("Security invariants").table(["invariant", "result", "numbers", "source"], rows)


def write(out: Path, run: LoadRun) -> tuple[Path, Path]:
    """Write the Markdown and HTML reports (and the plot) into ``out``."""
    title = f"Load test: {run.scenario.name}"
    sections = [
        settings(run),
        comparison(run),
        invariants(run),
        requests(run),
        outcomes(run),
        over_time(run, out),
    ]
    md, html = out / "load-report.md", out / "load-report.html"
    md.write_text(markdown(title, sections), "utf-8")
    html.write_text(page(title, sections), "utf-8")
    return md, html

"""The capacity report: ``OUT/capacity-report.md``, ``.html`` and the knee plot.

It opens with the answer (the highest rate that held, what broke above it, which
resource ran out), then the settings, every step with its rates, latencies, errors and
the CPU and memory of the server and the load generator, each endpoint's latencies per
step, and the knee plot. Nothing in it names a path of the machine it ran on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .capacity import GENERATOR, HOLDS
from .document import Section, fmt, markdown, page

if TYPE_CHECKING:
    from .capacity_run import CapacityRun

PLOT = "capacity-knee.png"
OWN_FILES = ("capacity-report.md", "capacity-report.html", PLOT, "capacity.json")
VERDICTS = {
    HOLDS: "held",
    "slo": "SLO broken",
    "outbox": "SMS behind",
    "errors": "errors",
    GENERATOR: "generator saturated",
}


def _rate(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def answer(run: CapacityRun) -> Section:
    f, o = run.finding, run.options
    found, broken, gen = f.capacity, f.first_broken, f.generator_limited
    where = run.deployment
    section = Section("The answer")
    if not f.steps:
        section.text("No step ran.")
    elif found is None and f.steps[0].verdict == GENERATOR:
        section.text(
            f"**No step held** ({where}): the load generator fell behind at the first step, "
            f"{_rate(f.steps[0].rate)} checkouts/s, so nothing was learnt of the server."
        )
    elif found is None:
        section.text(
            f"**No step held** ({where}): even {_rate(f.steps[0].rate)} checkouts/s broke "
            f"the limits (p99 ≤ {run.limits.slo_p99_ms:g} ms on every endpoint, errors ≤ "
            f"{run.limits.max_error_rate:.1%})."
        )
    else:
        text = (
            f"This deployment ({where}) held **{_rate(found.rate)} checkouts/s** of "
            f"{run.scenario.name}'s mix ({_rate(found.requests_per_s)} requests/s at the "
            f"server) with every endpoint's p99 within {run.limits.slo_p99_ms:g} ms "
            f"(worst: {fmt(found.p99_ms, 0)} ms) and {found.error_rate:.2%} errors."
        )
        if broken is not None:
            text += f" At {_rate(broken.rate)} checkouts/s it broke: {broken.why}."
        section.text(text)
        if run.headroom is not None:
            section.text(
                f"{run.scenario.name}'s own peak is {_rate(run.peak)} checkouts/s: this "
                f"deployment holds {run.headroom:.3g}× that"
                + (" (a lower bound)" if gen is not None or broken is None else "")
                + "."
            )
    if f.steps:
        section.text(f"What ran out: {f.limit(run.cores, o.server_workers)}.")
    if gen is not None:
        section.text(
            "The load generator's limit is not the server's: run Locust with more worker "
            "processes (`--workers N`) or on another machine to go higher."
        )
    section.text(f"Measured with `{run.command}`.")
    return section


def settings(run: CapacityRun) -> Section:
    o, s, limits = run.options, run.scenario, run.limits
    fraud = s.fraud
    attackers = [
        f"{name.removesuffix('_rate_per_s')} {getattr(fraud, name):g}/s"
        for name in ("bruteforce_rate_per_s", "pumping_rate_per_s", "enumeration_rate_per_s")
        if getattr(fraud, name) > 0
    ]
    rows = [
        ["scenario", s.name],
        [
            "mix",
            "buyers at the step's rate, flat; attackers at their scenario rate × the step's "
            "rate over the scenario's mean buyer rate"
            + (f" ({', '.join(attackers)} in the scenario)" if attackers else " (none)"),
        ],
        ["time scale", "real (no compression): buyers read, type and wait in real seconds"],
        [
            "steps",
            f"{len(run.finding.steps)} run of at most {o.steps}, {run.step_s:g} s each; "
            "counts restart after the first third (warm-up), and the rest is measured",
        ],
        [
            "search",
            f"from {_rate(run.search.start)} checkouts/s, ×{run.search.growth:g} while "
            f"a step holds, then halving the gap (geometric) to within ×{run.search.resolution:g}",
        ],
        ["SLO", f"p99 ≤ {limits.slo_p99_ms:g} ms on every server endpoint"],
        [
            "SMS dispatch",
            f"the outbox grows by at most {limits.max_outbox_s:g} s of arrivals over a step",
        ],
        ["errors", f"at most {limits.max_error_rate:.1%} of the server's requests"],
        [
            "generator",
            f"at most {o.max_sessions:,} concurrent sessions; start lag p99 ≤ "
            f"{limits.max_lag_s:g} s; no Locust CPU warning",
        ],
        ["store", run.store_kind],
        ["server workers", str(o.server_workers)],
        ["Locust processes", str(max(1, o.workers))],
        [
            "fake gateway",
            "restarted every step, enough channels never to queue, no busy "
            "windows: the SMS provider is not the deployment under test",
        ],
        ["machine", f"{run.cores} cores, shared by the server and the load generator"],
    ]
    return Section("Settings").table(["", ""], rows)


def steps(run: CapacityRun) -> Section:
    headers = [
        "step",
        "offered /s",
        "started /s",
        "requests /s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "outbox",
        "server CPU",
        "server MB",
        "Locust CPU",
        "gateway CPU",
        "load",
        "verdict",
    ]
    rows = []
    for s in run.finding.steps:
        worst = s.worst()
        rows.append(
            [
                str(s.index),
                _rate(s.rate),
                _rate(s.checkouts_per_s),
                fmt(s.requests_per_s, 1),
                fmt(None if worst is None else worst.p50_ms, 0),
                fmt(None if worst is None else worst.p95_ms, 0),
                fmt(s.p99_ms, 0),
                f"{s.error_rate:.2%}",
                "-" if s.outbox_growth is None else f"{s.outbox_growth:+,}",
                fmt(s.server_cpu, 2),
                fmt(s.server_rss_mb, 0),
                fmt(s.generator_cpu, 2),
                fmt(s.gateway_cpu, 2),
                fmt(s.load_avg, 1),
                VERDICTS.get(s.verdict, s.verdict),
            ]
        )
    section = Section("Steps").table(headers, rows)
    section.text(
        "Offered: the step's buyer arrival rate; started: the buyers the generator began. "
        "Outbox: how many SMS the server's outbox gained over the measured window (staged, "
        "not yet handed to the gateway; each step starts once the last one's have left). "
        "Latencies are of the endpoint with the worst p99 in the step. CPU is in cores kept "
        "busy on average over the measured window (user + system time of every process of "
        "the server, of Locust and of the fake gateway); MB is the server's resident memory "
        "at the window's end; load is the machine's 1-minute load average."
    )
    why = [f"step {s.index}: {s.why}" for s in run.finding.steps if s.why]
    why += [
        f"step {s.index} began with {s.outbox_left:,} SMS of the step before still in the outbox"
        for s in run.finding.steps
        if s.outbox_left
    ]
    if why:
        section.text("Why a step did not hold: " + "; ".join(why) + ".")
    return section


def endpoints(run: CapacityRun) -> Section:
    rows = []
    for s in run.finding.steps:
        for e in sorted(s.endpoints, key=lambda e: e.name):
            rows.append(
                [
                    str(s.index),
                    _rate(s.rate),
                    e.name,
                    fmt(e.requests),
                    fmt(e.requests / s.seconds, 1),
                    fmt(e.p50_ms, 0),
                    fmt(e.p95_ms, 0),
                    fmt(e.p99_ms, 0),
                ]
            )
    headers = ["step", "offered /s", "endpoint", "requests", "/s", "p50 ms", "p95 ms", "p99 ms"]
    return Section("Every endpoint, every step").table(headers, rows)


def knee(run: CapacityRun, out: Path) -> Section:
    _plot(run, out / PLOT)
    return (
        Section("The knee")
        .image(PLOT)
        .text(
            "Each endpoint's p99 against the offered rate (log scales), the SLO as a dashed "
            "line; the lower panel is the server's requests per second and its CPU."
        )
    )


def _plot(run: CapacityRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted(run.finding.steps, key=lambda s: s.rate)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    names = sorted({e.name for s in done for e in s.endpoints})
    for name in names:
        points = [
            (s.rate, e.p99_ms)
            for s in done
            for e in s.endpoints
            if e.name == name and e.p99_ms is not None
        ]
        if points:
            top.plot(*zip(*points, strict=True), marker="o", label=name)
    top.axhline(run.limits.slo_p99_ms, color="#c62828", linestyle="--", label="SLO")
    for s in done:
        if s.verdict != HOLDS:
            top.axvline(s.rate, color="#bbb", linewidth=0.8)
    top.set_yscale("log")
    top.set_ylabel("p99 (ms)")
    top.legend(fontsize=8, loc="upper left")
    rates = [s.rate for s in done]
    bottom.plot(rates, [s.requests_per_s for s in done], marker="o", color="#08519c")
    bottom.set_ylabel("server requests / s", color="#08519c")
    twin = bottom.twinx()
    cpu = [(s.rate, s.server_cpu) for s in done if s.server_cpu is not None]
    if cpu:
        twin.plot(*zip(*cpu, strict=True), marker="s", color="#e6550d", linestyle=":")
    twin.set_ylabel("server CPU (cores)", color="#e6550d")
    bottom.set_xscale("log")
    bottom.set_xlabel("offered checkouts / s")
    fig.suptitle(f"{run.scenario.name}: latency against load ({run.store_kind})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(out: Path, run: CapacityRun) -> tuple[Path, Path]:
    """Write the Markdown and HTML reports (and the plot) into ``out``."""
    title = f"Capacity: {run.scenario.name}"
    sections = [answer(run), settings(run), steps(run)]
    if run.finding.steps:
        sections += [endpoints(run), knee(run, out)]
    md, html = out / "capacity-report.md", out / "capacity-report.html"
    md.write_text(markdown(title, sections), "utf-8")
    html.write_text(page(title, sections), "utf-8")
    return md, html

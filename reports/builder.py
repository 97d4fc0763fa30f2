"""Writing the report: results.csv first, then everything else read back from it.

``write_tables`` saves ``results.csv`` and ``series.csv``; ``build`` reads them back and
renders ``index.html`` and ``report.md`` (jinja2 templates in ``templates/``), the
plots under ``plots/`` and ``recommended-policy.toml``. Reading the CSV back is the
point: whatever the report prints is what a reader of ``results.csv`` gets. Paths in
the output are relative, so the folder can be moved, zipped or opened from disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from verifier.policy import Policy

from . import deployments, findings, frontpage, plots, stepup, tables
from .decision import Weights
from .grid import build as build_policy
from .grid import format_value

PLOTS = (
    (
        "pareto",
        "The Pareto front",
        "Each swept policy over all scenarios: conversion against SMS cost per 1,000 "
        "checkouts. Filled: no other policy is at least as good on every objective "
        "(conversion, p95 time to verify, lockouts, guessing bound, attackers' SMS, SMS "
        "cost); crosses break a hard constraint.",
    ),
    (
        "cost",
        "Cost breakdown",
        "Expected cost per 1,000 checkouts, today against the recommendation and the "
        "cheapest feasible alternatives, split into its parts; the bar is the 95 % interval "
        "of the total.",
    ),
    (
        "conversion_ttl",
        "Conversion against code TTL, by gateway latency",
        "The base scenario with every SMS latency multiplied (channels multiplied alike, so "
        "the queue does not change): short TTLs lose the buyers whose code arrives late.",
    ),
    (
        "expired_ttl",
        "Codes expiring in the gateway queue during a ticket drop",
        "Checks answered code_expired and buyers locked out per 1,000 checkouts against TTL, "
        "the other keys at today's values.",
    ),
    (
        "storm",
        "The resend storm",
        "SMS handed to the gateway per second, minute by minute, with no cooldown, today's "
        "and a long one: impatient buyers resend when codes queue, and each resend queues "
        "behind the others.",
    ),
    (
        "lockouts",
        "Lockouts against the attempt limit and typo rate",
        "Buyers locked out per 1,000 checkouts in the base scenario at several typo rates.",
    ),
    (
        "guessing",
        "Guessing success against attempts and code length",
        "The closed-form bound attempts × verifications per number per day / 10^length "
        "(decision.py), with the swept policies as dots and the constraint as a line.",
    ),
    (
        "stepup",
        "Step-up at payment: fraud against friction",
        "Each step-up point on the scenarios with payments, on top of the main grid's "
        "recommendation: buyers asked for a code against the stolen-card loss that passes "
        "without one (left) and against the whole expected cost (right); labels are the "
        "amount below which a low-risk payment needs no code and the account age from "
        "which it counts as established. SMS for everyone is the red square.",
    ),
)


@dataclass
class RunInfo:
    """How the results were produced, printed in the report's method section."""

    scenarios: list[str]
    replications: int
    scale: float
    grid: dict[str, list[Any]]
    weights: Weights
    executor: str = ""
    wall_s: float | None = None
    points: int = 0
    replications_run: int = 0
    command: str = "smsverify tune"
    selection: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def write_tables(table: pd.DataFrame, series: pd.DataFrame, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Eight significant digits: more than any printed figure, a third of the bytes of repr.
    table.to_csv(out / "results.csv", index=False, float_format="%.8g")
    series.to_csv(out / "series.csv", index=False, float_format="%.6g")


def read_results(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv")


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def recommended_policy(row: pd.Series) -> Policy:
    return build_policy(json.loads(row["overrides"]))


def _policy_changes(today: Policy, best: Policy) -> list[str]:
    a, b = today.to_dict(), best.to_dict()
    return [
        f"{table}.{key}: {a[table][key]!r} → {b[table][key]!r}"
        for table in a
        for key in a[table]
        if a[table][key] != b[table][key]
    ]


def build(out: Path, info: RunInfo) -> dict[str, Any]:
    """Render the report in ``out`` from its ``results.csv``; returns the template context."""
    table = read_results(out)
    series_path = out / "series.csv"
    series = pd.read_csv(series_path) if series_path.stat().st_size > 1 else pd.DataFrame()
    main = table[table["study"] == "main"]
    totals = main[main["scenario"] == "all"]
    today = totals[totals["is_default"].astype(bool)].iloc[0]
    best = totals[totals["recommended"].astype(bool)].iloc[0]
    step = stepup.chosen(table)
    policy = recommended_policy(step if step is not None else best)
    label = best["policy_label"] + ("" if step is None else f" · step-up: {stepup.describe(step)}")
    scenarios = [s for s in main["scenario"].unique() if s != "all"]

    folder = out / "plots"
    feasible = totals[totals["feasible"].astype(bool)].sort_values(["expected_cost", "point"])
    compare = list(dict.fromkeys([today["point"], best["point"], *feasible["point"][:3]]))
    made = {
        "pareto": plots.pareto(table, folder),
        "cost": plots.cost_breakdown(table, folder, compare),
        "conversion_ttl": plots.conversion_vs_ttl(table, folder),
        "expired_ttl": plots.expired_vs_ttl(table, folder),
        "storm": plots.resend_storm(series, folder, _scale_of(table, "storm")),
        "lockouts": plots.lockouts_vs_attempts(table, folder),
        "guessing": plots.guessing(
            table,
            folder,
            info.weights.max_guess_success,
            Policy.default().limits.per_number_per_day,
        ),
        "stepup": plots.fraud_vs_friction(table, folder),
    }
    figures = [
        {"file": f"plots/{made[key]}", "title": title, "caption": caption}
        for key, title, caption in PLOTS
        if made[key]
    ]
    sentences = (
        findings.scenario_changes(main, today["point"], best["point"])
        + findings.drop_expiry(table)
        + findings.storm(table)
        + findings.ttl_and_latency(table)
        + findings.typos(table)
        + findings.ttl_from(table)
        + findings.voice(table)
        + findings.constraints(main)
        + findings.lockout_note(main)
    )
    toml = (
        f"# Recommended by smsverify tune: {label}\n"
        f"# Scenarios: {', '.join(scenarios)}; see report.md for the evidence.\n" + policy.to_toml()
    )
    (out / "recommended-policy.toml").write_text(toml, "utf-8")
    context = {
        "info": info,
        "grid_text": [
            f"{k}={','.join(format_value(v) for v in values)}" for k, values in info.grid.items()
        ],
        "scenarios": scenarios,
        "today": today,
        "best": best,
        "recommended_label": label,
        "stepup": {
            "findings": findings.stepup(table, stepup.describe),
            "header": tables.STEPUP_HEADER,
            "rows": tables.stepup_rows(stepup.totals(table), stepup.describe),
            "selection": stepup_selection(info.extra.get("stepup_selection", {})),
        },
        "summary": findings.recommendation(today, best, scenarios),
        "changes": _policy_changes(Policy.default(), policy),
        "non_conformities": policy.non_conformities(),
        "headline": tables.headline(today, best),
        "per_scenario": tables.per_scenario(main, today["point"], best["point"]),
        "findings": sentences,
        "figures": figures,
        "capacity_today": tables.capacity_rows(main, today["point"]),
        "capacity_best": tables.capacity_rows(main, best["point"]),
        "all_policies": tables.all_policies(main),
        "toml": toml,
        "weights": info.weights.as_dict(),
        "fmt": tables.fmt,
    }
    context["front"] = frontpage.front(today, best, main, info.selection, step, policy)
    context["selection_text"] = selection_sentence(info)
    context["capacity_header"] = CAPACITY_HEADER
    measured = info.extra.get("deployments", [])
    context["deployments"] = {
        "list": measured,
        "header": deployments.HEADER,
        "rows": deployments.rows(main, best["point"], measured),
    }
    context["run_text"] = _run_text(info)
    context["md_table"] = md_table
    env = _env()
    env.filters["bold"] = bold
    (out / "index.html").write_text(env.get_template("index.html.j2").render(context), "utf-8")
    (out / "report.md").write_text(env.get_template("report.md.j2").render(context), "utf-8")
    return context


CAPACITY_HEADER = [
    "Scenario",
    "Peak checkouts/s",
    "Peak SMS/s",
    "Starts/s",
    "Resends/s",
    "Checks/s",
    "Channels configured",
    "Simulated p99 wait (s)",
    "Erlang C p99 wait (s)",
    "Channels for p99 wait ≤ TTL",
    "… during busy periods",
]


def md_table(header: list[str], rows: list[list[tables.Cell]]) -> str:
    """A Markdown table (pipes in cells escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(c.text.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def bold(text: str) -> Markup:
    """``**x**`` as ``<strong>x</strong>``, everything else escaped."""
    parts = str(escape(text)).split("**")
    return Markup(
        "".join(p if i % 2 == 0 else f"<strong>{p}</strong>" for i, p in enumerate(parts))
    )


def _run_text(info: RunInfo) -> str:
    """How the numbers were produced, in one sentence fragment."""
    if not info.replications_run:
        return f"{info.points} points, all found on disk from an earlier run"
    rate = info.points / info.wall_s if info.wall_s else 0.0
    return (
        f"{info.points} points, {info.replications_run} replications run on {info.executor} "
        f"in {info.wall_s:.0f} s ({rate:.2f} points/s)"
    )


def _scale_of(table: pd.DataFrame, study: str) -> float:
    """The thinning applied to the scenario of ``study`` (1 if the study did not run)."""
    rows = table[table["study"] == study]
    return float(rows["scale"].iloc[0]) if not rows.empty else 1.0


def selection_sentence(info: RunInfo) -> str:
    """How the replications were shared out, for the method section."""
    race = info.selection
    if not race or race.get("procedure") != "KN":
        return f"Every policy got {info.replications} replications of every scenario"
    text = (
        f"Replications by Kim & Nelson's fully sequential procedure KN over the "
        f"{race['systems']} policies meeting the hard constraints: a first stage of "
        f"{race['first_stage']} replications, then more for the policies still in the race, "
        f"eliminating a policy once its mean cost per 1,000 checkouts (all scenarios) is "
        f"clearly above another's, with an indifference zone of {race['indifference']:g} "
        f"per 1,000 checkouts, 95 % confidence and a cap of {race['cap']}"
    )
    if "stages" in race:
        text += f"; it stopped at stage {race['stages']} after {race['rounds']} rounds, " + (
            "one policy left"
            if race["separated"]
            else f"{len(race['survivors'])} policies still in the race at the cap"
        )
    return text


def stepup_selection(race: dict[str, Any]) -> str:
    """How the step-up stage shared out its replications, for its section."""
    if not race:
        return ""
    counts = sorted(race.get("counts", {}).values())
    spread = (
        f"{counts[0]} to {counts[-1]}"
        if counts and counts[0] != counts[-1]
        else (f"{counts[0]}" if counts else "no")
    )
    if race.get("procedure") != "KN" or "stages" not in race:
        return f"Every step-up point got {spread} replications."
    end = (
        "one point was left, separated by the indifference zone"
        if race["separated"]
        else f"{len(race['survivors'])} points were still within the zone at the cap"
    )
    return (
        f"KN over the {race['systems']} step-up points, as on the main grid (first stage "
        f"{race['first_stage']}, cap {race['cap']}), with the main zone restated per 1,000 "
        f"checkouts of the payment scenarios ({race['indifference']:.3g}: the same money): "
        f"{spread} replications per point; {end}."
    )

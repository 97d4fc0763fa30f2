"""The report's tables, built only from results-table rows, and the number formats.

Each cell knows where its number came from (``src``: row id, column, format), so the
HTML carries it as ``data-src`` and a test can check every printed number against
``results.csv``. Formats: ``pct`` (a share printed as %), ``n1`` (one decimal),
``n0`` (whole), ``s`` (seconds), ``money`` (two decimals), ``prob`` (two significant
digits), ``int`` (whole, with thousands separators).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .rounding import with_interval

FORMATS = {
    "pct": lambda v: f"{v * 100:.1f}",
    "pp": lambda v: f"{v * 100:+.1f}",
    "n1": lambda v: f"{v:.1f}",
    "d1": lambda v: f"{v:+.1f}",
    "n0": lambda v: f"{v:.0f}",
    "d0": lambda v: f"{v:+.0f}",
    "s": lambda v: f"{v:.0f}",
    "money": lambda v: f"{v:,.2f}",
    "dmoney": lambda v: f"{v:+,.2f}",
    "prob": lambda v: f"{v:.1e}" if 0 < abs(v) < 0.01 else f"{v:.2g}",
    "int": lambda v: f"{v:,.0f}",
}
UNITS = {"pct": " %", "pp": " pp"}
# The half-width of an interval is printed in the unsigned format of its value.
CI_FORMAT = {"pp": "pct", "d1": "n1", "d0": "n0", "dmoney": "money"}


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value, kind: str) -> str:
    """``value`` in format ``kind``; a dash when undefined."""
    if missing(value):
        return "–"
    return FORMATS[kind](float(value))


@dataclass
class Cell:
    """One table cell: text, and where its number came from (None for labels)."""

    text: str
    src: str | None = None


SIGNED = ("pp", "d1", "d0", "dmoney")


def number(row: pd.Series, col: str, kind: str, interval: bool = True) -> Cell:
    """``mean ± half-width`` of ``col`` in ``row``, with its source.

    With an interval the mean keeps only the digits the interval supports
    (``rounding.with_interval``); without one it is printed in format ``kind``.
    """
    value = row.get(col)
    text = fmt(value, kind)
    ci = row.get(f"{col}_ci95") if interval else None
    if not missing(value) and not missing(ci) and ci > 0 and kind != "prob":
        factor = 100.0 if kind in ("pct", "pp") else 1.0
        text = with_interval(value * factor, ci * factor, sign=kind in SIGNED)
    if not missing(value):
        text += UNITS.get(kind, "")
    return Cell(text, f"{row['row_id']}|{col}|{kind}")


# (label, column, format, change format) of the headline table, all scenarios together.
HEADLINE = (
    ("Conversion (checkouts verified)", "conversion", "pct", "pp"),
    ("Lost orders per 1,000 checkouts", "lost_orders_per_1k", "n1", "d1"),
    ("Buyers locked out per 1,000 checkouts", "lockouts_per_1k", "n1", "d1"),
    ("Expired-code answers per 1,000 checkouts", "expired_per_1k", "n1", "d1"),
    ("p95 time to verify, worst scenario (s)", "ttv_p95_s", "s", "d0"),
    ("SMS per 1,000 checkouts", "sms_per_1k", "n0", "d0"),
    ("Attackers' SMS per 1,000 checkouts", "fraud_sms_per_1k", "n0", "d0"),
    ("SMS cost per 1,000 checkouts", "sms_cost_per_1k", "money", "dmoney"),
    ("Guessing bound: P(a number is taken over) per day", "guess_bound", "prob", None),
    ("Expected cost per 1,000 checkouts", "cost_per_1k", "money", "dmoney"),
)


def headline(today: pd.Series, best: pd.Series) -> list[list[Cell]]:
    """KPI | today | recommended | change (mean of paired differences, same seeds)."""
    rows = []
    for name, col, kind, dkind in HEADLINE:
        change = number(best, f"delta_{col}", dkind) if dkind else Cell("–")
        rows.append([Cell(name), number(today, col, kind), number(best, col, kind), change])
    return rows


PER_SCENARIO = (
    ("conversion", "pct"),
    ("ttv_p95_s", "s"),
    ("lockouts_per_1k", "n1"),
    ("sms_per_1k", "n0"),
    ("cost_per_1k", "money"),
)


def per_scenario(main: pd.DataFrame, today: str, best: str) -> list[list[Cell]]:
    """Scenario | for each KPI: today, recommended."""
    rows = []
    for scenario in [s for s in main["scenario"].unique() if s != "all"]:
        mine = main[main["scenario"] == scenario]
        t = mine[mine["point"] == today]
        b = mine[mine["point"] == best]
        if t.empty or b.empty:
            continue
        cells = [Cell(scenario)]
        for col, kind in PER_SCENARIO:
            cells += [number(t.iloc[0], col, kind), number(b.iloc[0], col, kind)]
        rows.append(cells)
    return rows


def all_policies(main: pd.DataFrame) -> list[list[Cell]]:
    """Every swept policy over all scenarios, cheapest first."""
    totals = main[main["scenario"] == "all"].sort_values(["expected_cost", "point"])
    rows = []
    for _, row in totals.iterrows():
        flags = []
        if row["is_default"]:
            flags.append("today")
        if row["recommended"]:
            flags.append("recommended")
        if row["pareto"]:
            flags.append("Pareto")
        if not row["feasible"]:
            flags.append("breaks: " + row["constraints_broken"])
        rows.append(
            [
                Cell(row["policy_label"]),
                number(row, "conversion", "pct"),
                number(row, "lockouts_per_1k", "n1"),
                number(row, "sms_per_1k", "n0"),
                number(row, "guess_bound", "prob"),
                number(row, "cost_per_1k", "money"),
                Cell(f"{int(row['replications'])}"),
                Cell(", ".join(flags)),
            ]
        )
    return rows


def capacity_rows(main: pd.DataFrame, point: str) -> list[list[Cell]]:
    """Per scenario, under the policy ``point``: peaks and gateway channels."""
    rows = []
    for _, row in main[(main["point"] == point) & (main["scenario"] != "all")].iterrows():
        rows.append(
            [
                Cell(row["scenario"]),
                number(row, "full_peak_arrivals_per_s", "n1"),
                number(row, "full_peak_sms_per_s", "n1"),
                number(row, "full_peak_start_per_s", "n1"),
                number(row, "full_peak_resend_per_s", "n1"),
                number(row, "full_peak_check_per_s", "n1"),
                number(row, "full_channels", "int"),
                number(row, "gateway_wait_p99_s", "n1"),
                number(row, "erlang_wait_p99_s", "n1"),
                number(row, "channels_needed", "int"),
                number(row, "channels_needed_busy", "int"),
            ]
        )
    return rows


STEPUP_HEADER = [
    "Step-up",
    "Asked for a code per 1,000",
    "SMS per 1,000",
    "Lost orders per 1,000",
    "Stolen-card payments passing per 1,000 (simulated)",
    "Stolen-card loss per 1,000 (expected)",
    "Cost per 1,000",
    "Cost change against SMS for everyone",
    "Replications",
    "",
]


def stepup_rows(totals: pd.DataFrame, describe) -> list[list[Cell]]:
    """The step-up stage over its scenarios, one row per point."""
    rows = []
    for _, row in totals.iterrows():
        rows.append(
            [
                Cell(describe(row)),
                number(row, "codes_asked_per_1k", "n1"),
                number(row, "sms_per_1k", "n0"),
                number(row, "lost_orders_per_1k", "n1"),
                number(row, "card_fraud_passed_per_1k", "n1"),
                number(row, "payment_fraud_loss_per_1k", "money"),
                number(row, "cost_per_1k", "money"),
                number(row, "delta_cost_per_1k", "dmoney"),
                Cell(f"{int(row['replications'])}"),
                Cell("recommended" if str(row.get("recommended")) == "True" else ""),
            ]
        )
    return rows

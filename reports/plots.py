"""The report's figures: matplotlib (Agg), PNG, each titled and labelled with units.

Every function takes the results table (and, for the time series, the per-minute
table), writes one PNG under ``folder`` and returns its file name, or ``None`` when the
study behind it was not run. Error bars are the 95 % intervals of the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .decision import front_2d

SIZE = (7.0, 4.2)
DPI = 90
METADATA = {"Software": None}  # no version string: the same data gives the same file


def _save(fig, folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(folder / name, dpi=DPI, metadata=METADATA, bbox_inches="tight")
    plt.close(fig)
    return name


def _study(table: pd.DataFrame, study: str) -> pd.DataFrame:
    return table[table["study"] == study]


def _err(frame: pd.DataFrame, col: str, scale: float = 1.0):
    """95 % error bars for a non-negative quantity: the lower arm stops at zero."""
    ci = frame.get(f"{col}_ci95")
    if ci is None:
        return None
    half = ci.fillna(0).to_numpy(dtype=float) * scale
    value = frame[col].fillna(0).to_numpy(dtype=float) * scale
    return np.vstack([np.minimum(half, np.maximum(value, 0)), half])


def _lines(ax, rows: pd.DataFrame, by: str, x: str, y: str, label, scale: float = 1.0) -> None:
    """One error-bar line of ``y`` against ``x`` per value of ``by``, labelled by ``label``."""
    for key, group in rows.groupby(by):
        group = group.sort_values(x)
        ax.errorbar(
            group[x],
            group[y] * scale,
            yerr=_err(group, y, scale),
            marker="o",
            capsize=3,
            label=label(key),
        )


def conversion_vs_ttl(table: pd.DataFrame, folder: Path) -> str | None:
    """Conversion against code TTL, one line per gateway latency."""
    rows = _study(table, "latency")
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=SIZE)
    _lines(ax, rows, "latency_mean_s", "code.ttl_s", "conversion",
           lambda latency: f"mean SMS latency {latency:.0f} s", scale=100)  # fmt: skip
    ax.axvline(600, color="grey", linestyle=":", label="NIST limit (600 s)")
    ax.set(
        xlabel="code TTL (s)",
        ylabel="conversion (% of checkouts verified)",
        title=f"Conversion vs code TTL by gateway latency ({rows['scenario'].iloc[0]})",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, folder, "conversion-vs-ttl.png")


def expired_vs_ttl(table: pd.DataFrame, folder: Path) -> str | None:
    """Expired-code answers and lockouts per 1,000 checkouts against TTL in a drop."""
    rows = _study(table, "ttl_drop").sort_values("code.ttl_s")
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=SIZE)
    ax.errorbar(
        rows["code.ttl_s"],
        rows["expired_per_1k"],
        yerr=_err(rows, "expired_per_1k"),
        marker="o",
        capsize=3,
        label="checks answered code_expired",
    )
    ax.errorbar(
        rows["code.ttl_s"],
        rows["lockouts_per_1k"],
        yerr=_err(rows, "lockouts_per_1k"),
        marker="s",
        capsize=3,
        label="buyers locked out",
    )
    ax.set(
        xlabel="code TTL (s)",
        ylabel="per 1,000 checkouts",
        title=f"Codes expiring in the gateway queue vs TTL ({rows['scenario'].iloc[0]})",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, folder, "expired-vs-ttl.png")


def resend_storm(series: pd.DataFrame, folder: Path, scale: float = 1.0) -> str | None:
    """SMS/s per minute with no, today's and a long resend cooldown during a drop."""
    rows = series[series["study"] == "storm"] if not series.empty else series
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=SIZE)
    for name, group in rows.groupby("policy_label", sort=False):
        name = "today's cooldown" if name == "default" else name
        ax.plot(group["minute"], group["sms_per_s"] / scale, label=f"SMS/s, {name}")
    first = rows[rows["policy_label"] == rows["policy_label"].iloc[0]]
    ax.plot(
        first["minute"],
        first["arrivals"] / 60.0 / scale,
        color="black",
        linestyle="--",
        linewidth=1,
        label="checkouts/s",
    )
    full = "" if scale == 1 else f" (thinned run ÷ {scale:g})"
    ax.set(
        xlabel="simulated time (min)",
        ylabel=f"per second, full traffic{full}",
        title=f"Resend storm: SMS/s with and without a cooldown ({rows['scenario'].iloc[0]})",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, folder, "resend-storm.png")


def lockouts_vs_attempts(table: pd.DataFrame, folder: Path) -> str | None:
    """Buyers locked out per 1,000 checkouts against the attempt limit, per typo rate."""
    rows = _study(table, "typo")
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=SIZE)
    _lines(ax, rows, "typo_rate", "check.max_attempts", "lockouts_per_1k",
           lambda typo: f"typo rate {typo:.0%}")  # fmt: skip
    ax.set_xscale("log")
    ticks = sorted(rows["check.max_attempts"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set(
        xlabel="check.max_attempts (wrong codes allowed per verification)",
        ylabel="buyers locked out per 1,000 checkouts",
        title=f"Lockouts vs attempt limit and typo rate ({rows['scenario'].iloc[0]})",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, folder, "lockouts-vs-attempts.png")


def guessing(table: pd.DataFrame, folder: Path, threshold: float, per_day: int) -> str | None:
    """The guessing bound against attempts per verification, for several code lengths."""
    attempts = np.unique(np.round(np.logspace(0, 3, 40)).astype(int))
    fig, ax = plt.subplots(figsize=SIZE)
    for length in (4, 6, 8):
        bound = np.minimum(1.0, attempts * per_day / 10.0**length)
        ax.plot(attempts, bound, label=f"{length} digits, {per_day} SMS/number/day")
    swept = _study(table, "main")
    swept = swept[swept["scenario"] == "all"] if "all" in set(swept["scenario"]) else swept
    if not swept.empty:
        ax.scatter(
            swept["check.max_attempts"],
            swept["guess_bound"],
            color="black",
            zorder=3,
            s=18,
            label="swept policies",
        )
    ax.axhline(threshold, color="red", linestyle=":", label=f"threshold {threshold:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(
        xlabel="check.max_attempts (guesses per verification)",
        ylabel="P(number taken over) per day, upper bound",
        title="Guessing success vs attempts and code length",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, folder, "guessing.png")


def pareto(table: pd.DataFrame, folder: Path) -> str | None:
    """Conversion against SMS cost per 1,000 checkouts over all scenarios, front marked."""
    rows = _study(table, "main")
    rows = rows[rows["scenario"] == "all"]
    if rows.empty:
        return None
    x = rows["sms_cost_per_1k"].to_numpy(dtype=float)
    y = rows["conversion"].to_numpy(dtype=float) * 100
    fig, ax = plt.subplots(figsize=SIZE)
    feasible = rows["feasible"].to_numpy(dtype=bool)
    on_front = rows["pareto"].to_numpy(dtype=bool)
    ax.scatter(
        x[feasible & ~on_front],
        y[feasible & ~on_front],
        facecolors="none",
        edgecolors="tab:blue",
        label="feasible, dominated",
    )
    ax.scatter(
        x[feasible & on_front],
        y[feasible & on_front],
        color="tab:blue",
        label="feasible, Pareto-optimal (all objectives)",
    )
    ax.scatter(
        x[~feasible], y[~feasible], marker="x", color="tab:red", label="breaks a hard constraint"
    )
    front = front_2d(x, y)
    ax.plot(x[front], y[front], color="grey", linewidth=1, label="front: conversion vs SMS cost")
    for flag, text in (("is_default", "today"), ("recommended", "recommended")):
        hit = rows[rows[flag].astype(bool)]
        if not hit.empty:
            ax.annotate(
                text,
                (hit["sms_cost_per_1k"].iloc[0], hit["conversion"].iloc[0] * 100),
                xytext=(8, -12),
                textcoords="offset points",
                fontsize=9,
                arrowprops={"arrowstyle": "-", "color": "black"},
            )
    ax.set(
        xlabel="SMS cost per 1,000 checkouts (currency units, buyers' and attackers' SMS)",
        ylabel="conversion (% of checkouts verified)",
        title="Policies: buyer success against SMS cost (all scenarios)",
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, folder, "pareto.png")


COST_PARTS = (
    ("buyer_sms_cost_per_1k", "SMS to buyers"),
    ("fraud_sms_cost_per_1k", "SMS to attackers"),
    ("lost_order_cost_per_1k", "lost orders"),
    ("guessing_loss_per_1k", "guessing losses (bound)"),
    ("voice_cost_per_1k", "voice calls"),
    ("payment_fraud_loss_per_1k", "stolen-card payments"),
)


def cost_breakdown(table: pd.DataFrame, folder: Path, points: list[str]) -> str | None:
    """Stacked expected cost per 1,000 checkouts for the given policies (all scenarios)."""
    rows = _study(table, "main")
    rows = rows[(rows["scenario"] == "all") & rows["point"].isin(points)]
    if rows.empty:
        return None
    rows = rows.set_index("point").loc[[p for p in points if p in set(rows["point"])]]
    labels = []
    for is_default, best, name in zip(
        rows["is_default"], rows["recommended"], rows["policy_label"], strict=True
    ):
        tag = "today" if is_default else "recommended" if best else ""
        labels.append(f"{tag}: {name}" if tag and name != "default" else tag or name)
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(SIZE[0], 1.2 + 0.55 * len(rows)))
    left = np.zeros(len(rows))
    for col, name in COST_PARTS:
        values = rows[col].fillna(0).to_numpy(dtype=float)
        ax.barh(y, values, left=left, label=name)
        left += values
    ax.errorbar(
        rows["cost_per_1k"],
        y,
        xerr=_err(rows, "cost_per_1k"),
        fmt="none",
        color="black",
        capsize=4,
        label="total, 95 % interval",
    )
    ax.set_yticks(y, labels, fontsize=8)
    ax.set(
        xlabel="expected cost per 1,000 checkouts (currency units)",
        title="Expected cost breakdown (all scenarios)",
    )
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, folder, "cost-breakdown.png")


def fraud_vs_friction(table: pd.DataFrame, folder: Path) -> str | None:
    """Step-up points: card fraud loss against buyers asked for a code, per 1,000 checkouts."""
    rows = _study(table, "stepup")
    rows = rows[rows["scenario"] == "all"]
    if rows.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(SIZE[0] * 1.5, SIZE[1]))
    everyone = rows["stepup.enabled"].astype(str) == "False"
    picked = rows["recommended"].astype(str) == "True"
    for ax, y, ylabel in (
        (axes[0], "payment_fraud_loss_per_1k", "stolen-card loss per 1,000 checkouts"),
        (axes[1], "cost_per_1k", "expected cost per 1,000 checkouts (all parts)"),
    ):
        for mask, style in (
            (~everyone & ~picked, {"marker": "o", "color": "tab:blue", "label": "step-up point"}),
            (everyone, {"marker": "s", "color": "tab:red", "label": "SMS for everyone"}),
            (picked, {"marker": "*", "color": "tab:green", "markersize": 14,
                      "label": "recommended"}),
        ):  # fmt: skip
            part = rows[mask]
            if part.empty:
                continue
            ax.errorbar(
                part["codes_asked_per_1k"],
                part[y],
                xerr=_err(part, "codes_asked_per_1k"),
                yerr=_err(part, y),
                linestyle="none",
                capsize=3,
                **style,
            )
        for _, row in rows.iterrows():
            point = json.loads(row["overrides"])
            free = point.get("stepup.free_below_jpy")
            if free is not None:
                text = f"¥{free / 1000:g}k, {point.get('stepup.min_account_age_days')} d"
                ax.annotate(
                    text, (row["codes_asked_per_1k"], row[y]), xytext=(4, 4),
                    textcoords="offset points", fontsize=7,
                )  # fmt: skip
        ax.set(xlabel="buyers asked for a code per 1,000 checkouts (friction)", ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_title("Fraud against friction", fontsize=10)
    axes[1].set_title("What it adds up to (SMS, lost orders, fraud)", fontsize=10)
    axes[0].legend(fontsize=7)
    return _save(fig, folder, "fraud-vs-friction.png")

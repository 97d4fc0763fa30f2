"""Findings in plain sentences, each generated from rows of the results table.

A finding is written only when the rows behind it exist, and every number in it is a
table value put through ``tables.fmt``. Where a paired interval covers zero the
sentence says the difference is not established at this number of replications.
"""

from __future__ import annotations

import pandas as pd

from .rounding import with_interval
from .tables import SIGNED, fmt, missing


def _pm(row: pd.Series, col: str, kind: str, ci_kind: str | None = None) -> str:
    """``mean ± half-width``, the mean rounded to what the interval supports."""
    text = fmt(row[col], kind)
    ci = row.get(f"{col}_ci95")
    if not missing(ci) and not missing(row[col]) and ci > 0 and kind != "prob":
        factor = 100.0 if kind in ("pct", "pp") else 1.0
        text = with_interval(row[col] * factor, ci * factor, sign=kind in SIGNED)
    return text


def _settled(row: pd.Series, col: str) -> bool:
    """The paired interval of ``delta_col`` excludes zero."""
    value, ci = row.get(col), row.get(f"{col}_ci95")
    return not missing(value) and not missing(ci) and abs(value) > ci


def recommendation(today: pd.Series, best: pd.Series, scenarios: list[str]) -> list[str]:
    """What the recommended policy buys against today's, over all scenarios."""
    if best["point"] == today["point"]:
        return [
            "Today's policy is already the cheapest feasible one swept: keep it. Over "
            f"{', '.join(scenarios)} it verifies {_pm(today, 'conversion', 'pct')} % of "
            f"checkouts at {_pm(today, 'cost_per_1k', 'money')} per 1,000 checkouts."
        ]
    out = [
        f"Ship **{best['policy_label']}**. Over {', '.join(scenarios)} it verifies "
        f"{_pm(best, 'conversion', 'pct')} % of checkouts against "
        f"{_pm(today, 'conversion', 'pct')} % today (paired change "
        f"{_pm(best, 'delta_conversion', 'pp', 'pct')} percentage points), at "
        f"{_pm(best, 'cost_per_1k', 'money')} expected cost per 1,000 checkouts against "
        f"{_pm(today, 'cost_per_1k', 'money')} (change "
        f"{_pm(best, 'delta_cost_per_1k', 'dmoney', 'money')})."
    ]
    if not _settled(best, "delta_cost_per_1k"):
        out.append(
            "The cost difference is within its 95 % interval of zero: with the replications "
            "run the recommendation is a tie-break, not an established gain."
        )
    out.append(
        f"Its guessing bound is {fmt(best['guess_bound'], 'prob')} per number per day "
        f"({fmt(best['guesses_per_number_day'], 'int')} guesses), against "
        f"{fmt(today['guess_bound'], 'prob')} today."
    )
    return out


def scenario_changes(main: pd.DataFrame, today: str, best: str) -> list[str]:
    """Per scenario, the lockout and conversion change where the interval excludes zero."""
    out = []
    for scenario in [s for s in main["scenario"].unique() if s != "all"]:
        rows = main[main["scenario"] == scenario]
        t, b = rows[rows["point"] == today], rows[rows["point"] == best]
        if t.empty or b.empty or today == best:
            continue
        t, b = t.iloc[0], b.iloc[0]
        if _settled(b, "delta_conversion"):
            out.append(
                f"In {scenario}, conversion moves from {_pm(t, 'conversion', 'pct')} % to "
                f"{_pm(b, 'conversion', 'pct')} %; buyers locked out per 1,000 checkouts "
                f"from {_pm(t, 'lockouts_per_1k', 'n1')} to {_pm(b, 'lockouts_per_1k', 'n1')}."
            )
    return out


def ttl_and_latency(table: pd.DataFrame) -> list[str]:
    rows = table[table["study"] == "latency"]
    if rows.empty:
        return []
    out = []
    for latency, group in rows.groupby("latency_mean_s"):
        group = group.sort_values("code.ttl_s")
        low, high = group.iloc[0], group.iloc[-1]
        out.append(
            f"With a mean SMS latency of {fmt(latency, 'n0')} s, a "
            f"{fmt(low['code.ttl_s'], 'n0')} s TTL verifies "
            f"{_pm(low, 'conversion', 'pct')} % of checkouts and a "
            f"{fmt(high['code.ttl_s'], 'n0')} s TTL {_pm(high, 'conversion', 'pct')} %."
        )
    return out


def drop_expiry(table: pd.DataFrame) -> list[str]:
    rows = table[table["study"] == "ttl_drop"].sort_values("code.ttl_s")
    if rows.empty:
        return []
    low, high = rows.iloc[0], rows.iloc[-1]
    return [
        f"During {low['scenario']}, codes queue at the gateway (simulated p99 wait "
        f"{_pm(low, 'gateway_wait_p99_s', 'n0')} s): a {fmt(low['code.ttl_s'], 'n0')} s TTL "
        f"answers {_pm(low, 'expired_per_1k', 'n1')} checks per 1,000 checkouts with "
        f"code_expired, a {fmt(high['code.ttl_s'], 'n0')} s TTL "
        f"{_pm(high, 'expired_per_1k', 'n1')}."
    ]


def storm(table: pd.DataFrame) -> list[str]:
    rows = table[table["study"] == "storm"]
    if len(rows) < 2:
        return []
    out = []
    for _, row in rows.iterrows():
        name = "today's cooldown" if row["is_default"] else row["policy_label"]
        out.append(
            f"{name}: {_pm(row, 'full_peak_sms_per_s', 'n1')} SMS/s at the busiest five "
            "minutes (full traffic), "
            f"{_pm(row, 'sms_per_1k', 'n0')} SMS and {_pm(row, 'lockouts_per_1k', 'n1')} "
            f"lockouts per 1,000 checkouts, {_pm(row, 'conversion', 'pct')} % verified"
        )
    return [
        f"Resend storm in {rows['scenario'].iloc[0]} (impatient buyers resend while codes "
        "queue, and every resend queues too): " + "; ".join(out) + "."
    ]


def typos(table: pd.DataFrame) -> list[str]:
    rows = table[table["study"] == "typo"]
    if rows.empty:
        return []
    out = []
    for typo, group in rows.groupby("typo_rate"):
        group = group.sort_values("check.max_attempts")
        low, high = group.iloc[0], group.iloc[-1]
        out.append(
            f"At a {fmt(typo, 'pct')} % typo rate, {fmt(low['check.max_attempts'], 'n0')} "
            f"allowed wrong code(s) lock out {_pm(low, 'lockouts_per_1k', 'n1')} buyers per "
            f"1,000 checkouts; {fmt(high['check.max_attempts'], 'n0')} lock out "
            f"{_pm(high, 'lockouts_per_1k', 'n1')}."
        )
    return out


def constraints(main: pd.DataFrame) -> list[str]:
    totals = main[main["scenario"] == "all"]
    broken = totals[~totals["feasible"].astype(bool)]
    if broken.empty:
        return [f"All {len(totals)} swept policies meet the hard constraints."]
    return [
        f"{len(broken)} of {len(totals)} swept policies break a hard constraint and are "
        "never recommended: "
        + "; ".join(
            f"{r['policy_label']} ({r['constraints_broken']})" for _, r in broken.iterrows()
        )
        + "."
    ]


def lockout_note(main: pd.DataFrame) -> list[str]:
    if main["check.lockout_s"].nunique() > 1:
        return [
            "check.lockout_s changes no simulated figure: a buyer's session ends at the "
            "lockout, and attackers rotate accounts, so its effect is on repeat visits the "
            "model does not simulate."
        ]
    return []

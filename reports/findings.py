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


PER_1K = "per 1,000 checkouts"
SMS = ("sends {n} fewer SMS", "sends {n} more SMS", "SMS sent")
ORDERS = ("saves {n} orders", "loses {n} more orders", "lost orders")
BUYERS = ("loses {n} fewer buyers", "loses {n} more buyers", "lost buyers")
EXPIRED = (
    "answers {n} fewer checks code_expired",
    "answers {n} more checks code_expired",
    "checks answered code_expired",
)


def _paired(row: pd.Series, col: str, less: str, more: str, what: str) -> str:
    """A clause on the paired change of ``col`` per 1,000 checkouts: ``less`` or ``more``
    (templates with ``{n}``, the size with its interval) when the change is established,
    else that it is not, with the paired change itself."""
    value, ci = row.get(f"delta_{col}"), row.get(f"delta_{col}_ci95")
    if missing(value):
        return f"has no paired comparison for {what}"
    if not _settled(row, f"delta_{col}"):
        return (
            f"makes no established difference to {what} {PER_1K} "
            f"(paired change {_pm(row, f'delta_{col}', 'd1')})"
        )
    size = with_interval(abs(float(value)), None if missing(ci) else float(ci))
    return f"{(less if value < 0 else more).format(n=size)} {PER_1K}"


def stepup(table: pd.DataFrame, describe) -> list[str]:
    """What the recommended step-up thresholds save against SMS for everyone."""
    rows = table[(table["study"] == "stepup") & (table["scenario"] == "all")]
    picked = rows[rows["recommended"].astype(str) == "True"]
    if rows.empty or picked.empty:
        return []
    best = picked.iloc[0]
    scenarios = sorted(s for s in table.loc[table["study"] == "stepup", "scenario"] if s != "all")
    where = ", ".join(dict.fromkeys(scenarios))
    if str(best["stepup.enabled"]) == "False":
        return [
            f"Step-up at payment ({where}, the scenarios with payments): asking every "
            "payment for a code is the cheapest point swept; keep SMS for everyone."
        ]
    out = [
        f"Step-up at payment ({where}, the scenarios with payments): **{describe(best)}**. "
        f"Against SMS for everyone it asks {_pm(best, 'codes_asked_per_1k', 'n1')} of every "
        "1,000 checkouts for a code, "
        f"{_paired(best, 'sms_per_1k', *SMS)}, "
        f"{_paired(best, 'lost_orders_per_1k', *ORDERS)}, and expects "
        f"{_pm(best, 'payment_fraud_loss_per_1k', 'money')} "
        "of stolen-card loss per 1,000 checkouts (the closed form over the "
        f"{fmt(best['fraud_payments'], 'n1')} stolen-card payments a replication simulates "
        f"on average, of which {fmt(best['fraud_payments_passed'], 'n1')} passed); "
        f"expected cost change {_pm(best, 'delta_cost_per_1k', 'dmoney', 'money')} per "
        "1,000 checkouts."
    ]
    if not _settled(best, "delta_cost_per_1k"):
        out.append("That cost change is within its 95 % interval of zero at the replications run.")
    return out


def voice(table: pd.DataFrame) -> list[str]:
    """What the voice fallback recovers and costs in the base scenario."""
    rows = table[table["study"] == "voice"]
    on = rows[rows["voice.enabled"].astype(str) == "True"]
    off = rows[rows["voice.enabled"].astype(str) == "False"]
    if on.empty or off.empty:
        return []
    on, off = on.iloc[0], off.iloc[0]
    return [
        f"Voice calls for phones that reject SMS ({on['scenario']}): with calls allowed "
        f"(today) {_pm(on, 'approved_by_call_per_1k', 'n1')} buyers per 1,000 checkouts are "
        f"approved by a call, for {_pm(on, 'voice_cost_per_1k', 'money')} of calls per "
        f"1,000 checkouts; conversion is {_pm(on, 'conversion', 'pct')} % with calls and "
        f"{_pm(off, 'conversion', 'pct')} % without; turning calls off "
        f"{_paired(off, 'lost_orders_per_1k', *ORDERS)}, paired on the same seeds."
    ]


def ttl_from(table: pd.DataFrame) -> list[str]:
    """TTL from hand-off against TTL from delivery, in each queued scenario and at each
    TTL studied: each delivery point against hand-off at the same TTL, on the same seeds."""
    rows = table[table["study"] == "ttl_from"]
    if rows.empty:
        return []
    out = []
    for (scenario, ttl), group in rows.groupby(["scenario", "code.ttl_s"], sort=False):
        send = group[group["code.ttl_from"] == "send"]
        delivery = group[group["code.ttl_from"] == "delivery"]
        if send.empty or delivery.empty:
            continue
        s, d = send.iloc[0], delivery.iloc[0]
        pairs = d.get("delta_pairs")
        over = "" if missing(pairs) else f", paired over {int(pairs)} replications"
        out.append(
            f"In {scenario} at a {fmt(ttl, 'n0')} s TTL (simulated p99 gateway wait "
            f"{_pm(s, 'gateway_wait_p99_s', 'n0')} s{over}), starting the TTL at delivery "
            "rather than at hand-off "
            f"{_paired(d, 'lost_orders_per_1k', *BUYERS)} and "
            f"{_paired(d, 'expired_per_1k', *EXPIRED)}; the "
            f"price is guessing time: a code stays valid {_pm(d, 'code_life_mean_s', 'n0')} s "
            f"on average against {_pm(s, 'code_life_mean_s', 'n0')} s (at most "
            f"{fmt(d['code.max_life_s'], 'n0')} s)."
        )
    return out

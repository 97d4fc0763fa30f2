"""The results table: one row per study, scenario and policy, every figure with its interval.

Rows are built from the sweep's point records. For each replication the decision
columns (``decision.derive``), per-1,000-checkout rates and the peak rates
(``capacity.peaks``) are added to the model's own metrics; then the model's
``combine`` turns replications into means and ``KEY_ci95`` half-widths. The ``main``
study also gets one row per policy for all scenarios together (``scenario = "all"``),
and every ``main`` row carries ``delta_KEY`` (and its ``_ci95``): the mean of paired
per-replication differences against the default policy on the same seeds.

``results.csv`` is this table; everything the report prints is read from it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from simulation.kpis import combine
from verifier.policy import Policy

from . import capacity, stepup
from .decision import (
    Weights,
    constraint_failures,
    derive,
    guess_bound,
    guesses_per_number_day,
    pareto_mask,
    recommend,
    total_run,
)
from .grid import build, format_value, label, policy_key
from .plan import Item

POLICY_COLUMNS = (
    "code.length",
    "code.ttl_s",
    "send.resend_cooldown_s",
    "send.max_sends",
    "send.resend_same_code",
    "check.max_attempts",
    "check.lockout_s",
    "check.previous_codes_valid",
    "limits.per_number_per_day",
    "code.ttl_from",
    "code.max_life_s",
    "voice.enabled",
    "stepup.enabled",
    "stepup.free_below_jpy",
    "stepup.min_account_age_days",
)
PER_1K = {
    "lost_orders": "lost_orders_per_1k",
    "legit_lockouts": "lockouts_per_1k",
    "codes_expired": "expired_per_1k",
    "sms_sent": "sms_per_1k",
    "fraud_sms": "fraud_sms_per_1k",
    "expected_cost": "cost_per_1k",
    "sms_cost": "sms_cost_per_1k",
    "lost_order_cost": "lost_order_cost_per_1k",
    "guessing_loss": "guessing_loss_per_1k",
    "fraud_sms_cost": "fraud_sms_cost_per_1k",
    "buyer_sms_cost": "buyer_sms_cost_per_1k",
    "fraud_cost": "fraud_cost_per_1k",
    "voice_cost": "voice_cost_per_1k",
    "payment_fraud_loss": "payment_fraud_loss_per_1k",
    "codes_skipped": "codes_skipped_per_1k",
    "codes_asked": "codes_asked_per_1k",
    "fraud_payments_passed": "card_fraud_passed_per_1k",
    "approved_by_call": "approved_by_call_per_1k",
    "voice_calls": "voice_calls_per_1k",
}
MONTH_S = 30 * 86_400  # "per month" is 30 days at the scenario's (unthinned) traffic
DELTA_KEYS = (
    "conversion",
    "ttv_p95_s",
    "legit_lockouts",
    "codes_expired",
    "sms_sent",
    "sms_cost",
    "fraud_sms",
    "lost_orders",
    "expected_cost",
    "cost_per_1k",
    "lockouts_per_1k",
    "sms_per_1k",
    "lost_orders_per_1k",
    "expired_per_1k",
    "fraud_sms_per_1k",
    "sms_cost_per_1k",
    "fraud_cost_per_1k",
    "guessing_loss_per_1k",
    "lost_order_cost_per_1k",
    "voice_cost_per_1k",
    "payment_fraud_loss_per_1k",
    "codes_skipped_per_1k",
    "codes_asked_per_1k",
    "card_fraud_passed_per_1k",
    "approved_by_call_per_1k",
    "code_life_mean_s",
)
# Studies whose findings compare each variant with today's policy, paired.
PAIRED_STUDIES = ("voice", "ttl_from")
CAPACITY_KEYS = (
    "peak_sms_per_s",
    "peak_arrivals_per_s",
    "peak_start_per_s",
    "peak_resend_per_s",
    "peak_check_per_s",
)


def row_id(study: str, scenario: str, point: str, variant: dict) -> str:
    """The table's row key: ``study:scenario:point`` plus the variant's values."""
    parts = [study, scenario, point, *(f"{k}={v:g}" for k, v in sorted(variant.items()))]
    return ":".join(parts)


def series_table(items: list[Item], records: dict[str, dict], studies=("storm",)) -> pd.DataFrame:
    """Per-minute means over replications for the items of ``studies`` and main defaults."""
    frames = []
    default = policy_key(Policy.default())
    for item in items:
        point = policy_key(Policy.from_dict(item.point.policy))
        if item.study not in studies and not (item.study == "main" and point == default):
            continue
        runs = records[item.point.key]["runs"]
        parts = []
        for rep in runs:
            frame = pd.DataFrame(rep["series"])
            if not frame.empty:
                parts.append(frame.set_index("minute"))
        if not parts:
            continue
        minutes = sorted(set().union(*(p.index for p in parts)))
        counts = [c for c in parts[0].columns if c != "gateway_wait_mean_s"]
        padded = [p.reindex(minutes).fillna({c: 0.0 for c in counts}) for p in parts]
        mean = pd.concat(padded).groupby(level=0).mean().reset_index()
        mean.insert(0, "policy_label", label(item.overrides))
        mean.insert(0, "point", point)
        mean.insert(0, "scenario", item.scenario)
        mean.insert(0, "study", item.study)
        frames.append(mean)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _per_1k(run: dict) -> dict:
    n = run.get("checkouts") or 0
    return {
        new: (run[old] * 1000.0 / n if n and run.get(old) is not None else None)
        for old, new in PER_1K.items()
    }


def replication_rows(record: dict, weights: Weights) -> list[dict]:
    """Each replication's metrics plus decision columns, per-1k rates and peaks."""
    policy = Policy.from_dict(record["policy"])
    scenario = record["scenario"]
    cost = scenario["gateway"]["cost_per_sms"]
    currency = (scenario.get("payments") or {}).get("currency")
    rows = []
    for rep in record["runs"]:
        run = {k: v for k, v in rep["metrics"].items() if k not in ("scenario", "seed")}
        run["buyer_checks"] = rep["extras"].get("buyer_checks", 0)
        run.update(derive(run, policy, cost, weights, currency))
        run.update(_per_1k(run))
        run.update(capacity.peaks(rep["series"], rep["extras"], run, scenario["duration_s"]))
        rows.append(run)
    return rows


def _policy_columns(policy: Policy, overrides: dict, weights: Weights) -> dict[str, Any]:
    data = policy.to_dict()
    out: dict[str, Any] = {"point": policy_key(policy), "policy_label": label(overrides)}
    out["overrides"] = json.dumps(overrides, sort_keys=True)
    out["is_default"] = out["point"] == policy_key(Policy.default())
    keys = list(dict.fromkeys([*POLICY_COLUMNS, *overrides]))
    for key in keys:
        table, _, name = key.partition(".")
        value = data[table][name]
        out[key] = format_value(value) if isinstance(value, list) else value
    failures = constraint_failures(policy, weights)
    out["guesses_per_number_day"] = guesses_per_number_day(policy)
    out["guess_bound"] = guess_bound(policy)
    out["feasible"] = not failures
    out["constraints_broken"] = "; ".join(failures)
    return out


def _combined(runs: list[dict]) -> dict:
    out = combine(runs)
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()
    }


def _deltas(runs: list[dict], base: list[dict]) -> dict:
    diffs = []
    for a, b in zip(runs, base, strict=True):
        diffs.append(
            {
                f"delta_{k}": (
                    a[k] - b[k] if a.get(k) is not None and b.get(k) is not None else None
                )
                for k in DELTA_KEYS
            }
        )
    return {**_combined(diffs), "delta_pairs": len(diffs)}


def _capacity_columns(row: dict, scenario: dict, ttl: float, scale: float) -> dict:
    """Full-traffic peaks (÷ scale) and Erlang C channels for p99 wait ≤ TTL."""
    from simulation.durations import Duration

    service = Duration.parse("service_time", scenario["gateway"]["service_time"]).mean()
    busy = scenario["gateway"].get("busy")
    out = {}
    for key in CAPACITY_KEYS:
        for suffix in ("", "_ci95"):
            value = row.get(key + suffix)
            out[f"full_{key}{suffix}"] = None if value is None else value / scale
    rate = out["full_peak_sms_per_s"] or 0.0
    out["mean_service_s"] = service
    out["channels_needed"] = capacity.channels_needed(rate, service, ttl)
    out["channels_needed_busy"] = (
        capacity.channels_needed(rate, service * busy["slowdown"], ttl) if busy else None
    )
    channels = scenario["gateway"]["channels"] / scale
    out["full_channels"] = round(channels)
    wait = capacity.wait_quantile(round(channels), rate, service)
    out["erlang_wait_p99_s"] = None if math.isinf(wait) else wait
    return out


def build_table(
    items: list[Item], records: dict[str, dict], weights: Weights, scale: float = 1.0
) -> pd.DataFrame:
    """The results table for ``items`` (see the module docstring)."""
    reps: dict[str, list[dict]] = {}
    rows = []
    for item in items:
        key = item.point.key
        if key not in reps:
            reps[key] = replication_rows(records[key], weights)
        policy = Policy.from_dict(records[key]["policy"])
        scenario = records[key]["scenario"]
        row = {"study": item.study, "scenario": item.scenario, **item.variant}
        row.update(_policy_columns(policy, item.overrides, weights))
        row["row_id"] = row_id(item.study, item.scenario, row["point"], item.variant)
        row.update({"seed": scenario["seed"], "replications": len(records[key]["runs"])})
        row.update({"scale": item.scale, "key": key})
        row.update(_combined(reps[key]))
        row.update(_capacity_columns(row, scenario, policy.code.ttl_s, item.scale))
        row["checkouts_per_month"] = (
            row["checkouts"] / item.scale * MONTH_S / scenario["duration_s"]
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    main = [it for it in items if it.study == "main"]
    if main:
        table = pd.concat([table, _totals(main, reps, weights, scale)], ignore_index=True)
        table = _add_deltas(table, main, reps, "main", policy_key(Policy.default()))
        table = _mark_decision(table)
    for study in PAIRED_STUDIES:  # each variant against its baseline on the same seeds
        paired = [it for it in items if it.study == study]
        if paired:
            table = _add_deltas(
                table, paired, reps, study, policy_key(Policy.default()), _bases(paired)
            )
    stage = [it for it in items if it.study == stepup.STUDY]
    plain = stepup.baseline(stage)
    if stage and plain:
        everyone = policy_key(Policy.from_dict(plain[0].point.policy))
        table = pd.concat(
            [table, _totals(stage, reps, weights, scale, stepup.STUDY)], ignore_index=True
        )
        table = _add_deltas(table, stage, reps, stepup.STUDY, everyone)
        table = _mark_stepup(table)
    return table


def _totals(
    main: list[Item], reps: dict, weights: Weights, scale: float, study: str = "main"
) -> pd.DataFrame:
    """One "all scenarios" row per policy of ``study``."""
    by_point: dict[str, list[Item]] = {}
    for item in main:
        by_point.setdefault(policy_key(Policy.from_dict(item.point.policy)), []).append(item)
    rows = []
    for items in by_point.values():
        n = min(it.point.replications for it in items)
        runs = [total_run([reps[it.point.key][i] for it in items]) for i in range(n)]
        for run in runs:
            run.update(_per_1k(run))
        first = items[0]
        policy = Policy.from_dict(first.point.policy)
        row = {"study": study, "scenario": "all"}
        row.update(_policy_columns(policy, first.overrides, weights))
        row["row_id"] = row_id(study, "all", row["point"], {})
        row.update({"seed": None, "replications": n, "scale": scale, "key": None})
        row.update(_combined(runs))
        rows.append(row)
    return pd.DataFrame(rows)


def _bases(items: list[Item]) -> dict[str, str]:
    """Each paired-study point's baseline: the same overrides without the studied key.

    A ``ttl_from`` point at a 120 s TTL is paired with hand-off at 120 s, not with today's
    policy; a ``voice`` point with calls allowed, i.e. today's.
    """
    studied = ("code.ttl_from", "voice.enabled")
    bases = {}
    for item in items:
        rest = {k: v for k, v in item.overrides.items() if k not in studied}
        bases[policy_key(Policy.from_dict(item.point.policy))] = policy_key(build(rest))
    return bases


def _add_deltas(
    table: pd.DataFrame,
    main: list[Item],
    reps: dict,
    study: str,
    default: str,
    bases: dict[str, str] | None = None,
) -> pd.DataFrame:
    """``delta_*`` columns of ``study``'s rows: paired differences against point ``default``
    (or, where ``bases`` names one, against each point's own baseline)."""
    mains = table[table["study"] == study]
    runs_of: dict[tuple[str, str], list[dict]] = {}
    for item in main:
        runs_of[(item.scenario, policy_key(Policy.from_dict(item.point.policy)))] = reps[
            item.point.key
        ]
    points = mains["point"].unique()
    scenarios = [s for s in mains["scenario"].unique() if s != "all"]
    for point in points:
        per = [runs_of.get((s, point)) for s in scenarios]
        if any(p is None for p in per):
            continue
        n = min(len(p) for p in per)
        totals = [total_run([p[i] for p in per]) for i in range(n)]
        for t in totals:
            t.update(_per_1k(t))
        runs_of[("all", point)] = totals
    delta_rows = []
    for idx, row in mains.iterrows():
        base = runs_of.get((row["scenario"], (bases or {}).get(row["point"], default)))
        mine = runs_of.get((row["scenario"], row["point"]))
        if base is None or mine is None:
            continue
        n = min(len(base), len(mine))
        delta_rows.append((idx, _deltas(mine[:n], base[:n])))
    if not delta_rows:
        return table
    deltas = pd.DataFrame([d for _, d in delta_rows], index=[i for i, _ in delta_rows])
    if any(c in table.columns for c in deltas.columns):  # a second study: fill its rows
        table = table.copy()
        for col in deltas.columns:
            if col not in table.columns:
                table[col] = None
            table.loc[deltas.index, col] = deltas[col]
        return table
    return table.join(deltas)


def _mark_decision(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["pareto"] = False
    table["recommended"] = False
    main = table["study"] == "main"
    for scenario in table.loc[main, "scenario"].unique():
        rows = table[main & (table["scenario"] == scenario)]
        table.loc[rows.index, "pareto"] = pareto_mask(rows)
    totals = table[main & (table["scenario"] == "all")]
    if totals["feasible"].any():
        best = recommend(totals)
        table.loc[main & (table["point"] == best["point"]), "recommended"] = True
    return table


def _mark_stepup(table: pd.DataFrame) -> pd.DataFrame:
    """The step-up stage's pick: the cheapest point over all payment scenarios."""
    table = table.copy()
    if "recommended" not in table:
        table["recommended"] = False
    stage = table["study"] == stepup.STUDY
    table.loc[stage, "recommended"] = False
    table.loc[stage, "pareto"] = False
    totals = table[stage & (table["scenario"] == "all")]
    if totals["feasible"].any():
        best = recommend(totals)
        table.loc[stage & (table["point"] == best["point"]), "recommended"] = True
    return table

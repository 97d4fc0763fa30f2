"""The product owner's first screen: what to ship, what it changes, buys, and how sure.

Every sentence is built from rows of the results table (the ``all`` row and the
per-scenario rows of the recommended policy, whose ``delta_*`` columns are paired
differences against today's policy on the same seeds) and from the sequential
procedure's summary. Every number goes through ``rounding`` so it carries only the
digits its 95 % interval supports. "Per month" is 30 days at the scenario's own
traffic (``checkouts_per_month``), unthinned.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from verifier.policy import Policy

from .grid import format_value
from .rounding import missing, rounded, with_interval

# Policy keys in words, with their unit.
NAMES = {
    "code.ttl_s": ("the code's lifetime (TTL)", " s"),
    "code.length": ("the code length", " digits"),
    "send.resend_cooldown_s": ("the resend cooldown", " s"),
    "send.max_sends": ("the SMS allowed per verification", ""),
    "send.resend_same_code": ("resending the same code", ""),
    "check.max_attempts": ("the wrong codes allowed before a lockout", ""),
    "check.lockout_s": ("the lockout", " s"),
    "check.previous_codes_valid": ("earlier codes staying valid", ""),
    "limits.per_number_per_day": ("the SMS per number per day", ""),
    "stepup.enabled": ("step-up at payment", ""),
    "stepup.free_below_jpy": ("the amount below which a low-risk payment needs no code", " yen"),
    "stepup.min_account_age_days": ("the account age from which a buyer counts as known", " days"),
}

GLOSSARY = (
    (
        "TTL",
        "How long a code stays valid after it is sent. Too short and codes that wait in "
        "the SMS gateway's queue expire before the buyer types them.",
    ),
    (
        "Cooldown",
        "How long a buyer must wait before asking for another SMS; each resend waits "
        "longer (a ladder such as 30/60/120 s). It stops impatient resends from flooding "
        "the gateway.",
    ),
    (
        "Lockout",
        "After too many wrong codes the verification is blocked for a while; a buyer "
        "locked out is an order lost.",
    ),
    (
        "Pumping",
        "SMS pumping (toll fraud): bots start verifications to expensive numbers so that "
        "someone earns a share of each SMS we pay for.",
    ),
    (
        "Interval",
        "'12 ± 5' means the true value lies between 7 and 17 with 95 % confidence, given "
        "the replications run. A change whose interval includes zero is not established.",
    ),
)


def _value(policy: dict, key: str):
    table, _, name = key.partition(".")
    return policy[table][name]


def _shown(key: str, value) -> str:
    unit = NAMES.get(key, (key, ""))[1]
    if isinstance(value, bool):
        return "on" if value else "off"
    return format_value(value) + unit


def changes(best: Policy) -> list[str]:
    """``the resend cooldown from 30/60/120 s to 60/120/240 s``, one per changed key."""
    today, mine = Policy.default().to_dict(), best.to_dict()
    out = []
    for table in today:
        for name in today[table]:
            key = f"{table}.{name}"
            a, b = today[table][name], mine[table][name]
            if a != b:
                words = NAMES.get(key, (key, ""))[0]
                out.append(f"{words} from {_shown(key, a)} to {_shown(key, b)}")
    return out


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _change(row: pd.Series, col: str, scale: float = 1.0) -> tuple[float, float | None]:
    value, ci = row.get(f"delta_{col}"), row.get(f"delta_{col}_ci95")
    value = None if missing(value) else float(value) * scale
    ci = None if missing(ci) else float(ci) * scale
    return value, ci


def _count(value, ci, text: str) -> str:
    """``text`` with ``{n}`` as ``12 ± 5`` and ``{word}`` as ``fewer`` or ``more``."""
    if value is None:
        return text.format(n="–", word="")
    if value == 0 and not ci:  # the same in every replication
        return text.format(n="no", word="").replace("  ", " ")
    mean, hw = rounded(abs(value), ci)
    n = f"{mean} ± {hw}" if hw is not None else mean
    return text.format(n=n, word="fewer" if value < 0 else "more")


def _money(value, ci) -> str:
    return "–" if value is None else with_interval(value, ci, sign=True)


def buys(row: pd.Series, scale: float = 1.0) -> str:
    """What the change buys, in the units of ``row`` times ``scale``."""
    lost, lost_ci = _change(row, "lost_orders_per_1k", scale)
    lock, lock_ci = _change(row, "lockouts_per_1k", scale)
    sms, sms_ci = _change(row, "sms_cost_per_1k", scale)
    fraud, fraud_ci = _change(row, "fraud_cost_per_1k", scale)
    verb = "saves" if lost is None or lost <= 0 else "loses"
    return (
        f"{_count(lost, lost_ci, verb + ' {n} orders')}, changes SMS cost by "
        f"{_money(sms, sms_ci)} and fraud cost by {_money(fraud, fraud_ci)}, and "
        + (
            "locks out no more buyers than today"
            if lock == 0 and not lock_ci
            else _count(lock, lock_ci, "locks out {n} {word} buyers")
        )
    )


def verdict(row: pd.Series) -> str:
    """``cheaper``, ``dearer`` or ``not distinguishable`` at 95 % confidence, by cost."""
    value, ci = row.get("delta_cost_per_1k"), row.get("delta_cost_per_1k_ci95")
    if missing(value) or missing(ci):
        return "not distinguishable"
    if value + ci < 0:
        return "cheaper"
    if value - ci > 0:
        return "dearer"
    return "not distinguishable"


def front(
    today: pd.Series,
    best: pd.Series,
    main: pd.DataFrame,
    race: dict[str, Any],
    step: pd.Series | None = None,
    shipped: Policy | None = None,
) -> dict[str, Any]:
    """The first screen's sentences (``ship``, ``buys``, ``month``, ``sure``, ``stepup``).

    ``step`` is the step-up stage's pick (``reports/stepup.py``) and ``shipped`` the whole
    policy to ship (the main grid's pick with the step-up thresholds); without them the
    main grid's pick is the whole answer.
    """
    policy = Policy.from_dict(_policy_dict(best))
    same = best["point"] == today["point"]
    counts = race.get("counts", {})
    scenarios = [s for s in main["scenario"].unique() if s != "all"]
    rows = {s: main[(main["scenario"] == s) & (main["point"] == best["point"])] for s in scenarios}
    out: dict[str, Any] = {"glossary": GLOSSARY}
    if same:
        out["ship"] = [
            "Keep today's policy: no swept policy that meets the security limits costs less "
            "over the scenarios simulated."
        ]
        out["buys"], out["month"] = [], []
    else:
        changed = changes(policy)
        out["ship"] = [
            f"Ship **{best['policy_label']}**.",
            f"It changes {_join(changed)}." if changed else "",
        ]
        out["buys"] = [
            "Per 1,000 checkouts, over all scenarios together, against today's policy, it "
            + buys(best)
            + "."
        ]
        out["month"] = []
        for scenario, row in rows.items():
            if row.empty or missing(row.iloc[0].get("checkouts_per_month")):
                continue
            r = row.iloc[0]
            month = float(r["checkouts_per_month"])
            out["month"].append(
                f"{scenario} ({with_interval(month)} checkouts a month): " + buys(r, month / 1000.0)
            )
    sure = []
    if counts:
        low, high = min(counts.values()), max(counts.values())
        spread = f"{low} to {high}" if low != high else f"{low}"
        how = (
            "the sequential procedure KN gave each policy"
            if race.get("procedure") == "KN"
            else "each policy got"
        )
        mine, theirs = counts.get(best["point"]), counts.get(today["point"])
        which = f"today's {theirs}" if same else f"this one {mine}, today's {theirs}"
        sure.append(f"How sure we are: {how} {spread} replications of every scenario ({which}).")
    if not same:
        cost = with_interval(
            best.get("delta_cost_per_1k"), best.get("delta_cost_per_1k_ci95"), sign=True
        )
        word = verdict(best)
        overall = {
            "cheaper": "it beats today's policy at 95 % confidence",
            "dearer": "it costs more than today's at 95 % confidence",
            "not distinguishable": "it does not beat today's policy at 95 % confidence",
        }[word]
        sure.append(
            f"Over all scenarios {overall} (expected cost change {cost} per 1,000 checkouts)."
        )
        by = {"cheaper": [], "dearer": [], "not distinguishable": []}
        for scenario, row in rows.items():
            if not row.empty:
                by[verdict(row.iloc[0])].append(scenario)
        parts = []
        if by["cheaper"]:
            parts.append(f"it beats today's in {_join(by['cheaper'])}")
        if by["not distinguishable"]:
            parts.append(f"it is not distinguishable from it in {_join(by['not distinguishable'])}")
        if by["dearer"]:
            parts.append(f"it costs more in {_join(by['dearer'])}")
        if parts:
            sure.append("By scenario, at 95 % confidence, " + "; ".join(parts) + ".")
    if race.get("procedure") == "KN" and "separated" in race:
        sure.append(
            "KN separated the best policy from every other by the indifference zone of "
            f"{race['indifference']:g} per 1,000 checkouts."
            if race["separated"]
            else f"{len(race['survivors'])} policies were still within the indifference zone "
            f"of {race['indifference']:g} per 1,000 checkouts of each other at the cap of "
            f"{race['cap']} replications: among those the cheapest mean was picked."
        )
    out["sure"] = sure
    out["stepup"] = stepup_sentences(step)
    if shipped is not None and step is not None:
        extra = [c for c in changes(shipped) if c not in changes(policy)]
        if extra:
            if same:
                out["ship"] = [
                    "Keep today's code, resend and lockout settings; change the step-up at payment."
                ]
            out["ship"].append(f"At payment, it changes {_join(extra)}.")
    out["ship"] = [s for s in out["ship"] if s]
    return out


def stepup_sentences(step: pd.Series | None) -> list[str]:
    """What the step-up thresholds buy against SMS for everyone, per 1,000 checkouts."""
    if step is None:
        return []
    if str(step.get("stepup.enabled")) == "False":
        return [
            "Step-up at payment: asking every payment for a code is the cheapest choice simulated."
        ]
    asked = with_interval(step.get("codes_asked_per_1k"), step.get("codes_asked_per_1k_ci95"))
    saved, saved_ci = _change(step, "sms_per_1k")
    sms = _count(saved, saved_ci, "sends {n} {word} SMS")
    loss = with_interval(
        step.get("payment_fraud_loss_per_1k"), step.get("payment_fraud_loss_per_1k_ci95")
    )
    cost = with_interval(
        step.get("delta_cost_per_1k"), step.get("delta_cost_per_1k_ci95"), sign=True
    )
    return [
        f"Step-up at payment, against asking every payment for a code: of 1,000 checkouts "
        f"with a payment it asks {asked} for a code, {sms}, expects {loss} of stolen-card "
        f"payments to pass without one, and changes the expected cost by {cost}."
    ]


def _policy_dict(row: pd.Series) -> dict:
    import json

    from .grid import build

    return build(json.loads(row["overrides"])).to_dict()

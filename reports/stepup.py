"""Step-up at payment: the second stage of a tuning run, which payments need a code.

Step-up (``verifier/stepup.py``) spares a code to a payment with no risk point: under
``stepup.free_below_jpy`` yen, on an account at least ``stepup.min_account_age_days``
old, with nothing new. Sparing codes saves SMS and the buyers a code would lose, and
lets through the stolen-card payments that look the same (an SMS stops those: the
fraudster does not hold the victim's phone). That trade is tuned here.

**Why a second stage.** Step-up changes nothing in a scenario without a ``[payments]``
table (every start there gets a code), and in a scenario with one it changes only
whether a payment is asked for a code; a buyer spared a code never meets the TTL, the
cooldown or the attempt limit. So the step-up points run on the payment scenarios only,
on top of the main grid's recommendation (``base``): in every other scenario their
results are exactly the recommendation's, so the difference between two step-up points
over all scenarios is their difference on the payment scenarios. What this does not
cover is the reverse effect (a TTL chosen under today's thresholds might differ under
others); the step-up points change only whom the main grid's keys apply to.

**The points.** "SMS for everyone" (``stepup.enabled = false``, the point every other is
compared with) and the product of ``FREE_BELOW_JPY`` × ``MIN_AGE_DAYS``, today's
thresholds among them. KN (``selection.py``) shares out the replications exactly as on
the main grid, on the expected cost per 1,000 checkouts of the payment scenarios, which
includes the stolen-card losses (``decision.derive``).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pandas as pd

from simulation.scenario import Scenario

from .plan import Item, _point

STUDY = "stepup"
SMS_FOR_EVERYONE: dict[str, Any] = {"stepup.enabled": False}
FREE_BELOW_JPY = (3000.0, 10000.0, 30000.0, 100000.0)  # today's 10,000 among them
MIN_AGE_DAYS = (90, 365)  # today's 365 among them


def thresholds() -> list[dict[str, Any]]:
    """The step-up points, "SMS for everyone" first."""
    return [SMS_FOR_EVERYONE] + [
        {"stepup.free_below_jpy": free, "stepup.min_account_age_days": age}
        for free, age in itertools.product(FREE_BELOW_JPY, MIN_AGE_DAYS)
    ]


def applies(scenarios: list[Scenario], grid: dict[str, list[Any]]) -> bool:
    """Whether the stage runs: some scenario has payments and the grid leaves step-up alone."""
    swept = any(key.startswith("stepup.") for key in grid)
    return not swept and any(s.payments is not None for s in scenarios)


def items(
    scenarios: list[Scenario],
    base: dict[str, Any],
    replications: int,
    scales: dict[str, float] | None = None,
) -> list[Item]:
    """Every step-up point on top of ``base`` on every scenario with payments."""
    scales = scales or {}
    out = []
    for scenario in scenarios:
        if scenario.payments is None:
            continue
        for point in thresholds():
            overrides = {**base, **point}
            out.append(
                Item(
                    STUDY,
                    scenario.name,
                    overrides,
                    _point(scenario, overrides, replications),
                    scale=scales.get(scenario.name, 1.0),
                )
            )
    return out


def baseline(stage: list[Item]) -> list[Item]:
    """The "SMS for everyone" items of a stage: what every step-up point is compared with."""
    return [it for it in stage if it.overrides.get("stepup.enabled") is False]


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """The stage's rows over all its scenarios together (``scenario = "all"``)."""
    rows = table[(table["study"] == STUDY) & (table["scenario"] == "all")]
    return rows.sort_values(["codes_skipped_per_1k", "point"])


def chosen(table: pd.DataFrame) -> pd.Series | None:
    """The recommended step-up row over all payment scenarios, or None without the stage."""
    rows = totals(table)
    if rows.empty or "recommended" not in rows:
        return None
    marked = rows[rows["recommended"].astype(bool)]
    return marked.iloc[0] if not marked.empty else None


def overrides(row: pd.Series) -> dict[str, Any]:
    """The policy overrides of a row (main grid keys and step-up keys together)."""
    return json.loads(row["overrides"])


def describe(row: pd.Series) -> str:
    """A step-up point in words: ``SMS for everyone`` or its thresholds."""
    point = overrides(row)
    if point.get("stepup.enabled") is False:
        return "SMS for everyone"
    free = point.get("stepup.free_below_jpy")
    age = point.get("stepup.min_account_age_days")
    return (
        f"no code below ¥{free:,.0f} on accounts at least {age} days old with nothing new"
        if free is not None and age is not None
        else "step-up as today"
    )

"""Payments at checkout: the scenario table step-up by payment risk is tuned on.

An optional ``[payments]`` scenario table (``docs/simulation.md``). Without it nobody
carries a payment summary and every checkout gets a code, exactly as before. With it:

* each genuine buyer pays an amount drawn from ``amount``; a share ``returning_share``
  are returning customers, whose account age is drawn from ``account_age_days`` and whose
  device, address and payment method are each new with the given shares; the others
  opened their account at checkout (age 0, everything new);
* stolen-card fraudsters arrive at ``fraud_share`` times the checkout rate (same arrival
  profile), on accounts they took over (account age as returning customers), with their
  own amount and novelty shares. They do not hold the victim's phone: a code stops them.
  A payment that passes without a code costs ``amount + chargeback_fee`` (``fraud_loss``;
  the fraudster is ``cardfraud.py``).

Amounts are in ``currency``'s major unit; the engine's ``stepup.jpy_per_unit`` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from verifier.errors import ConfigError

from .durations import Duration

AMOUNT_MAX = 1e12
DEFAULTS: dict[str, Any] = {
    "currency": "JPY",
    "amount": {"median": 5000.0, "p99": 60000.0},
    "returning_share": 0.48,
    "account_age_days": {"median": 700.0, "p99": 5000.0},
    "new_device_share": 0.2,
    "new_address_share": 0.05,
    "new_payment_method_share": 0.1,
    "fraud_share": 0.0,
    "fraud_amount": {"median": 20000.0, "p99": 200000.0},
    "fraud_new_device_share": 0.9,
    "fraud_new_address_share": 0.5,
    "fraud_new_payment_method_share": 0.9,
    "chargeback_fee": 3000.0,
}
FLAGS = ("new_device", "new_address", "new_payment_method")


def _number(key: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"expected a number, got {value!r}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ConfigError(key, f"{value!r} is outside {lo:g}..{hi:g}")
    return float(value)


def _amount(key: str, value: Any) -> Duration:
    """``{ median, p99 }``: a lognormal (median = p99 gives that one value)."""
    if not isinstance(value, dict) or set(value) != {"median", "p99"}:
        raise ConfigError(key, f"expected {{ median = ..., p99 = ... }}, got {value!r}")
    median = _number(f"{key}.median", value["median"], math.ulp(0.0), AMOUNT_MAX)
    p99 = _number(f"{key}.p99", value["p99"], math.ulp(0.0), AMOUNT_MAX)
    if p99 < median:
        raise ConfigError(f"{key}.p99", "must be at least median")
    return Duration.lognormal(median, p99)


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    currency: str
    amount: Duration
    returning_share: float
    account_age_days: Duration
    new_device_share: float
    new_address_share: float
    new_payment_method_share: float
    fraud_share: float
    fraud_amount: Duration
    fraud_new_device_share: float
    fraud_new_address_share: float
    fraud_new_payment_method_share: float
    chargeback_fee: float

    @classmethod
    def parse(cls, key: str, value: Any) -> PaymentsConfig | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ConfigError(key, "expected a table")
        for name in value:
            if name not in DEFAULTS:
                raise ConfigError(f"{key}.{name}", f"unknown key (known: {', '.join(DEFAULTS)})")
        v = {**DEFAULTS, **value}
        currency = v["currency"]
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise ConfigError(f"{key}.currency", f"expected an ISO 4217 code, got {currency!r}")
        share = {
            name: _number(f"{key}.{name}", v[name], 0.0, 1.0)
            for name in DEFAULTS
            if name.endswith("_share")
        }
        share["fraud_share"] = _number(f"{key}.fraud_share", v["fraud_share"], 0.0, 100.0)
        return cls(
            currency=currency.upper(),
            amount=_amount(f"{key}.amount", v["amount"]),
            account_age_days=_amount(f"{key}.account_age_days", v["account_age_days"]),
            fraud_amount=_amount(f"{key}.fraud_amount", v["fraud_amount"]),
            chargeback_fee=_number(f"{key}.chargeback_fee", v["chargeback_fee"], 0.0, AMOUNT_MAX),
            **share,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in DEFAULTS:
            value = getattr(self, name)
            if isinstance(value, Duration):
                median, p99 = value.params
                value = {"median": median, "p99": p99}
            out[name] = value
        return out


def draw(
    rng: np.random.Generator,
    n: int,
    amount: Duration,
    ages: Duration,
    returning_share: float,
    shares: tuple[float, float, float],
) -> list[dict]:
    """``n`` payment summaries (the engine's ``payment`` argument), drawn at once."""
    amounts = np.round(amount.block(rng)(n), 2)
    returning = rng.random(n) < returning_share
    age = np.where(returning, np.floor(ages.block(rng)(n)), 0).astype(np.int64)
    new = [~returning | (rng.random(n) < s) for s in shares]
    return [
        {
            "amount": a,
            "account_age_days": d,
            "new_device": bool(x),
            "new_address": bool(y),
            "new_payment_method": bool(z),
        }
        for a, d, x, y, z in zip(
            amounts.tolist(), age.tolist(), *(f.tolist() for f in new), strict=True
        )
    ]


def buyer_payments(config: PaymentsConfig, rng: np.random.Generator, n: int) -> list[dict]:
    """One payment per genuine buyer, with the scenario's currency."""
    shares = (
        config.new_device_share,
        config.new_address_share,
        config.new_payment_method_share,
    )
    rows = draw(rng, n, config.amount, config.account_age_days, config.returning_share, shares)
    for row in rows:
        row["currency"] = config.currency
    return rows

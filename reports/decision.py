"""The decision rule: what each policy costs, which are Pareto-optimal, which to ship.

Every figure here is computed per replication and only then averaged, so each carries
a 95 % interval over replications (the model's own ``combine``), and a difference
between two policies is the mean of paired differences: every policy point runs on the
same seeds (common random numbers), so replication *i* of two policies saw the same
buyers, the same gateway and the same attackers.

**Guessing bound.** A blind attacker who wants a code for one number gets
``check.max_attempts`` guesses per verification (counted across resends). Attempts do
not carry over to a new verification, and the lockout binds number *and* account, so
an attacker with fresh accounts is stopped per number by the number's own limits:
every verification costs at least one SMS to that number, so at most
``codes = min(per_number_per_day, 96 × per_number_per_15min)`` verifications a day (not
``/ max_sends``: the attacker never resends, it starts anew), and at most
``24 × failures_per_number_per_hour`` wrong guesses a day. When earlier codes stay valid
after a resend (``check.previous_codes_valid``), one guess can match up to ``max_sends``
live codes. By the union bound, the chance that a number is taken over in a day is at most

    min(1, min(max_attempts × codes × live_codes, 24 × failures_per_number_per_hour) / 10^length)

(every limit 0: the bound is 1).

**Expected cost** of a policy over one run of each scenario::

    SMS cost                       sms_sent × cost_per_sms  (buyers' and attackers' SMS)
  + voice calls                    the model's voice_cost (calls placed × cost_per_call)
  + lost orders × order value      (checkouts − verified) × order_value
  + guessing losses                bound × attacked numbers × fraud_loss_per_success
  + stolen-card payments           the expected loss of the stolen-card payments
                                   simulated (fraud_loss_expected: those approved without
                                   a code, plus chargeback fees) ÷ jpy_per_unit

where attacked numbers = ``attacked_per_1k`` × checkouts / 1,000, so every part grows
with the traffic and costs per 1,000 checkouts do not depend on ``--scale``. The
report's money is the SMS price's currency (USD in every shipped scenario); payments are
in the scenario's ``payments.currency``, turned into yen by the policy's
``stepup.jpy_per_unit`` (yen itself: 1) and into the report's money by
``jpy_per_unit`` (default 150 yen to the dollar, the rate behind the chargeback-fee row
of the parameter research: $15–40 ≈ ¥2,250–6,000).

**Hard constraints** (a policy breaking one is never recommended): codes of at least 6
digits and a TTL of at most 600 s (NIST SP 800-63B 3.1.3.2), at most 100 failures
(3.2.2), and a guessing bound at most ``max_guess_success`` (default 10⁻⁴: the
100-guesses-against-six-digits balance of SP 800-63B 3.2.2). The recommendation is the
feasible policy with the lowest mean expected cost summed over the swept scenarios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from verifier.errors import ConfigError
from verifier.policy import Policy


@dataclass(frozen=True)
class Weights:
    """The money and the threshold of the decision rule (command-line options)."""

    order_value: float = 20.0  # margin lost when a buyer ends unverified
    fraud_loss_per_success: float = 500.0  # one account taken over by a guessed code
    attacked_per_1k: float = 10.0  # numbers attacked for a day, per 1,000 checkouts
    max_guess_success: float = 1e-4  # per number per day
    jpy_per_unit: float = 150.0  # yen per unit of the report's money (the SMS price's)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def live_codes(policy: Policy) -> int:
    """Codes that can be valid at once within one verification."""
    return policy.send.max_sends if policy.check.previous_codes_valid else 1


def codes_per_number_day(policy: Policy) -> float:
    """Verifications (each one SMS) others can start to one number in 24 h (``inf``: no cap)."""
    lim = policy.limits
    caps = [lim.per_number_per_day, 96 * lim.per_number_per_15min]
    caps = [float(c) for c in caps if c > 0]
    return min(caps) if caps else math.inf


def guesses_per_number_day(policy: Policy) -> float:
    """Evaluated guesses an attacker gets against one number in 24 h (``inf`` if unlimited).

    Each verification allows ``max_attempts`` guesses, each matching up to ``live_codes``
    codes; ``limits.failures_per_number_per_hour`` caps wrong guesses across accounts.
    """
    by_codes = codes_per_number_day(policy) * policy.check.max_attempts * live_codes(policy)
    per_hour = policy.limits.failures_per_number_per_hour
    by_failures = 24.0 * per_hour if per_hour > 0 else math.inf
    return min(by_codes, by_failures)


def guess_bound(policy: Policy) -> float:
    """Upper bound on P(a number is taken over by guessing in one day)."""
    guesses = guesses_per_number_day(policy)
    if math.isinf(guesses):
        return 1.0
    return min(1.0, guesses / 10**policy.code.length)


def constraint_failures(policy: Policy, weights: Weights) -> list[str]:
    """The hard constraints this policy breaks, as short sentences (empty: feasible)."""
    found = list(policy.non_conformities())
    bound = guess_bound(policy)
    if bound > weights.max_guess_success:
        found.append(
            f"guessing bound {bound:.2g} per number per day exceeds {weights.max_guess_success:g}"
        )
    return found


def payment_money(policy: Policy, currency: str | None, weights: Weights) -> float:
    """The report's money per unit of a scenario's payment currency."""
    if currency is None or currency == "JPY":
        yen = 1.0
    else:
        rate = policy.stepup.rate(currency)
        if rate is None:
            raise ConfigError(
                "stepup.jpy_per_unit",
                f"no rate for {currency}, the payments currency of a scenario; add one",
            )
        yen = float(rate)
    if not weights.jpy_per_unit > 0:
        raise ConfigError("jpy-per-unit", f"must be positive, got {weights.jpy_per_unit:g}")
    return yen / weights.jpy_per_unit


def derive(
    metrics: dict,
    policy: Policy,
    cost_per_sms: float,
    weights: Weights,
    currency: str | None = None,
) -> dict:
    """The decision columns of one replication, from its ``metrics.json`` keys.

    ``currency`` is the scenario's ``payments.currency`` (None without payments).
    """
    checkouts = metrics["checkouts"]
    verified = metrics["verified"]
    sms = metrics["sms_sent"]
    buyer_sms = metrics.get("buyer_sms_sent")
    if buyer_sms is None:
        buyer_sms = sms - metrics["pumping_sms_sent"] - metrics["bruteforce_verifications"]
    fraud_sms = sms - buyer_sms
    bound = guess_bound(policy)
    lost = checkouts - verified
    attacked = weights.attacked_per_1k * checkouts / 1000.0
    guessing_loss = bound * attacked * weights.fraud_loss_per_success
    sms_cost = sms * cost_per_sms
    voice_cost = float(metrics.get("voice_cost") or 0.0)
    # The closed-form expectation given the fraud payments simulated, where the model
    # gives it: a stolen card that looks low-risk is rare, and the sampled loss is
    # mostly zero (docs/report.md, "Step-up at payment").
    expected = metrics.get("fraud_loss_expected")
    card_loss = float((metrics.get("fraud_loss") if expected is None else expected) or 0.0)
    payment_loss = card_loss * payment_money(policy, currency, weights) if card_loss else 0.0
    total = sms_cost + voice_cost + lost * weights.order_value + guessing_loss + payment_loss
    return {
        "lost_orders": lost,
        "fraud_sms": fraud_sms,
        "buyer_sms_cost": buyer_sms * cost_per_sms,
        "fraud_sms_cost": fraud_sms * cost_per_sms,
        "lost_order_cost": lost * weights.order_value,
        "guessing_loss": guessing_loss,
        "codes_asked": checkouts - int(metrics.get("codes_skipped") or 0),
        "voice_cost": voice_cost,
        "payment_fraud_loss": payment_loss,
        "fraud_cost": fraud_sms * cost_per_sms + guessing_loss + payment_loss,
        "expected_cost": total,
        "cost_per_checkout": total / checkouts if checkouts else None,
    }


# Keys that add up across scenarios, for the "all scenarios" rows.
ADDITIVE = (
    "checkouts",
    "verified",
    "abandoned",
    "codes_expired",
    "legit_lockouts",
    "sms_sent",
    "sms_cost",
    "buyer_sms_sent",
    "buyer_resends",
    "pumping_sms_sent",
    "bruteforce_attempts",
    "bruteforce_successes",
    "lost_orders",
    "fraud_sms",
    "buyer_sms_cost",
    "fraud_sms_cost",
    "lost_order_cost",
    "guessing_loss",
    "voice_cost",
    "payment_fraud_loss",
    "codes_skipped",
    "codes_asked",
    "fraud_payments",
    "fraud_payments_passed",
    "voice_calls",
    "approved_by_call",
    "buyers_asking_for_a_call",
    "fraud_cost",
    "expected_cost",
)


def total_run(runs: Sequence[dict]) -> dict:
    """One replication of 'all scenarios': sums of ``ADDITIVE``, ratios recomputed.

    ``runs`` are the same replication index of one policy in each scenario; scenarios are
    independent, so the sum is a replication of the total.
    """
    out = {k: sum(r[k] for r in runs if r.get(k) is not None) for k in ADDITIVE if k in runs[0]}
    out["conversion"] = out["verified"] / out["checkouts"] if out["checkouts"] else None
    out["sms_per_verified"] = out["sms_sent"] / out["verified"] if out["verified"] else None
    out["cost_per_checkout"] = out["expected_cost"] / out["checkouts"] if out["checkouts"] else None
    p95 = [r["ttv_p95_s"] for r in runs if r.get("ttv_p95_s") is not None]
    out["ttv_p95_s"] = max(p95) if p95 else None  # the worst scenario's
    return out


# (column, +1 to maximise / -1 to minimise): buyer success against fraud and SMS cost.
OBJECTIVES = (
    ("conversion", +1),
    ("ttv_p95_s", -1),
    ("legit_lockouts", -1),
    ("guess_bound", -1),
    ("fraud_sms", -1),
    ("sms_cost", -1),
)


def pareto_mask(frame: pd.DataFrame, objectives=OBJECTIVES) -> np.ndarray:
    """True for rows no other row dominates (at least as good on all, better on one)."""
    cols = [c for c, _ in objectives]
    values = frame[cols].astype(float).to_numpy() * np.array([s for _, s in objectives])
    values = np.where(np.isnan(values), -np.inf, values)
    n = len(values)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        ge = np.all(values >= values[i], axis=1)
        gt = np.any(values > values[i], axis=1)
        if np.any(ge & gt):
            mask[i] = False
    return mask


def front_2d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points on the front minimising ``x`` and maximising ``y``, by ``x``."""
    order = np.lexsort((-y, x))
    best = -np.inf
    front = []
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.array(front, dtype=int)


def recommend(totals: pd.DataFrame) -> pd.Series:
    """The feasible row with the lowest mean expected cost (ties: lower guessing bound)."""
    feasible = totals[totals["feasible"]]
    if feasible.empty:
        raise ValueError(
            "no swept policy meets the hard constraints (6 digits, TTL <= 600 s, "
            "guessing bound); widen the grid or raise --max-guess-success"
        )
    ranked = feasible.sort_values(["expected_cost", "guess_bound", "point"])
    return ranked.iloc[0]

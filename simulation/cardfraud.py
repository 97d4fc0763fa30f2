"""Stolen-card fraud: payments on taken-over accounts, stopped only by a code.

The third-party fraud of the payment seed: the fraudster holds the victim's card and
account, not the victim's phone. Its payments come from ``payments.draw`` with the
scenario's fraud amounts and novelty shares (``docs/simulation.md``, ``[payments]``).
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from verifier import VerificationError
from verifier.policy import StepupPolicy

from .durations import Z99
from .harness import Harness
from .kpis import Ledger
from .numbers import NumberPlan
from .payments import PaymentsConfig, draw


class CardFraud:
    """Stolen-card payments on taken-over accounts, at pre-drawn times.

    Each starts a verification for its payment on the victim's number and account. Approved
    without a code: the payment passes (loss = amount + chargeback fee). Asked for a code:
    the SMS goes to the victim's phone, which the fraudster does not hold, so it stops.
    """

    actor = "cardfraud"

    def __init__(
        self,
        env: simpy.Environment,
        harness: Harness,
        plan: NumberPlan,
        ledger: Ledger,
        rng: np.random.Generator,
        config: PaymentsConfig,
        times: np.ndarray,
        region: str,
    ) -> None:
        self.env = env
        self.verifier = harness.verifier
        self.ledger = ledger
        self.times = times.tolist()
        self.region = region
        self.fee = config.chargeback_fee
        shares = (
            config.fraud_new_device_share,
            config.fraud_new_address_share,
            config.fraud_new_payment_method_share,
        )
        # Taken-over accounts are established ones: every victim is a returning customer.
        self.payments = draw(
            rng, len(self.times), config.fraud_amount, config.account_age_days, 1.0, shares
        )
        for row in self.payments:
            row["currency"] = config.currency
        block = plan.block(region)
        lo, hi = block.slice("buyers")  # victims are customers like the buyers
        self.numbers = [block.number(s) for s in rng.integers(lo, hi, len(self.times)).tolist()]

    def start(self) -> simpy.Process:
        return self.env.process(self.run())

    def run(self):
        env, v, counts = self.env, self.verifier, self.ledger.counts
        for n, t in enumerate(self.times):
            yield env.timeout(t - env.now)
            payment = self.payments[n]
            counts["fraud_payments"] += 1
            sends = 0
            try:
                ver = v.start(self.numbers[n], self.region, f"victim_{n}", payment=payment)
            except VerificationError as err:
                outcome = err.code
            else:
                if ver.stepup == "none":
                    outcome = "passed"
                    counts["fraud_payments_passed"] += 1
                    counts["fraud_loss"] += payment["amount"] + self.fee
                else:
                    outcome, sends = "stopped_by_code", int(ver.created)
            self.ledger.add(
                (self.actor, n, self.region, env.now, env.now, outcome, None,
                 sends, 0, 0, 0, None, None, False, False)
            )  # fmt: skip


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def expected_loss(config: PaymentsConfig, stepup: StepupPolicy) -> float:
    """The expected loss of one stolen-card payment, in ``config.currency``, in closed form.

    A payment passes only with no risk point: nothing new (the three fraud shares,
    independent), an account at least ``min_account_age_days`` old (victims' ages are
    the returning customers' lognormal, floored to whole days, so ``floor(age) >= m``
    is ``age >= m``), and an amount ``A`` under ``free_below_jpy / rate``. Then

        E[loss] = P(nothing new) × P(age >= m) × (E[A; A < t] + fee × P(A < t))

    with the lognormal's partial mean ``E[A; A < t] = exp(mu + s²/2) Φ((ln t − mu − s²)/s)``.
    The model draws the same payments, so its ``fraud_loss`` over many payments tends to
    this times ``fraud_payments`` (``tests/simulation/test_simulation_stepup.py``). Rounding
    of amounts to the cent is ignored.
    """
    if not stepup.enabled:
        return 0.0
    rate = 1.0 if config.currency == "JPY" else stepup.rate(config.currency)
    if rate is None:
        return 0.0  # a currency without a rate always counts as a risk point
    nothing_new = (
        (1 - config.fraud_new_device_share)
        * (1 - config.fraud_new_address_share)
        * (1 - config.fraud_new_payment_method_share)
    )
    old_enough = _tail(config.account_age_days, float(stepup.min_account_age_days))
    below = stepup.free_below_jpy / float(rate)
    mass, partial = _below(config.fraud_amount, below)
    return nothing_new * old_enough * (partial + config.chargeback_fee * mass)


def _lognormal(d) -> tuple[float, float]:
    median, p99 = d.params
    return math.log(median), math.log(p99 / median) / Z99


def _tail(d, m: float) -> float:
    """P(X >= m) for the lognormal ``d``."""
    if m <= 0:
        return 1.0
    mu, s = _lognormal(d)
    if s == 0:
        return 1.0 if math.exp(mu) >= m else 0.0
    return 1.0 - _normal_cdf((math.log(m) - mu) / s)


def _below(d, t: float) -> tuple[float, float]:
    """P(X < t) and E[X; X < t] for the lognormal ``d``."""
    if t <= 0:
        return 0.0, 0.0
    mu, s = _lognormal(d)
    if s == 0:
        value = math.exp(mu)
        return (1.0, value) if value < t else (0.0, 0.0)
    z = (math.log(t) - mu) / s
    return _normal_cdf(z), math.exp(mu + s * s / 2) * _normal_cdf(z - s)

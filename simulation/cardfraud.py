"""Stolen-card fraud: payments on taken-over accounts, stopped only by a code.

The third-party fraud of the payment seed: the fraudster holds the victim's card and
account, not the victim's phone. Its payments come from ``payments.draw`` with the
scenario's fraud amounts and novelty shares (``docs/simulation.md``, ``[payments]``).
"""

from __future__ import annotations

import numpy as np
import simpy

from verifier import VerificationError

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

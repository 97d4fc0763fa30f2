"""Step-up by payment risk: which payments need a code at all.

"Depending on the customer's payment summary … verification using cell phone SMS may be
necessary" (the payment seed). A start may carry a payment summary; each of these is a
risk point, and an unknown value counts as one (nothing says it is safe):

* the device, the address or the payment method is new to the account (one point each);
* the account is younger than ``stepup.min_account_age_days``;
* the amount, converted with ``stepup.jpy_per_unit``, is at least ``stepup.free_below_jpy``
  (a currency without a rate always counts).

No point: ``none``, approved at once without a code (it may be consumed for its payment,
but never binds a number: nothing proved possession). ``stepup.refuse_at_points`` points
or more (when it is not 0): refused, ``stepup_refused``. Otherwise ``code``. A start
without a payment summary always gets a code, and so does every start with
``stepup.enabled = false``. Each decision is an event whose reason lists the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InvalidRequest
from .policy import StepupPolicy

FLAGS = ("new_device", "new_address", "new_payment_method")
KEYS = frozenset({"amount", "currency", "account_age_days", *FLAGS})


@dataclass(frozen=True, slots=True)
class Decision:
    stepup: str  # "none", "code" or "refuse"
    points: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"{self.stepup}:" + (",".join(self.points) or "no_risk")


def check_payment(payment: object) -> dict | None:
    """The payment summary, checked for shape (every field optional), or None."""
    if payment is None:
        return None
    if not isinstance(payment, dict):
        raise InvalidRequest("payment must be an object")
    unknown = set(payment) - KEYS
    if unknown:
        raise InvalidRequest(f"payment: unknown field {sorted(unknown)[0]}")
    amount = payment.get("amount")
    if amount is not None and (
        isinstance(amount, bool)
        or not isinstance(amount, int | float)
        or not math.isfinite(amount)
        or amount < 0
    ):
        raise InvalidRequest("payment.amount must be a number of at least 0")
    currency = payment.get("currency")
    if currency is not None and not (
        isinstance(currency, str) and len(currency) == 3 and currency.isalpha()
    ):
        raise InvalidRequest("payment.currency must be an ISO 4217 code such as JPY")
    age = payment.get("account_age_days")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or age < 0):
        raise InvalidRequest("payment.account_age_days must be a whole number of at least 0")
    for flag in FLAGS:
        if payment.get(flag) is not None and not isinstance(payment[flag], bool):
            raise InvalidRequest(f"payment.{flag} must be true or false")
    return {**payment, "currency": currency.upper() if currency else None}


NO_PAYMENT = Decision("code", ("no_payment",))
STEPUP_OFF = Decision("code", ("stepup_off",))


def decide(payment: dict | None, policy: StepupPolicy) -> Decision:
    if payment is None or not policy.enabled:
        return NO_PAYMENT if payment is None else STEPUP_OFF
    points = [flag for flag in FLAGS if payment.get(flag) is not False]
    age = payment.get("account_age_days")
    if age is None or age < policy.min_account_age_days:
        points.append("young_account")
    amount, currency = payment.get("amount"), payment.get("currency")
    rate = policy.rate(currency) if currency else None
    if amount is None or rate is None or amount * rate >= policy.free_below_jpy:
        points.append("amount")
    if not points:
        return Decision("none", ())
    if policy.refuse_at_points and len(points) >= policy.refuse_at_points:
        return Decision("refuse", tuple(points))
    return Decision("code", tuple(points))

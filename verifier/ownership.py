"""One number, one account, at every step.

With ``numbers.one_number_per_account`` a number bound to account A is never verified
for account B: under ``reveal_registered = "immediately"`` the start is refused with no
SMS ("This number is already registered"); whatever the setting, a correct code for it
does not approve, and an approval cannot be consumed or bound once the number is
someone else's. Under ``"never"`` the code is judged first, so a caller without the
phone learns nothing.
"""

from __future__ import annotations

from . import keys
from .policy import NumbersPolicy
from .store import Transaction


def owner(tx: Transaction, e164: str) -> str | None:
    return tx.get(keys.owner(e164))


def bound_elsewhere(tx: Transaction, account_id: str, e164: str, numbers: NumbersPolicy) -> bool:
    """True if the rule is on and the number is bound to another account."""
    if not numbers.one_number_per_account:
        return False
    found = owner(tx, e164)
    return found is not None and found != account_id


def refused_at_start(tx: Transaction, account_id: str, e164: str, numbers: NumbersPolicy) -> bool:
    """The start itself says "registered" only when the policy reveals it at once."""
    return numbers.reveal_registered == "immediately" and bound_elsewhere(
        tx, account_id, e164, numbers
    )


def is_owner(tx: Transaction, account_id: str, e164: str) -> bool:
    return owner(tx, e164) == account_id

"""The purchase step: an approval is used once, for its own order, while it is fresh.

"The payment is not finished until clicking the purchase button": the shop consumes the
approval for the order it belongs to. Refusals, in the order they are judged: not
approved (``verification_not_pending``), another order (``reference_mismatch``), used
already (``already_consumed``), older than ``check.approval_ttl_s``
(``approval_expired``), and a number bound to another account since
(``phone_number_already_registered``).
"""

from __future__ import annotations

from . import expiry, ownership
from .errors import (
    AlreadyConsumed,
    ApprovalExpired,
    PhoneNumberAlreadyRegistered,
    ReferenceMismatch,
    VerificationError,
    VerificationNotPending,
)
from .policy import Policy
from .store import Transaction

USABLE = ("approved", "consumed")


def refusal(
    tx: Transaction, record: dict, reference: str | None, policy: Policy
) -> VerificationError | None:
    if record["state"] not in USABLE:
        status = expiry.status(record, tx.now)
        return VerificationNotPending(f"the verification is {status}, not approved")
    if record["reference"] != reference:
        return ReferenceMismatch()
    if record["state"] == "consumed":
        return AlreadyConsumed()
    if expiry.approval_expired(record, tx.now, policy):
        return ApprovalExpired()
    if ownership.bound_elsewhere(tx, record["account_id"], record["phone"], policy.numbers):
        return PhoneNumberAlreadyRegistered()
    return None

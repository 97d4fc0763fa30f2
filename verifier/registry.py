"""One number, one account: bindings, owner release and recycled-number disputes.

A number is bound only from an approved verification of the same account. Support
resolves a dispute over a recycled number (after an identity check outside the
system) by force-releasing it. Every change is an event.
"""

from __future__ import annotations

import secrets

from . import expiry, keys, limits
from .core import Core
from .errors import (
    ApprovalExpired,
    InvalidRequest,
    NotFound,
    PhoneNumberAlreadyRegistered,
    RateLimited,
    VerificationError,
    VerificationNotPending,
)
from .inputs import text_arg
from .phone import parse_phone
from .store import Transaction

DECISIONS = ("release", "reject")
DAY = 86400.0


def _account(account_id: object) -> str:
    return text_arg("account_id", account_id, 128)


class Registry:
    """The number-to-account registry of one ``Verifier`` (same store, clock and events)."""

    def __init__(self, core: Core) -> None:
        self._v = core

    def owner(self, e164: str) -> str | None:
        """The account a number is bound to, or None."""
        return self._v.run(lambda tx: tx.get(keys.owner(e164)))

    def number_of(self, account_id: str) -> str | None:
        """The number bound to an account, or None."""
        account_id = _account(account_id)
        return self._v.run(lambda tx: tx.get(keys.number_of(account_id)))

    def bind(self, account_id: str, verification_id: str) -> str:
        """Bind the number of an approved verification to its account; returns the E.164."""
        account_id = _account(account_id)

        def op(tx: Transaction) -> str | VerificationError:
            record = self._v.load(tx, verification_id)
            if record is None or record["account_id"] != account_id:
                return NotFound("no such verification for this account")
            if record["state"] not in ("approved", "consumed"):
                return VerificationNotPending("only an approved verification can be bound")
            if record.get("stepup") == "none":
                # Approved for a payment without a code: nothing proved the phone is theirs.
                return VerificationNotPending("approved without a code: it cannot bind a number")
            if expiry.approval_expired(record, tx.now, self._v.policy):
                return ApprovalExpired()
            e164 = record["phone"]
            one_per_account = self._v.policy.numbers.one_number_per_account
            if one_per_account:
                owner = tx.get(keys.owner(e164))
                if owner is not None and owner != account_id:
                    self._v.emit(tx, "refused", record, reason="phone_number_already_registered")
                    return PhoneNumberAlreadyRegistered()
            previous = tx.get(keys.number_of(account_id))
            if previous == e164:
                return e164
            if previous is not None:
                self._unbind(tx, account_id, previous, "replaced")
            if one_per_account:
                tx.put(keys.owner(e164), account_id)
            tx.put(keys.number_of(account_id), e164)
            self._v.emit(tx, "bound", record)
            return e164

        return self._v.run(op)

    def move(self, tx: Transaction, record: dict) -> str | None:
        """Inside an approval's transaction: bind its number in place of the account's old one.

        The caller has checked that the new number is not bound elsewhere. Returns the old
        number (None if the account had none by now); the old one stays bound until here.
        """
        account_id, e164 = record["account_id"], record["phone"]
        previous = tx.get(keys.number_of(account_id))
        if previous is not None and previous != e164:
            self._unbind(tx, account_id, previous, "changed")
        if self._v.policy.numbers.one_number_per_account:
            tx.put(keys.owner(e164), account_id)
        tx.put(keys.number_of(account_id), e164)
        self._v.emit(
            tx,
            "number_changed",
            record,
            reason=None if previous is None else f"from:{self._v.pseudonym(previous)}",
        )
        return previous if previous != e164 else None

    def _unbind(self, tx: Transaction, account_id: str, e164: str, reason: str) -> None:
        if tx.get(keys.owner(e164)) == account_id:
            tx.delete(keys.owner(e164))
        tx.delete(keys.number_of(account_id))
        self._v.emit(
            tx, "released", account_id=account_id, number=self._v.pseudonym(e164), reason=reason
        )

    def release(self, account_id: str) -> str:
        """The owner gives the number up; returns the released E.164."""
        account_id = _account(account_id)

        def op(tx: Transaction) -> str | VerificationError:
            e164 = tx.get(keys.number_of(account_id))
            if e164 is None:
                return NotFound("this account has no number")
            self._unbind(tx, account_id, e164, "owner")
            return e164

        return self._v.run(op)

    def open_dispute(
        self, phone: str, claimant_account_id: str, country: str | None = None
    ) -> dict:
        """A claimant says a registered number is now theirs (a recycled number).

        Under ``reveal_registered = "never"`` a free number gets a dispute too (one that
        can only be resolved without effect), so the answer never says whether the number
        is registered. Each claimant may open ``limits.disputes_per_account_per_day``.
        """
        claimant_account_id = text_arg("claimant", claimant_account_id, 128)
        e164 = parse_phone(phone, country).e164
        policy = self._v.policy
        hide = policy.numbers.reveal_registered == "never"
        bucket = keys.rate("disputes", claimant_account_id)
        per_day = policy.limits.disputes_per_account_per_day

        def op(tx: Transaction) -> dict | VerificationError:
            wait = limits.retry_after(tx, bucket, per_day, DAY)
            if wait is not None:
                self._v.emit(tx, "refused", account_id=claimant_account_id,
                              reason="rate_limited:disputes")  # fmt: skip
                return RateLimited(retry_after_s=round(wait, 3))
            owner = tx.get(keys.owner(e164))
            if owner is None and not hide:
                return NotFound("this number is not registered")
            limits.record(tx, bucket, per_day, DAY)
            dispute = {
                "id": "dsp_" + secrets.token_hex(8),
                "phone": e164,
                "owner": owner,
                "claimant": claimant_account_id,
                "status": "open",
                "opened_at": tx.now,
                "resolved_at": None,
                "decision": None,
            }
            self._keep(tx, dispute)
            self._v.emit(tx, "dispute_opened", account_id=claimant_account_id,
                          number=self._v.pseudonym(e164), reason=dispute["id"])  # fmt: skip
            return dispute

        return self._v.run(op)

    def _keep(self, tx: Transaction, dispute: dict) -> None:
        """Store a dispute until ``privacy.retention_s`` after its last change."""
        last = dispute["resolved_at"] or dispute["opened_at"]
        purge_at = last + self._v.policy.privacy.retention_s
        tx.put(keys.dispute(dispute["id"]), dispute, expire_at=purge_at)

    def resolve_dispute(self, dispute_id: str, decision: str) -> dict:
        """Support's decision: ``release`` force-releases the number, ``reject`` keeps it."""
        if decision not in DECISIONS:
            raise InvalidRequest(f"decision must be one of {', '.join(DECISIONS)}")

        def op(tx: Transaction) -> dict | VerificationError:
            dispute = tx.get(keys.dispute(dispute_id)) if isinstance(dispute_id, str) else None
            if dispute is None:
                return NotFound("no such dispute")
            if dispute["status"] != "open":
                return VerificationNotPending("the dispute is already resolved")
            dispute = dict(dispute, status="resolved", resolved_at=tx.now, decision=decision)
            self._keep(tx, dispute)
            owner = tx.get(keys.owner(dispute["phone"]))
            # Only the owner the dispute was about: a later binding is someone else's.
            if decision == "release" and owner is not None and owner == dispute["owner"]:
                self._unbind(tx, owner, dispute["phone"], "dispute")
            self._v.emit(tx, "dispute_resolved", account_id=dispute["claimant"],
                          number=self._v.pseudonym(dispute["phone"]), reason=decision)  # fmt: skip
            return dispute

        return self._v.run(op)

    def get_dispute(self, dispute_id: str) -> dict:
        """A dispute as opened or resolved."""
        if not isinstance(dispute_id, str) or len(dispute_id) > 64:
            raise NotFound("no such dispute")
        result = self._v.run(lambda tx: tx.get(keys.dispute(dispute_id)))
        if result is None:
            raise NotFound("no such dispute")
        return result

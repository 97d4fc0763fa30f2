"""The verification engine: start, resend, check, cancel, get, on injected parts.

``Verifier`` holds no state of its own: time comes from ``clock``, state from
``store``, messages leave through ``sender`` and codes come from ``code_source``.
Each operation is one store transaction that decides, writes and emits its events
together; a refusal that changes state (a wrong code) is committed before it is raised.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from . import budget, codes, failures, fraud, limits
from .clock import Clock
from .errors import (
    AbnormalOperation,
    AlreadyConsumed,
    ApprovalExpired,
    CodeExpired,
    IncorrectCode,
    InvalidRequest,
    LockedOut,
    MaxSendsReached,
    NotFound,
    PhoneNumberAlreadyRegistered,
    RateLimited,
    ReferenceMismatch,
    ResendTooSoon,
    VerificationError,
    VerificationNotPending,
)
from .events import Event, Listener
from .inputs import text_arg
from .phone import PhoneInfo, check_policy, parse_phone
from .policy import Policy
from .registry import Registry
from .senders import Message, Sender, message_body
from .store import Store, Transaction
from .verification import Verification, resend_at, view

QUARTER, HOUR, DAY = 900.0, 3600.0, 86400.0
MAX_CODE_CHARS = 64


def _new_id() -> str:
    return "ver_" + secrets.token_hex(12)


class Verifier:
    """The reference SMS verification engine; see ``docs/engine.md`` for every rule."""

    def __init__(
        self,
        policy: Policy,
        store: Store,
        sender: Sender,
        clock: Clock,
        *,
        hmac_key: bytes | None = None,
        code_source: codes.CodeSource | None = None,
        id_source: Callable[[], str] | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.policy = policy
        self.store = store
        self.sender = sender
        self.clock = clock
        # The key never sits in the store: a copy of the store alone must recover no code.
        # Without one, this verifier makes its own (processes sharing a store pass theirs).
        self._key = hmac_key if hmac_key is not None else secrets.token_bytes(32)
        self._code = code_source or codes.random_code
        self._new_id = id_source or _new_id
        self._listeners: list[Listener] = list(listeners)
        self._pseudonyms: dict[str, str] = {}
        self.registry = Registry(self)

    # -- plumbing ---------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event once its transaction has committed."""
        self._listeners.append(listener)

    def pseudonym(self, e164: str) -> str:
        """The keyed pseudonym events use for a number (remembered for recent numbers)."""
        known = self._pseudonyms.get(e164)
        if known is None:
            if len(self._pseudonyms) >= 4096:
                self._pseudonyms.clear()
            known = self._pseudonyms[e164] = codes.pseudonym(self._key, e164)
        return known

    def _emit(self, tx: Transaction, kind: str, record: dict | None = None, **fields) -> None:
        if record is not None:
            fields.setdefault("verification_id", record["id"])
            fields.setdefault("number", self.pseudonym(record["phone"]))
            fields.setdefault("account_id", record["account_id"])
        event = Event(kind, tx.now, **fields)
        tx.emit(event)
        if self._listeners:
            tx.after_commit(lambda: self._notify(event))

    def _notify(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    def _run(self, op: Callable[[Transaction], object]):
        """Run ``op`` in one transaction; a returned refusal is raised after the commit."""
        result = self.store.transact(op, self.clock.now())
        if isinstance(result, VerificationError):
            try:
                raise result
            finally:
                del result  # the traceback would otherwise keep this frame in a cycle
        return result

    def _refuse(self, error: VerificationError, account_id: str | None, number: str | None):
        """Record a refusal that needed no state, then raise it."""

        def op(tx: Transaction):
            self._emit(tx, "refused", account_id=account_id, number=number, reason=error.code)
            return error

        return self._run(op)

    def _put(self, tx: Transaction, record: dict, index: bool = False) -> None:
        """Store a record until ``retention_s`` after its last deadline.

        With ``index`` the account+number's pending index is kept as long as the record.
        """
        approved = record["approved_at"]
        usable_until = approved + self.policy.check.approval_ttl_s if approved else 0.0
        end = max(record["expires_at"], record["locked_until"] or 0.0, usable_until, tx.now)
        purge_at = end + self.policy.privacy.retention_s
        tx.put(f"v:{record['id']}", record, expire_at=purge_at)
        if index:
            key = f"pending:{record['account_id']}:{record['phone']}"
            tx.put(key, record["id"], expire_at=purge_at)

    def _load(self, tx: Transaction, verification_id: object) -> dict | None:
        if not isinstance(verification_id, str) or len(verification_id) > 64:
            return None
        return tx.get(f"v:{verification_id}")

    def _send_limits(self, tx: Transaction, record_or_args: dict) -> list[tuple[str, int, float]]:
        """The (key, limit, window) velocity buckets one SMS to this verification counts in.

        The number's own buckets do not count its bound owner: they are there so that
        nobody else can flood (or use up) the number, and the owner's sends are held by
        the account's budget (``verifier.budget``) instead.
        """
        lim = self.policy.limits
        phone = record_or_args["phone"]
        buckets = []
        if tx.get(f"owner:{phone}") != record_or_args["account_id"]:
            buckets += [
                (f"rl:number:{phone}", lim.per_number_per_day, DAY),
                (f"rl:number15:{phone}", lim.per_number_per_15min, QUARTER),
            ]
        if record_or_args.get("client_ip"):
            subject = limits.ip_subject(record_or_args["client_ip"])
            buckets.append((f"rl:ip:{subject}", lim.per_ip_per_hour, HOUR))
        if record_or_args.get("device_id"):
            buckets.append(
                (f"rl:device:{record_or_args['device_id']}", lim.per_device_per_hour, HOUR)
            )
        buckets.append(
            (f"rl:account:{record_or_args['account_id']}", lim.per_account_per_hour, HOUR)
        )
        return buckets

    def _limited(self, tx: Transaction, record: dict) -> RateLimited | None:
        waits = []
        for key, limit, window in self._send_limits(tx, record):
            wait = limits.retry_after(tx, key, limit, window)
            if wait is not None:
                waits.append((wait, key.split(":")[1]))
        if not waits:
            return None
        wait, bucket = max(waits)
        self._emit(tx, "refused", record, reason=f"rate_limited:{bucket}")
        # The answer does not say which bucket fired (OWASP: generic limit responses).
        return RateLimited(retry_after_s=round(wait, 3))

    def _send(self, tx: Transaction, record: dict, code: str, kind: str) -> None:
        for key, limit, window in self._send_limits(tx, record):
            limits.record(tx, key, limit, window)
        budget.note_send(tx, record, self.policy.send)
        body = message_body(code, self.policy.code.ttl_s)
        self.sender.send(Message(record["phone"], body, code, tx.now, record["id"]), tx)
        self._emit(tx, "sent", record, reason=kind)

    # -- operations -------------------------------------------------------------

    def start(
        self,
        phone: str,
        country: str | None,
        account_id: str,
        reference: str | None = None,
        client_ip: str | None = None,
        device_id: str | None = None,
    ) -> Verification:
        """Send a code to ``phone`` for ``account_id``, or return the pending verification."""
        account_id = text_arg("account_id", account_id, 128)
        reference = text_arg("reference", reference, 256, optional=True)
        client_ip = text_arg("client_ip", client_ip, 64, optional=True)
        device_id = text_arg("device_id", device_id, 128, optional=True)
        try:
            info = parse_phone(phone, country)
        except VerificationError as err:
            return self._refuse(err, account_id, None)
        try:
            check_policy(info, self.policy.numbers)
        except VerificationError as err:
            return self._refuse(err, account_id, self.pseudonym(info.e164))
        return self._run(
            lambda tx: self._start(tx, info, account_id, reference, client_ip, device_id)
        )

    def _start(
        self,
        tx: Transaction,
        info: PhoneInfo,
        account_id: str,
        reference: str | None,
        client_ip: str | None,
        device_id: str | None,
    ) -> Verification | VerificationError:
        policy, now, e164 = self.policy, tx.now, info.e164
        pseudo = self.pseudonym(e164)
        numbers = policy.numbers
        if numbers.one_number_per_account and numbers.reveal_registered == "immediately":
            owner = tx.get(f"owner:{e164}")
            if owner is not None and owner != account_id:
                self._emit(tx, "refused", account_id=account_id, number=pseudo,
                           reason="phone_number_already_registered")  # fmt: skip
                return PhoneNumberAlreadyRegistered()
        locked_until = tx.get(f"lock:{account_id}:{e164}")
        if locked_until is not None and now < locked_until:
            self._emit(tx, "refused", account_id=account_id, number=pseudo, reason="locked_out")
            return LockedOut(retry_after_s=round(locked_until - now, 3))
        if failures.account_locked(tx, account_id, policy.limits):
            self._emit(tx, "refused", account_id=account_id, number=pseudo, reason="account_locked")
            return failures.account_lockout()
        pending_id = tx.get(f"pending:{account_id}:{e164}")
        if pending_id is not None:
            existing = tx.get(f"v:{pending_id}")
            if existing and existing["state"] == "pending" and now < existing["expires_at"]:
                if existing["reference"] == reference:
                    return view(existing, policy, now, created=False)
            else:
                existing = None
        # Sends of this account's earlier verifications of this number still count.
        prior = budget.prior_sends(tx, account_id, e164, policy.send)
        refusal = budget.refusal(prior, now, policy.send)
        if refusal is not None:
            self._emit(tx, "refused", account_id=account_id, number=pseudo, reason=refusal.code)
            return refusal
        if pending_id is not None and existing is not None:
            # Another order: the older verification ends.
            self._finish(tx, dict(existing, state="cancelled", end_reason="replaced"))
            self._emit(tx, "cancelled", existing, reason="replaced")
        record = {
            "id": self._new_id(),
            "phone": e164,
            "region": info.region,
            "account_id": account_id,
            "reference": reference,
            "client_ip": client_ip,
            "device_id": device_id,
            "state": "pending",
            "created_at": now,
            "expires_at": now + policy.code.ttl_s,
            "sends": len(prior) + 1,
            "last_send_at": now,
            "codes": [],
            "sealed": None,
            "wrong": 0,
            "locked_until": None,
            "approved_at": None,
            "consumed_at": None,
            "expired_noted": False,
            "end_reason": None,
        }
        limited = self._limited(tx, record)
        if limited is not None:
            return limited
        reason = fraud.at_start(tx, e164, policy.fraud)
        if reason is not None:
            self._emit(tx, "fraud_flagged", record, reason=reason)
            return AbnormalOperation(reason)
        code = self._code(policy.code.length)
        record["codes"] = [[codes.code_hash(self._key, record["id"], code), now, None]]
        if policy.send.resend_same_code:
            record["sealed"] = codes.seal(self._key, record["id"], code)
        self._put(tx, record, index=True)
        fraud.note_start(tx, e164, record["id"], policy.fraud)
        self._emit(tx, "started", record)
        self._send(tx, record, code, "start")
        return view(record, policy, now, created=True)

    def resend(self, verification_id: str) -> Verification:
        """Send a code again once the cooldown allows, counting against the send cap."""
        return self._run(lambda tx: self._resend(tx, verification_id))

    def _resend(self, tx: Transaction, verification_id: str) -> Verification | VerificationError:
        policy, now = self.policy, tx.now
        record = self._load(tx, verification_id)
        if record is None:
            return NotFound()
        refusal = self._not_open(record, now)
        if refusal is not None:
            return refusal
        if record["sends"] >= policy.send.max_sends:
            self._emit(tx, "refused", record, reason="max_sends_reached")
            return MaxSendsReached()
        available = resend_at(record, policy)
        if now < available:
            self._emit(tx, "refused", record, reason="resend_too_soon")
            return ResendTooSoon(retry_after_s=round(available - now, 3))
        limited = self._limited(tx, record)
        if limited is not None:
            return limited
        record = dict(record, sends=record["sends"] + 1, last_send_at=now)
        expired = now >= record["expires_at"]
        if policy.send.resend_same_code and not expired and record["sealed"]:
            code = codes.unseal(self._key, record["id"], record["sealed"])
        else:
            code = self._code(policy.code.length)
            superseded = [
                [h, at, gone if gone is not None else now] for h, at, gone in record["codes"]
            ]
            record["codes"] = [
                *superseded,
                [codes.code_hash(self._key, record["id"], code), now, None],
            ]
            record["expires_at"] = now + policy.code.ttl_s
            record["expired_noted"] = False
            if policy.send.resend_same_code:
                record["sealed"] = codes.seal(self._key, record["id"], code)
        pending_key = f"pending:{record['account_id']}:{record['phone']}"
        owns_index = tx.get(pending_key) in (None, record["id"])
        self._put(tx, record, index=owns_index)
        self._emit(tx, "resent", record)
        self._send(tx, record, code, "resend")
        return view(record, policy, now)

    def _not_open(self, record: dict, now: float) -> VerificationError | None:
        """The refusal for a verification that is approved, cancelled or locked."""
        state = record["state"]
        if state in ("approved", "cancelled", "consumed"):
            return VerificationNotPending(f"the verification is {state}")
        if state == "locked":
            if now < record["locked_until"]:
                return LockedOut(retry_after_s=round(record["locked_until"] - now, 3))
            return VerificationNotPending("the verification was locked")
        return None

    def check(
        self,
        verification_id: str,
        code: str,
        client_ip: str | None = None,
        device_id: str | None = None,
    ) -> Verification:
        """Compare ``code`` with the verification's code; approve or count a wrong attempt."""
        if not isinstance(code, str):
            raise InvalidRequest("code must be a string")
        client_ip = text_arg("client_ip", client_ip, 64, optional=True)
        device_id = text_arg("device_id", device_id, 128, optional=True)
        return self._run(lambda tx: self._check(tx, verification_id, code, client_ip, device_id))

    def _check(
        self,
        tx: Transaction,
        verification_id: str,
        code: str,
        client_ip: str | None,
        device_id: str | None,
    ) -> Verification | VerificationError:
        policy, now = self.policy, tx.now
        record = self._load(tx, verification_id)
        if record is None:
            return NotFound()
        refusal = self._not_open(record, now)
        if refusal is not None:
            if isinstance(refusal, LockedOut):
                self._emit(tx, "refused", record, reason="locked_out")
            return refusal
        if now >= record["expires_at"]:
            if not record["expired_noted"]:
                self._put(tx, dict(record, expired_noted=True))
                self._emit(tx, "expired", record)
            return CodeExpired()
        if failures.account_locked(tx, record["account_id"], policy.limits):
            self._emit(tx, "refused", record, reason="account_locked")
            return failures.account_lockout()
        wait, bucket = failures.retry_after(tx, record, policy.limits)
        if wait is not None:
            self._emit(tx, "refused", record, reason=f"rate_limited:{bucket}")
            return RateLimited(retry_after_s=round(wait, 3))
        reason = fraud.at_check(record, now, client_ip, device_id, policy.fraud)
        if reason is not None:
            self._finish(tx, dict(record, state="cancelled", end_reason=reason))
            self._emit(tx, "fraud_flagged", record, reason=reason)
            self._emit(tx, "cancelled", record, reason=reason)
            return AbnormalOperation(reason)
        typed = code if len(code) <= MAX_CODE_CHARS else ""
        # Compare against every hash so the time taken does not depend on which matched.
        hits = [codes.matches(self._key, record["id"], typed, h) for h, _, _ in record["codes"]]
        if hits[-1] or (policy.check.previous_codes_valid and any(hits)):
            return self._approve(tx, record)
        grace = policy.check.superseded_code_grace_s
        if grace > 0 and any(
            hit and gone is not None and now - gone <= grace
            for hit, (_, _, gone) in zip(hits, record["codes"], strict=True)
        ):
            self._emit(tx, "refused", record, reason="superseded_code")
            return CodeExpired("a newer code has been sent")
        wrong = record["wrong"] + 1
        if failures.note_failure(tx, record, policy.limits):
            self._emit(tx, "account_locked", record, reason="consecutive_failures")
        left = policy.check.max_attempts - wrong
        record = dict(record, wrong=wrong)
        self._emit(tx, "checked_wrong", record)
        if left <= 0:
            until = now + policy.check.lockout_s
            record.update(state="locked", locked_until=until, end_reason="max_attempts")
            tx.put(f"lock:{record['account_id']}:{record['phone']}", until, expire_at=until)
            self._finish(tx, record)
            self._emit(tx, "locked", record)
        else:
            self._put(tx, record)
        return IncorrectCode(attempts_left=max(0, left))

    def _approve(self, tx: Transaction, record: dict) -> Verification | VerificationError:
        # Whatever reveal_registered says, a number bound to another account never approves;
        # the code was right, so the caller has the phone and may learn why.
        if self._owned_by_other(tx, record):
            self._finish(tx, dict(record, state="cancelled", end_reason="registered"))
            self._emit(tx, "refused", record, reason="phone_number_already_registered")
            return PhoneNumberAlreadyRegistered()
        record = dict(record, state="approved", approved_at=tx.now, end_reason="approved")
        self._finish(tx, record)
        failures.note_success(tx, record)
        budget.clear(tx, record)
        fraud.note_completion(tx, record["phone"], record["id"], self.policy.fraud)
        self._emit(tx, "checked_ok", record)
        return view(record, self.policy, tx.now)

    def _owned_by_other(self, tx: Transaction, record: dict) -> bool:
        if not self.policy.numbers.one_number_per_account:
            return False
        owner = tx.get(f"owner:{record['phone']}")
        return owner is not None and owner != record["account_id"]

    def _finish(self, tx: Transaction, record: dict) -> None:
        """Store a verification that has left ``pending`` and drop its pending index."""
        self._put(tx, record)
        key = f"pending:{record['account_id']}:{record['phone']}"
        if tx.get(key) == record["id"]:
            tx.delete(key)

    def cancel(self, verification_id: str) -> Verification:
        """End a pending (or expired) verification, e.g. when the buyer re-enters the number."""

        def op(tx: Transaction):
            record = self._load(tx, verification_id)
            if record is None:
                return NotFound()
            if record["state"] != "pending":
                return VerificationNotPending(f"the verification is {record['state']}")
            record = dict(record, state="cancelled", end_reason="user")
            self._finish(tx, record)
            self._emit(tx, "cancelled", record, reason="user")
            return view(record, self.policy, tx.now)

        return self._run(op)

    def consume(self, verification_id: str, reference: str | None = None) -> Verification:
        """The purchase step: use an approval once, for its own order, while it is fresh.

        Succeeds exactly once, for an approved verification whose ``reference`` matches,
        within ``check.approval_ttl_s`` of the approval, and only while its number is not
        bound to another account.
        """
        reference = text_arg("reference", reference, 256, optional=True)

        def op(tx: Transaction):
            record = self._load(tx, verification_id)
            if record is None:
                return NotFound()
            state = record["state"]
            if state not in ("approved", "consumed"):
                status = view(record, self.policy, tx.now).status
                return VerificationNotPending(f"the verification is {status}, not approved")
            refusal: VerificationError | None = None
            if record["reference"] != reference:
                refusal = ReferenceMismatch()
            elif state == "consumed":
                refusal = AlreadyConsumed()
            elif tx.now > record["approved_at"] + self.policy.check.approval_ttl_s:
                refusal = ApprovalExpired()
            elif self._owned_by_other(tx, record):
                refusal = PhoneNumberAlreadyRegistered()
            if refusal is not None:
                self._emit(tx, "refused", record, reason=refusal.code)
                return refusal
            record = dict(record, state="consumed", consumed_at=tx.now)
            self._put(tx, record)
            self._emit(tx, "consumed", record)
            return view(record, self.policy, tx.now)

        return self._run(op)

    def unlock_account(self, account_id: str) -> bool:
        """Support's reset of an account's consecutive wrong codes; True if it was counting."""
        account_id = text_arg("account_id", account_id, 128)

        def op(tx: Transaction) -> bool:
            done = failures.unlock(tx, account_id)
            if done:
                self._emit(tx, "account_unlocked", account_id=account_id, reason="support")
            return done

        return self._run(op)

    def purge(self) -> int:
        """Drop expired records and events older than ``privacy.retention_s``; returns rows."""
        now = self.clock.now()
        return self.store.purge(now, events_before=now - self.policy.privacy.retention_s)

    def get(self, verification_id: str) -> Verification:
        """The verification's current state; reading changes nothing."""

        def op(tx: Transaction):
            record = self._load(tx, verification_id)
            return NotFound() if record is None else view(record, self.policy, tx.now)

        return self._run(op)

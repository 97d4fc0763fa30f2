"""The verification engine: start, resend, check, consume, cancel, get, on injected parts.

``Verifier`` holds no state of its own and no rule: time comes from ``clock``, state from
``store``, messages leave through ``sender`` and codes come from ``code_source``; what is
allowed is decided by the rule modules (``phone``, ``ownership``, ``attempts``,
``expiry``, ``budget``, ``limits``, ``failures``, ``fraud``, ``purchase``). Each
operation is one store transaction that asks the rules, writes and emits its events
together; a refusal that changes state (a wrong code) is committed before it is raised.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from . import (
    attempts,
    budget,
    codes,
    delivery,
    expiry,
    failures,
    fraud,
    keys,
    limits,
    ownership,
    purchase,
    stepup,
    voice,
)
from .clock import Clock
from .core import Core
from .errors import (
    AbnormalOperation,
    CodeExpired,
    InvalidRequest,
    NotFound,
    PhoneNumberAlreadyRegistered,
    RateLimited,
    StepupRefused,
    VerificationError,
    VerificationNotPending,
)
from .events import Listener
from .inputs import text_arg
from .phone import PhoneInfo, parse_phone
from .policy import Policy
from .registry import Registry
from .senders import Message, Sender, message_body, notice_body
from .store import Store, Transaction
from .verification import Verification, sent_channels, view

MAX_CODE_CHARS = 64
CHANGE_REFERENCE = "number-change"  # the reference of a change-of-number verification


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
        # The key never sits in the store: a copy of the store alone must recover no code.
        # Without one, this verifier makes its own (processes sharing a store pass theirs).
        key = hmac_key if hmac_key is not None else secrets.token_bytes(32)
        self._core = Core(policy, store, sender, clock, key, listeners)
        self._code = code_source or codes.random_code
        self._new_id = id_source or _new_id
        self.registry = Registry(self._core)

    def with_policy(
        self, policy: Policy, *, id_source: Callable[[], str] | None = None
    ) -> Verifier:
        """A verifier for another policy on the same store, sender, clock, key and listeners.

        One service can then run several policies side by side (the Twilio-shaped API maps
        each of its services to one); they share every record, budget and lock, and a
        listener subscribed to either hears the events of both.
        """
        core = self._core
        twin = Verifier(
            policy,
            core.store,
            core.sender,
            core.clock,
            hmac_key=core.key,
            code_source=self._code,
            id_source=id_source or self._new_id,
        )
        twin._core.listeners = core.listeners  # the same list: later subscriptions reach both
        return twin

    @property
    def policy(self) -> Policy:
        return self._core.policy

    @property
    def store(self) -> Store:
        return self._core.store

    @property
    def clock(self) -> Clock:
        return self._core.clock

    @property
    def sender(self) -> Sender:
        return self._core.sender

    @sender.setter
    def sender(self, sender: Sender) -> None:
        self._core.sender = sender

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event once its transaction has committed."""
        self._core.listeners.append(listener)

    def pseudonym(self, e164: str) -> str:
        """The keyed pseudonym events use for a number."""
        return self._core.pseudonym(e164)

    # -- sending -----------------------------------------------------------------------

    def _limited(
        self, tx: Transaction, record: dict, buckets: limits.Buckets
    ) -> RateLimited | None:
        found = limits.send_wait(tx, record, self.policy.limits, buckets)
        if found is None:
            return None
        wait, bucket = found
        self._core.emit(tx, "refused", record, reason=f"rate_limited:{bucket}")
        return RateLimited(retry_after_s=round(wait, 3))

    def _send(
        self,
        tx: Transaction,
        record: dict,
        code: str,
        kind: str,
        buckets: limits.Buckets,
        prior: list[float] | None = None,
        channel: str = "sms",
        prior_calls: list[float] | None = None,
    ) -> None:
        """Count the message in its velocity ``buckets`` and its budget, then hand it off.

        ``buckets`` (and for a start ``prior``) were read earlier in this transaction,
        which has written none of those keys since, so they are not read again. A call
        (``channel = "call"``) counts in the voice budget instead (``voice.py``).
        """
        policy = self.policy
        limits.record_send(tx, record, policy.limits, buckets)
        if channel == "call":
            voice.note_call(tx, record, prior_calls or [], policy)
            body = voice.call_body(code, policy.code.ttl_s)
            kind = f"{kind}:call"
        else:
            budget.note_send(tx, record, policy.send, prior)
            body = message_body(code, policy.code.ttl_s)
        seq = delivery.on_send(record, tx.now)
        message = Message(
            record["phone"], body, code, tx.now, record["id"], channel=channel, seq=seq
        )
        self.sender.send(message, tx)
        self._core.emit(tx, "sent", record, reason=kind)

    def _issue(self, record: dict, now: float) -> str:
        """A fresh code for ``record``: older codes are kept, marked superseded, as hashes."""
        code = self._code(self.policy.code.length)
        superseded = [[h, at, gone if gone is not None else now] for h, at, gone in record["codes"]]
        record["codes"] = [
            *superseded,
            [self._core.keyed.code_hash(record["id"], code), now, None],
        ]
        record["expires_at"] = expiry.code_deadline(now, self.policy)
        record["expired_noted"] = False
        if self.policy.send.resend_same_code:
            record["sealed"] = self._core.keyed.seal(record["id"], code)
        return code

    # -- operations --------------------------------------------------------------------

    def start(
        self,
        phone: str,
        country: str | None,
        account_id: str,
        reference: str | None = None,
        client_ip: str | None = None,
        device_id: str | None = None,
        payment: dict | None = None,
        channel: str | None = None,
        *,
        resend_pending: bool = False,
    ) -> Verification:
        """Send a code to ``phone`` for ``account_id``, or return the pending verification.

        With ``resend_pending``, a pending verification of the same order is sent again
        instead (its cooldown and send cap apply), in the same transaction: the semantics
        of the Twilio-shaped API, where starting again means "resend". With a ``payment``
        summary, ``verifier.stepup`` may decide that no code is needed (approved at once,
        ``stepup = "none"``) or refuse the payment. ``channel`` is ``sms`` (the default)
        or ``call`` (``verifier.voice``).
        """
        payment = stepup.check_payment(payment)
        reference = text_arg("reference", reference, 256, optional=True)
        return self._begin(
            phone,
            country,
            account_id,
            reference,
            client_ip,
            device_id,
            payment,
            channel=voice.channel_arg(channel),
            resend_pending=resend_pending,
        )

    def change_number(
        self,
        account_id: str,
        phone: str,
        country: str | None = None,
        client_ip: str | None = None,
        device_id: str | None = None,
    ) -> Verification:
        """Start a verification of a new number for an account that has one bound.

        Its reference is ``CHANGE_REFERENCE``. When it is approved, the binding moves to
        the new number and a notice (no code) goes to the old one, in the approval's
        transaction; until then the old number stays bound. A new number bound to another
        account is refused as any start would be (``numbers.one_number_per_account``).
        """
        return self._begin(
            phone, country, account_id, CHANGE_REFERENCE, client_ip, device_id, None, "change"
        )

    def _begin(
        self,
        phone: str,
        country: str | None,
        account_id: str,
        reference: str | None,
        client_ip: str | None,
        device_id: str | None,
        payment: dict | None,
        purpose: str | None = None,
        channel: str = "sms",
        resend_pending: bool = False,
    ) -> Verification:
        account_id = text_arg("account_id", account_id, 128)
        client_ip = text_arg("client_ip", client_ip, 64, optional=True)
        device_id = text_arg("device_id", device_id, 128, optional=True)
        core = self._core
        try:
            info = parse_phone(phone, country)
        except VerificationError as err:
            return core.refuse(err, account_id, None)
        try:
            voice.check_number(info, self.policy, channel)
        except VerificationError as err:
            return core.refuse(err, account_id, core.pseudonym(info.e164))
        decision = stepup.decide(payment, self.policy.stepup)
        return core.run(
            lambda tx: self._start(
                tx,
                info,
                account_id,
                reference,
                client_ip,
                device_id,
                decision,
                purpose,
                channel,
                resend_pending,
            )
        )

    def _start(
        self,
        tx: Transaction,
        info: PhoneInfo,
        account_id: str,
        reference: str | None,
        client_ip: str | None,
        device_id: str | None,
        decision: stepup.Decision,
        purpose: str | None = None,
        channel: str = "sms",
        resend_pending: bool = False,
    ) -> Verification | VerificationError:
        core, policy, now, e164 = self._core, self.policy, tx.now, info.e164

        def refused(error: VerificationError, reason: str | None = None) -> VerificationError:
            core.emit(
                tx,
                "refused",
                account_id=account_id,
                number=core.pseudonym(e164),
                reason=reason or error.code,
            )
            return error

        if purpose == "change":
            current = tx.get(keys.number_of(account_id))
            if current is None:
                return refused(NotFound("this account has no number to change"), "no_number")
            if current == e164:
                return refused(
                    InvalidRequest("phone is the account's number already"), "same_number"
                )
        if ownership.refused_at_start(tx, account_id, e164, policy.numbers):
            return refused(PhoneNumberAlreadyRegistered())
        locked = attempts.locked_at_start(tx, account_id, e164)
        if locked is not None:
            return refused(locked)
        if failures.account_locked(tx, account_id, policy.limits):
            return refused(failures.account_lockout(), "account_locked")
        if decision.stepup == "refuse":
            core.emit(
                tx,
                "stepup",
                account_id=account_id,
                number=core.pseudonym(e164),
                reason=decision.reason,
            )
            return refused(StepupRefused())
        if decision.stepup == "none":
            return self._approve_without_code(tx, info, account_id, reference, decision)
        existing = core.load(tx, tx.get(keys.pending(account_id, e164)))
        if existing is not None and (
            existing["state"] != "pending" or expiry.expired(existing, now)
        ):
            existing = None
        if existing is not None and existing["reference"] == reference:
            if resend_pending:
                return self._resend(tx, existing["id"], channel)
            return view(existing, policy, now, created=False)
        # Sends of this account's earlier verifications of this number still count.
        prior = budget.prior_sends(tx, account_id, e164, policy.send)
        calls = None
        if channel == "call":
            calls = voice.prior_calls(tx, {"account_id": account_id, "phone": e164}, policy)
            refusal = voice.refusal(calls, now, policy)
        else:
            refusal = budget.refusal(prior, now, policy.send)
        if refusal is not None:
            return refused(refusal)
        if existing is not None:  # another order: the older verification ends
            core.finish(tx, dict(existing, state="cancelled", end_reason="replaced"))
            core.emit(tx, "cancelled", existing, reason="replaced")
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
            "expires_at": expiry.code_deadline(now, policy),
            "sends": len(prior) + (channel == "sms"),
            "last_send_at": now,
            "channel": channel,
            "line_type": info.type,
            "sent_at": [now],
            "sent_by": [channel],
            "codes": [],
            "sealed": None,
            "wrong": 0,
            "locked_until": None,
            "approved_at": None,
            "consumed_at": None,
            "expired_noted": False,
            "end_reason": None,
            "stepup": "code",
        }
        if purpose is not None:
            record["purpose"] = purpose
        if decision.points != ("no_payment",):
            core.emit(tx, "stepup", record, reason=decision.reason)
        buckets = limits.send_buckets(tx, record, policy.limits)
        limited = self._limited(tx, record, buckets)
        if limited is not None:
            return limited
        pumping = fraud.prefix_state(tx, e164, policy.fraud)
        reason = None if pumping is None else fraud.at_start(tx, e164, policy.fraud, pumping)
        if reason is not None:
            core.emit(tx, "fraud_flagged", record, reason=reason)
            return AbnormalOperation(reason)
        code = self._issue(record, now)
        if pumping is not None:
            fraud.note_start(tx, e164, record["id"], policy.fraud, pumping)
        core.emit(tx, "started", record)
        # The send writes the call count and the delivery state into the record: store after.
        self._send(tx, record, code, "start", buckets, prior, channel, calls)
        core.put(tx, record, index=True)
        return view(record, policy, now, created=True)

    def _approve_without_code(
        self,
        tx: Transaction,
        info: PhoneInfo,
        account_id: str,
        reference: str | None,
        decision: stepup.Decision,
    ) -> Verification:
        """A payment that needs no code: approved now, consumable, never bindable."""
        now = tx.now
        record = {
            "id": self._new_id(),
            "phone": info.e164,
            "region": info.region,
            "account_id": account_id,
            "reference": reference,
            "client_ip": None,
            "device_id": None,
            "state": "approved",
            "created_at": now,
            "expires_at": now,
            "sends": 0,
            "last_send_at": now,
            "sent_at": [],
            "codes": [],
            "sealed": None,
            "wrong": 0,
            "locked_until": None,
            "approved_at": now,
            "consumed_at": None,
            "expired_noted": False,
            "end_reason": "stepup_none",
            "stepup": "none",
        }
        self._core.put(tx, record)
        self._core.emit(tx, "stepup", record, reason=decision.reason)
        return view(record, self.policy, now, created=True)

    def resend(self, verification_id: str, channel: str | None = None) -> Verification:
        """Send a code again once the cooldown allows, counting against the send cap.

        ``channel = "call"`` places a call instead, against the voice budget.
        """
        channel = voice.channel_arg(channel)
        if channel == "call" and not self.policy.voice.enabled:
            raise InvalidRequest("channel: calls are turned off by the policy (voice.enabled)")
        return self._core.run(lambda tx: self._resend(tx, verification_id, channel))

    def _resend(
        self, tx: Transaction, verification_id: str, channel: str = "sms"
    ) -> Verification | VerificationError:
        core, policy, now = self._core, self.policy, tx.now
        record = core.load(tx, verification_id)
        if record is None:
            return NotFound()
        refusal = attempts.not_open(record, now)
        if refusal is not None:
            return refusal
        calls = None
        if channel == "call":
            calls = voice.prior_calls(tx, record, policy)
            refusal = voice.refusal(calls, now, policy)
        else:
            refusal = voice.sms_refusal(record, policy) or budget.resend_refusal(
                record, now, policy
            )
        if refusal is not None:
            core.emit(tx, "refused", record, reason=refusal.code)
            return refusal
        buckets = limits.send_buckets(tx, record, policy.limits)
        limited = self._limited(tx, record, buckets)
        if limited is not None:
            return limited
        sent_at = [*record.get("sent_at", ()), now]
        sent_by = [*sent_channels(record), channel]
        if channel == "call":
            record = dict(record, channel="call", sent_at=sent_at, sent_by=sent_by)
        else:
            record = dict(
                record,
                sends=record["sends"] + 1,
                last_send_at=now,
                channel="sms",
                sent_at=sent_at,
                sent_by=sent_by,
            )
        if policy.send.resend_same_code and not expiry.expired(record, now) and record["sealed"]:
            code = core.keyed.unseal(record["id"], record["sealed"])
        else:
            code = self._issue(record, now)
        owns_index = tx.get(keys.pending(record["account_id"], record["phone"])) in (
            None,
            record["id"],
        )
        core.emit(tx, "resent", record)
        self._send(tx, record, code, "resend", buckets, None, channel, calls)
        core.put(tx, record, index=owns_index)
        return view(record, policy, now)

    def delivery_receipt(
        self,
        verification_id: str,
        seq: int,
        state: str,
        expected_wait_s: float | None = None,
    ) -> Verification:
        """A sender's receipt for message ``seq`` of a verification (``verifier.delivery``).

        ``state`` is ``queued`` (with the gateway's ``expected_wait_s``), ``sent``,
        ``delivered`` or ``failed``. A receipt for an older message, or one that would move
        the state back, changes nothing. Timed by the engine's clock, as everything is.
        """
        state = delivery.state_arg(state)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise InvalidRequest("seq must be a whole number of at least 1")
        if expected_wait_s is not None and (
            isinstance(expected_wait_s, bool)
            or not isinstance(expected_wait_s, int | float)
            or not 0 <= expected_wait_s <= 86400
        ):
            raise InvalidRequest("expected_wait_s must be a number of seconds in 0..86400")

        def op(tx: Transaction) -> Verification | VerificationError:
            record = self._core.load(tx, verification_id)
            if record is None:
                return NotFound()
            record = dict(record)
            if delivery.apply(record, seq, state, tx.now, self.policy, expected_wait_s):
                self._core.put(tx, record)
                self._core.emit(tx, "delivery", record, reason=state)
            return view(record, self.policy, tx.now)

        return self._core.run(op)

    def receipt_token(self, verification_id: str, seq: int) -> str:
        """The signed token a gateway reports message ``seq``'s delivery with."""
        return delivery.receipt_token(self._core.key, verification_id, seq)

    def receipt_by_token(
        self, token: str, state: str, expected_wait_s: float | None = None
    ) -> Verification:
        """``delivery_receipt`` for the message a token names; ``NotFound`` if it is forged."""
        named = delivery.read_token(self._core.key, token)
        if named is None:
            raise NotFound("no such delivery receipt token")
        return self.delivery_receipt(named[0], named[1], state, expected_wait_s)

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
        return self._core.run(
            lambda tx: self._check(tx, verification_id, code, client_ip, device_id)
        )

    def _check(
        self,
        tx: Transaction,
        verification_id: str,
        code: str,
        client_ip: str | None,
        device_id: str | None,
    ) -> Verification | VerificationError:
        core, policy, now = self._core, self.policy, tx.now
        record = core.load(tx, verification_id)
        if record is None:
            return NotFound()
        refusal = attempts.not_open(record, now)
        if refusal is not None:
            if refusal.code == "locked_out":
                core.emit(tx, "refused", record, reason="locked_out")
            return refusal
        if expiry.expired(record, now):
            if not record["expired_noted"]:
                core.put(tx, dict(record, expired_noted=True))
                core.emit(tx, "expired", record)
            return CodeExpired()
        if failures.account_locked(tx, record["account_id"], policy.limits):
            core.emit(tx, "refused", record, reason="account_locked")
            return failures.account_lockout()
        wait, bucket = failures.retry_after(tx, record, policy.limits)
        if wait is not None:
            core.emit(tx, "refused", record, reason=f"rate_limited:{bucket}")
            return RateLimited(retry_after_s=round(wait, 3))
        reason = fraud.at_check(record, now, client_ip, device_id, policy.fraud)
        if reason is not None:
            core.finish(tx, dict(record, state="cancelled", end_reason=reason))
            core.emit(tx, "fraud_flagged", record, reason=reason)
            core.emit(tx, "cancelled", record, reason=reason)
            return AbnormalOperation(reason)
        typed = code if len(code) <= MAX_CODE_CHARS else ""
        # Compare against every hash so the time taken does not depend on which matched.
        matches = core.keyed.matches
        hits = [matches(record["id"], typed, h) for h, _, _ in record["codes"]]
        if hits[-1] or (policy.check.previous_codes_valid and any(hits)):
            return self._approve(tx, record)
        grace = policy.check.superseded_code_grace_s
        if grace > 0 and any(
            hit and gone is not None and now - gone <= grace
            for hit, (_, _, gone) in zip(hits, record["codes"], strict=True)
        ):
            core.emit(tx, "refused", record, reason="superseded_code")
            return CodeExpired("a newer code has been sent")
        if failures.note_failure(tx, record, policy.limits):
            core.emit(tx, "account_locked", record, reason="consecutive_failures")
        record, answer = attempts.wrong_code(tx, record, policy)
        core.emit(tx, "checked_wrong", record)
        if record["state"] == "locked":
            core.finish(tx, record)
            core.emit(tx, "locked", record)
        else:
            core.put(tx, record)
        return answer

    def _approve(self, tx: Transaction, record: dict) -> Verification | VerificationError:
        core = self._core
        if ownership.bound_elsewhere(
            tx, record["account_id"], record["phone"], self.policy.numbers
        ):
            core.finish(tx, dict(record, state="cancelled", end_reason="registered"))
            core.emit(tx, "refused", record, reason="phone_number_already_registered")
            return PhoneNumberAlreadyRegistered()
        record = dict(record, state="approved", approved_at=tx.now, end_reason="approved")
        core.finish(tx, record)
        if record.get("purpose") == "change":
            self._change_over(tx, record)
        failures.note_success(tx, record)
        budget.clear(tx, record)
        fraud.note_completion(tx, record["phone"], record["id"], self.policy.fraud)
        core.emit(tx, "checked_ok", record)
        return view(record, self.policy, tx.now)

    def _change_over(self, tx: Transaction, record: dict) -> None:
        """A change of number approved: move the binding, tell the old number."""
        old = self.registry.move(tx, record)
        if old is None:
            return
        notice = Message(old, notice_body(), "", tx.now, record["id"], kind="notice")
        self.sender.send(notice, tx)
        self._core.emit(
            tx,
            "notice_sent",
            account_id=record["account_id"],
            number=self._core.pseudonym(old),
            verification_id=record["id"],
            reason="number_changed",
        )

    def approve(self, verification_id: str) -> Verification:
        """Approve a pending verification without a code: the back end vouches for it.

        For a caller that confirmed the number another way (Twilio's ``Status=approved``);
        the same closing rules as a right code apply (ownership, budget, fraud notes).
        """
        core = self._core

        def op(tx: Transaction):
            record = core.load(tx, verification_id)
            if record is None:
                return NotFound()
            refusal = attempts.not_open(record, tx.now)
            if refusal is not None:
                return refusal
            if expiry.expired(record, tx.now):
                return CodeExpired()
            return self._approve(tx, record)

        return core.run(op)

    def pending_for(self, account_id: str, phone: str, country: str | None = None) -> Verification:
        """The account's pending verification of ``phone``; ``LockedOut`` or ``NotFound``."""
        account_id = text_arg("account_id", account_id, 128)
        e164 = parse_phone(phone, country).e164
        core = self._core

        def op(tx: Transaction):
            record = core.load(tx, tx.get(keys.pending(account_id, e164)))
            if record is None or record["state"] != "pending":
                # No attempts left: the number+account is locked, which is the answer.
                return attempts.locked_at_start(tx, account_id, e164) or NotFound()
            return view(record, self.policy, tx.now)

        return core.run(op)

    def consume(self, verification_id: str, reference: str | None = None) -> Verification:
        """The purchase step: use an approval once, for its own order, while it is fresh."""
        reference = text_arg("reference", reference, 256, optional=True)
        core = self._core

        def op(tx: Transaction):
            record = core.load(tx, verification_id)
            if record is None:
                return NotFound()
            refusal = purchase.refusal(tx, record, reference, self.policy)
            if refusal is not None:
                if record["state"] in purchase.USABLE:
                    core.emit(tx, "refused", record, reason=refusal.code)
                return refusal
            record = dict(record, state="consumed", consumed_at=tx.now)
            core.put(tx, record)
            core.emit(tx, "consumed", record)
            return view(record, self.policy, tx.now)

        return core.run(op)

    def cancel(self, verification_id: str) -> Verification:
        """End a pending (or expired) verification, e.g. when the buyer re-enters the number."""
        core = self._core

        def op(tx: Transaction):
            record = core.load(tx, verification_id)
            if record is None:
                return NotFound()
            if record["state"] != "pending":
                return VerificationNotPending(f"the verification is {record['state']}")
            record = dict(record, state="cancelled", end_reason="user")
            core.finish(tx, record)
            core.emit(tx, "cancelled", record, reason="user")
            return view(record, self.policy, tx.now)

        return core.run(op)

    def get(self, verification_id: str) -> Verification:
        """The verification's current state; reading changes nothing."""
        core = self._core

        def op(tx: Transaction):
            record = core.load(tx, verification_id)
            return NotFound() if record is None else view(record, self.policy, tx.now)

        return core.run(op)

    def unlock_account(self, account_id: str) -> bool:
        """Support's reset of an account's consecutive wrong codes; True if it was counting."""
        account_id = text_arg("account_id", account_id, 128)
        core = self._core

        def op(tx: Transaction) -> bool:
            done = failures.unlock(tx, account_id)
            if done:
                core.emit(tx, "account_unlocked", account_id=account_id, reason="support")
            return done

        return core.run(op)

    def purge(self) -> int:
        """Drop expired records and events older than ``privacy.retention_s``; returns rows."""
        now = self.clock.now()
        return self.store.purge(now, events_before=now - self.policy.privacy.retention_s)

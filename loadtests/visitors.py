"""What each kind of visitor does, in real time, against the service and the fake gateway.

They follow the model's reading of each actor (``simulation/buyers.py``,
``simulation/attackers.py``) so that measured and predicted can be set side by side;
every decision about a verification is the server's, read from its answers.

* :class:`Buyer`: starts a verification for its own number (after typing a landline by
  mistake, for a share of them), waits for the SMS on its phone (the gateway inbox),
  reads and types the code (``read_type_s``; a typo with ``typo_rate``), retypes after
  ``incorrect_code``, resends when no SMS came ``resend_after_s`` after the last send
  (waiting out ``resend_too_soon`` for its ``retry_after_s``) and after
  ``code_expired``, stops at a lockout, gives up ``give_up_after_s`` after arriving,
  and binds its number once approved.
* :class:`BruteForcer`: guesses distinct random codes at Poisson times, one fresh
  number and account per verification, until the server refuses, then starts anew.
* :class:`Pumper`: starts verifications to consecutive numbers of one prefix, never
  checks.
* :class:`Enumerator`: starts verifications to numbers some buyer registered (a share)
  or fresh ones, and counts which answers reveal a registration.

Each visitor records one flat row per session through ``ctx.record``; a session still
running when the run ends is killed and recorded as ``cut_off``.
"""

from __future__ import annotations

import time

import gevent

from simulation.durations import exponentials, integers, uniforms

from .api import Answer, Inbox
from .outcomes import CUT_OFF, ERROR


def sleep_until(at: float) -> None:
    """Sleep until wall-clock ``at`` (at once if it has passed: the schedule never drifts)."""
    gevent.sleep(max(0.0, at - time.time()))


def mistype(code: str) -> str:
    """The code with its last digit slipped by one: a wrong code of the same length."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def _retry(answer: Answer) -> float:
    return max(float(answer.body.get("retry_after_s") or 0.0), 0.001)


class Session:
    """Counters of one session, recorded once however it ends."""

    actor = "session"

    def __init__(self, ctx, session: int, country: str, arrival_s: float) -> None:
        self.ctx = ctx
        self.session = session
        self.country = country
        self.arrival_s = arrival_s
        self.outcome = "stopped"
        self.ttv: float | None = None
        self.sends = self.checks = self.wrong = self.expired = 0
        self.received: int | None = None
        self.blocked = self.landline = False
        self.vid: str | None = None
        self.lag: float | None = None

    def run(self) -> None:
        try:
            self.play()
        except gevent.GreenletExit:
            self.outcome = CUT_OFF
        except Exception:
            self.outcome = ERROR
            self.ctx.log.exception("%s session failed", self.actor)
        finally:
            self.ctx.record(self)

    def play(self) -> None:  # pragma: no cover - every visitor overrides it
        raise NotImplementedError


class Buyer(Session):
    actor = "buyer"

    def __init__(self, ctx, i, arrival_s, country, number, blocked, landline) -> None:
        super().__init__(ctx, i, country, arrival_s)
        self.number = number
        self.blocked = blocked
        self.landline = landline
        self.received = 0

    def play(self) -> None:
        ctx, api, users = self.ctx, self.ctx.api, self.ctx.users
        arrival = ctx.epoch + self.arrival_s
        self.lag = time.time() - arrival
        deadline = arrival + users.give_up_after_s
        account = f"b{ctx.nonce}-{self.session}"
        phone = Inbox(ctx.gateway, self.number, self.blocked)
        self.phone = phone
        self.outcome = "gave_up"
        if self.landline:
            self._landline_first(account)
        answer = api.start(self.number, self.country, account)
        if not answer.ok:
            self.outcome = answer.code
            return
        vid = self.vid = answer.body["id"]
        self.sends = 1
        next_resend = time.time() + users.resend_after_s
        retry_at = 0.0
        received_at_send = seen = 0
        to_type = need_resend = False
        sends_left = True
        while True:
            self.received = phone.received
            if phone.received > seen:
                seen = phone.received
                to_type = True
            if to_type:
                to_type = False
                gevent.sleep(next(ctx.read_type))
                phone.refresh()  # the newest code delivered while reading
                seen = self.received = phone.received
                code = phone.code
                if next(ctx.uniform) < users.typo_rate:
                    code = mistype(code)
                self.checks += 1
                answer = api.check(vid, code)
                if answer.ok:
                    self.outcome, self.ttv = "approved", time.time() - arrival
                    if api.bind(account, vid).ok:
                        ctx.registered.append((self.number, self.country))
                    return
                if answer.code == "incorrect_code":
                    self.wrong += 1
                    if answer.body.get("attempts_left") == 0:
                        self.outcome = "locked_out"
                        return
                    to_type = True
                    continue
                if answer.code == "code_expired":
                    self.expired += 1
                    need_resend = True
                elif answer.code == "rate_limited":
                    gevent.sleep(_retry(answer))
                    to_type = True
                    continue
                else:
                    self.outcome = answer.code
                    return
            now = time.time()
            if now >= deadline:
                return
            if need_resend and not sends_left:
                self.outcome = "max_sends_reached"
                return
            silent = phone.received == received_at_send  # no SMS since the last send
            if sends_left and now >= retry_at and (need_resend or (silent and now >= next_resend)):
                answer = api.resend(vid)
                if answer.ok:
                    self.sends += 1
                    need_resend = False
                    next_resend = time.time() + users.resend_after_s
                    received_at_send = phone.received
                    silent = True
                elif answer.code in ("resend_too_soon", "rate_limited"):
                    retry_at = now + _retry(answer)
                elif answer.code == "max_sends_reached":
                    sends_left = False
                    if need_resend:
                        self.outcome = answer.code
                        return
                else:
                    self.outcome = answer.code
                    return
            wake_at = deadline
            if sends_left:
                if need_resend:
                    wake_at = min(wake_at, retry_at)
                elif silent:
                    wake_at = min(wake_at, max(next_resend, retry_at))
            phone.wait(wake_at)

    def _landline_first(self, account: str) -> None:
        """Type a landline/VoIP number by mistake, then take the time to re-enter it."""
        ctx = self.ctx
        mistake = ctx.plan.landline(self.country)
        if mistake is None:
            return
        answer = ctx.api.start(mistake, self.country, account)
        if answer.ok:
            # Accepted: a code goes to a landline. The buyer waits for it, then re-enters.
            gevent.sleep(ctx.users.resend_after_s)
            ctx.api.cancel(answer.body["id"])
        gevent.sleep(next(ctx.read_type))


class BruteForcer(Session):
    """One sequential guesser at ``rate`` checks per second until ``end_at`` (wall clock)."""

    actor = "bruteforce"

    def __init__(self, ctx, rate: float, end_at: float, region: str) -> None:
        super().__init__(ctx, 0, region, 0.0)
        self.rate, self.end_at, self.region = rate, end_at, region

    def run(self) -> None:
        # Not a single session: a loop of verifications, each recorded on its own.
        ctx = self.ctx
        gaps = exponentials(ctx.rng("bruteforce"), self.rate)
        space = 10**ctx.code_length
        guesses = integers(ctx.rng("guesses"), space)
        at, n = time.time(), 0
        while time.time() < self.end_at:
            n += 1
            one = Session(ctx, n, self.region, time.time() - ctx.epoch)
            one.actor = self.actor
            try:
                at = self._one(one, at, gaps, guesses, space)
            except gevent.GreenletExit:
                one.outcome = CUT_OFF
                return
            except Exception:
                one.outcome = ERROR
                ctx.log.exception("%s session failed", self.actor)
                at = time.time() + next(gaps)
                sleep_until(at)
            finally:
                ctx.record(one)

    def _one(self, one: Session, at: float, gaps, guesses, space: int) -> float:
        ctx = self.ctx
        account = f"f{ctx.nonce}-{ctx.index}-{one.session}"
        answer = ctx.api.start(ctx.plan.fresh("bruteforce", self.region), self.region, account)
        if not answer.ok:
            one.outcome = answer.code
            at += next(gaps)
            sleep_until(at)
            return at
        one.vid, one.sends = answer.body["id"], 1
        tried: set[int] = set()
        while True:
            at += next(gaps)
            sleep_until(at)
            if time.time() >= self.end_at:
                return at
            guess = next(guesses)
            while guess in tried:
                guess = next(guesses)
            tried.add(guess)
            if len(tried) >= space:
                tried.clear()
            one.checks += 1
            answer = ctx.api.check(one.vid, f"{guess:0{ctx.code_length}d}")
            if answer.ok:
                one.outcome = "approved"
                return at
            if answer.code == "incorrect_code":
                one.wrong += 1
                if answer.body.get("attempts_left") != 0:
                    continue
                one.outcome = "locked_out"
            else:
                one.outcome = answer.code
                one.expired += answer.code == "code_expired"
            return at


class Probe(Session):
    """One ``start`` by a pumper or an enumerator; ``outcome`` says what it got."""

    def __init__(self, ctx, actor, n, number, country, arrival_s, registered=False) -> None:
        super().__init__(ctx, n, country, arrival_s)
        self.actor = actor
        self.number = number
        self.registered_target = registered

    def play(self) -> None:
        ctx = self.ctx
        self.lag = time.time() - (ctx.epoch + self.arrival_s)
        account = f"{self.actor[0]}{ctx.nonce}-{ctx.index}-{self.session}"
        answer = ctx.api.start(self.number, self.country, account)
        if answer.ok:
            self.outcome = "sent" if answer.status == 201 else "existing"
            self.sends = int(answer.status == 201)
            self.vid = answer.body.get("id")
        else:
            self.outcome = answer.code


class Pumper:
    """Starts to consecutive numbers of one prefix at Poisson times, never checking."""

    actor = "pumping"

    def __init__(self, ctx, rate: float, end_at: float, region: str) -> None:
        self.ctx, self.rate, self.end_at, self.region = ctx, rate, end_at, region

    def run(self) -> None:
        ctx = self.ctx
        gaps = exponentials(ctx.rng(self.actor), self.rate)
        numbers = ctx.plan.consecutive(self.actor, self.region)
        at, n = time.time(), 0
        while True:
            at += next(gaps)
            sleep_until(at)
            if at >= self.end_at:
                return
            n += 1
            probe = Probe(ctx, self.actor, n, next(numbers), self.region, at - ctx.epoch)
            ctx.spawn(probe)


class Enumerator:
    """Probes registered numbers (a ``share`` of the time) or fresh ones at Poisson times."""

    actor = "enumeration"

    def __init__(self, ctx, rate: float, end_at: float, region: str, share: float) -> None:
        self.ctx, self.rate, self.end_at, self.region = ctx, rate, end_at, region
        self.share = share

    def run(self) -> None:
        ctx = self.ctx
        rng = ctx.rng(self.actor)
        gaps, uniform = exponentials(rng, self.rate), uniforms(rng)
        at, n = time.time(), 0
        while True:
            at += next(gaps)
            sleep_until(at)
            if at >= self.end_at:
                return
            n += 1
            known = ctx.registered
            registered = bool(known) and next(uniform) < self.share
            if registered:
                number, country = known[int(next(uniform) * len(known))]
            else:
                number, country = ctx.plan.fresh(self.actor, self.region), self.region
            probe = Probe(ctx, self.actor, n, number, country, at - ctx.epoch, registered)
            ctx.spawn(probe)

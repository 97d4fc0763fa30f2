"""How long a third party can keep a victim from verifying, under a policy's limits.

The attacker knows the victim's number (and, in the last two rows, the account id the
shop uses for the victim). For ``--attack-s`` seconds it does the worst the API allows:
every second it starts a verification to the victim's number from a fresh account (or
the victim's) and types wrong codes on every verification it holds until refused. Then
it stops, and the victim, who holds the phone, tries every 10 s to start and type the
right code. The denial is the time from the attacker's last request until the victim is
approved, measured on a manual clock through the engine itself.

    .venv/bin/python bench/denial.py [--policy FILE] [--attack-s 3600]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools

from verifier import ManualClock, MemoryStore, Policy, SandboxSender, VerificationError, Verifier

VICTIM, VICTIM_E164 = "090-2468-1357", "+819024681357"
PROBE_S = 10.0
GIVE_UP_S = 3 * 86400.0


def _attack(v: Verifier, clock: ManualClock, accounts, attack_s: float) -> int:
    """Run the attack for ``attack_s``; returns the requests it made."""
    end = clock.now() + attack_s
    requests = 0
    held: list[str] = []
    patience = v.policy.fraud.min_check_delay_s  # no faster than the automation detector allows
    while clock.now() < end:
        with contextlib.suppress(VerificationError):
            ver = v.start(VICTIM, "JP", next(accounts))
            if ver.id not in held:
                held.append(ver.id)
        requests += 1
        for vid in list(held):
            if clock.now() - v.get(vid).created_at < patience:
                continue
            try:
                v.check(vid, "000000")
            except VerificationError as err:
                if err.code != "incorrect_code":
                    held.remove(vid)
            requests += 1
        clock.advance(1.0)
    return requests


def _victim_waits(v: Verifier, clock: ManualClock, sender: SandboxSender, account: str) -> float:
    """Seconds until the victim's own start + right code is approved (inf: not within 3 days)."""
    began = clock.now()
    while clock.now() - began < GIVE_UP_S:
        try:
            ver = v.start(VICTIM, "JP", account, reference=f"order-{clock.now()}")
            clock.advance(2.0)
            v.check(ver.id, sender.messages(VICTIM_E164)[-1].code)
            return clock.now() - began - 2.0
        except VerificationError as err:
            if err.code == "locked_out" and err.retry_after_s is None:
                return float("inf")  # until support unlocks the account
        clock.advance(PROBE_S)
    return float("inf")


def measure(policy: Policy, *, bound: bool, victim_account: bool, attack_s: float) -> dict:
    clock, sender = ManualClock(), SandboxSender()
    v = Verifier(policy, MemoryStore(), sender, clock, hmac_key=b"d" * 32)
    if bound:
        ver = v.start(VICTIM, "JP", "victim")
        clock.advance(2)
        v.check(ver.id, sender.messages(VICTIM_E164)[-1].code)
        v.registry.bind("victim", ver.id)
        clock.advance(3600)
    accounts = (
        itertools.repeat("victim") if victim_account else (f"third-{i}" for i in itertools.count())
    )
    requests = _attack(v, clock, accounts, attack_s)
    sms = len(sender.messages(VICTIM_E164))
    return {"denial_s": _victim_waits(v, clock, sender, "victim"), "requests": requests, "sms": sms}


def _fmt(seconds: float) -> str:
    if seconds == float("inf"):
        return "until support unlocks"
    return f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help="policy TOML (default: the shipped default)")
    parser.add_argument("--attack-s", type=float, default=3600.0)
    args = parser.parse_args()
    policy = Policy.from_toml(args.policy) if args.policy else Policy.default()
    rows = [
        ("number only, victim's number unbound", False, False),
        ("number only, victim owns the number", True, False),
        ("number and account id, unbound", False, True),
        ("number and account id, victim owns it", True, True),
    ]
    print(f"attack of {args.attack_s:g} s; victim probes every {PROBE_S:g} s")
    print(f"{'attacker knows':42} {'denial after it stops':>24} {'requests':>9} {'SMS':>5}")
    for name, bound, account in rows:
        got = measure(policy, bound=bound, victim_account=account, attack_s=args.attack_s)
        print(f"{name:42} {_fmt(got['denial_s']):>24} {got['requests']:>9} {got['sms']:>5}")


if __name__ == "__main__":
    main()

"""``/v2`` services: kept in the store, each mapped to a policy and a verifier for it.

A Twilio service is a configuration; here it is the server's policy with the settings the
service overrides (so far ``CodeLength`` → ``code.length``). Every service's verifier is
:meth:`Verifier.with_policy` of the server's own, so all of them share the store, the
sender, the clock, the key and the listeners, and issue Twilio-shaped ``VE…`` SIDs.

A ``/v2`` verification has no account of ours, so its account id is the service SID and a
keyed pseudonym of the number (never the number itself, which would reach events):
every per-account rule (consecutive failures, per-account velocity, one number per
account, lockout) applies to one service and one number.
"""

from __future__ import annotations

import threading

from ... import keys
from ...errors import ConfigError
from ...lifecycle import Verifier
from ...store import Transaction
from . import shapes
from .errors import InvalidParameter

MAX_NAME = 32
MAX_SERVICES = 1000


def new_verification_sid() -> str:
    return shapes.new_sid("VE")


class Services:
    """The services in the store, and one verifier per distinct service policy."""

    def __init__(self, verifier: Verifier) -> None:
        self.base = verifier
        self._by_length: dict[int, Verifier] = {}
        self._lock = threading.Lock()

    def create(self, account_sid: str, friendly_name: str, code_length: int | None) -> dict:
        """Store a new service; ``code_length`` must suit the policy (4..10 digits)."""
        length = self.base.policy.code.length if code_length is None else code_length
        self.verifier_for({"code_length": length})  # refuses a length the policy cannot take
        record = {
            "sid": shapes.new_sid("VA"),
            "account_sid": account_sid,
            "friendly_name": friendly_name,
            "code_length": length,
            "created_at": self.base.clock.now(),
        }

        def op(tx: Transaction) -> dict:
            tx.put(keys.twilio_service(record["sid"]), record)
            return record

        return self.base.store.transact(op, record["created_at"])

    def get(self, service_sid: str) -> dict | None:
        if not shapes.SID.match(service_sid) or not service_sid.startswith("VA"):
            return None
        key = keys.twilio_service(service_sid)
        return self.base.store.transact(lambda tx: tx.get(key), self.base.clock.now())

    def all(self) -> list[dict]:
        """Every service, oldest first."""
        rows = self.base.store.scan(keys.TWILIO_SERVICES, self.base.clock.now(), MAX_SERVICES)
        return sorted((value for _, value in rows), key=lambda r: (r["created_at"], r["sid"]))

    def verifier_for(self, service: dict) -> Verifier:
        """The verifier of ``service``'s policy (made once per distinct policy)."""
        length = service["code_length"]
        with self._lock:
            found = self._by_length.get(length)
            if found is None:
                try:
                    policy = self.base.policy.replace(**{"code.length": length})
                except ConfigError as err:
                    raise InvalidParameter("CodeLength", err.problem) from None
                found = self._by_length[length] = self.base.with_policy(
                    policy, id_source=new_verification_sid
                )
            return found

    def account_id(self, service: dict, e164: str) -> str:
        """The engine account of a ``/v2`` verification: the service and the number's pseudonym."""
        return f"{service['sid']}:{self.base.pseudonym(e164)}"

    @staticmethod
    def owns(service: dict, account_id: str) -> bool:
        """Whether a verification of ``account_id`` was started through ``service``."""
        return account_id.startswith(service["sid"] + ":")

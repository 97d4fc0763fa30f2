"""The engine's plumbing, shared by the verifier and the registry: transactions, events,
records and pseudonyms, on the injected store, clock and key.

``Core`` decides nothing: the rules (``expiry``, ``budget``, ``attempts``, ``ownership``,
``limits``, ``failures``, ``fraud``, ``purchase``, ``phone``) decide, and the operations
in ``lifecycle`` and ``registry`` put them together inside one transaction each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import codes, expiry, keys
from .clock import Clock
from .errors import VerificationError
from .events import Event, Listener
from .policy import Policy
from .senders import Sender
from .store import Store, Transaction

PSEUDONYMS_KEPT = 4096
MAX_ID_CHARS = 64


class Core:
    """Policy, store, sender, clock and key of one verifier, and the helpers operations use."""

    def __init__(
        self,
        policy: Policy,
        store: Store,
        sender: Sender,
        clock: Clock,
        key: bytes,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.policy = policy
        self.store = store
        self.sender = sender
        self.clock = clock
        self.key = key
        self.keyed = codes.Keyed(key)
        self.listeners: list[Listener] = list(listeners)
        self._pseudonyms: dict[str, str] = {}

    def pseudonym(self, e164: str) -> str:
        """The keyed pseudonym events use for a number (remembered for recent numbers)."""
        known = self._pseudonyms.get(e164)
        if known is None:
            if len(self._pseudonyms) >= PSEUDONYMS_KEPT:
                self._pseudonyms.clear()
            known = self._pseudonyms[e164] = self.keyed.pseudonym(e164)
        return known

    def emit(self, tx: Transaction, kind: str, record: dict | None = None, **fields) -> None:
        """Record an event in ``tx``; listeners hear it once the transaction commits.

        When the store drops events and nobody listens, the event is not built at all.
        """
        if not (tx.records_events or self.listeners):
            return
        if record is not None and len(fields) <= 1 and fields.keys() <= {"reason"}:
            # The common shape (a record and perhaps a reason), built without a kwargs merge.
            event = Event(
                kind,
                tx.now,
                record["id"],
                self.pseudonym(record["phone"]),
                record["account_id"],
                fields.get("reason"),
            )
        else:
            if record is not None:
                fields.setdefault("verification_id", record["id"])
                fields.setdefault("number", self.pseudonym(record["phone"]))
                fields.setdefault("account_id", record["account_id"])
            event = Event(kind, tx.now, **fields)
        tx.emit(event)
        if self.listeners:
            tx.after_commit(lambda: self._notify(event))

    def _notify(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def run(self, op: Callable[[Transaction], object]):
        """Run ``op`` in one transaction; a returned refusal is raised after the commit."""
        result = self.store.transact(op, self.clock.now())
        if isinstance(result, VerificationError):
            try:
                raise result
            finally:
                del result  # the traceback would otherwise keep this frame in a cycle
        return result

    def refuse(self, error: VerificationError, account_id: str | None, number: str | None):
        """Record a refusal that needed no state, then raise it."""

        def op(tx: Transaction):
            self.emit(tx, "refused", account_id=account_id, number=number, reason=error.code)
            return error

        return self.run(op)

    def load(self, tx: Transaction, verification_id: object) -> dict | None:
        if not isinstance(verification_id, str) or len(verification_id) > MAX_ID_CHARS:
            return None
        return tx.get(keys.verification(verification_id))

    def put(self, tx: Transaction, record: dict, index: bool = False) -> None:
        """Store a record until it may be purged; with ``index`` keep its pending index as long."""
        purge_at = expiry.purge_at(record, tx.now, self.policy)
        record["updated_at"] = tx.now  # every write is a change a caller may want dated
        tx.put(keys.verification(record["id"]), record, expire_at=purge_at)
        if index:
            tx.put(
                keys.pending(record["account_id"], record["phone"]),
                record["id"],
                expire_at=purge_at,
            )

    def finish(self, tx: Transaction, record: dict) -> None:
        """Store a verification that has left ``pending`` and drop its pending index."""
        self.put(tx, record)
        key = keys.pending(record["account_id"], record["phone"])
        if tx.get(key) == record["id"]:
            tx.delete(key)

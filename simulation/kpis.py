"""KPIs: flat per-verification records, per-minute series, ``metrics.json`` and its CIs.

Actors add one flat tuple per session (``COLUMNS``) to a :class:`Ledger` and bump its
counters; nothing is aggregated while the simulation runs. The ledger keeps the rows by
column in typed arrays, spilled to temporary files in long runs (``spool.py``), instead
of a tuple of objects per session (about 270 bytes), and builds the table once at the
end, exactly as ``pandas.DataFrame(rows)`` would from the same tuples. After a replication,
``replication_metrics`` computes the ``metrics.json`` contract keys (and a few more),
``timeseries`` the per-minute table; ``combine`` turns replications into means and
95 % half-widths with Student-t quantiles. Undefined values are ``None``, never NaN.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .spool import Spool

COLUMNS = (
    "actor",  # buyer, bruteforce, pumping, enumeration, farming, cardfraud
    "session",  # per-actor sequence number
    "country",
    "arrival_s",  # when the session began
    "end_s",  # when it ended
    "outcome",  # approved, gave_up, or the engine's refusal code that ended it
    "ttv_s",  # arrival -> approval, approved sessions only
    "sends",  # SMS the engine sent for this session
    "checks",  # check() calls
    "wrong_codes",  # checks answered incorrect_code
    "codes_expired",  # checks answered code_expired
    "sms_received",  # codes that reached the handset
    "blocks_sms",  # the handset rejects SMS
    "recycled",  # the number was registered to someone else before the run
    "landline_typo",  # a landline/VoIP number was typed first
)
BUCKET_S = 60.0
META_KEYS = ("scenario", "seed", "replications")
NO_CI = ("wall_s",)


# The Python type each column holds (anything else, None included, is kept aside).
KINDS = (str, int, str, float, float, str, float, int, int, int, int, int, bool, bool, bool)
TYPECODES = {float: "d", int: "q", bool: "b", str: "I"}
NUMPY = {float: np.float64, int: np.int64, bool: np.bool_}
FLUSH_ROWS = 4096
INT64 = (-(2**63), 2**63)


class Column:
    """One column of session rows, for values of exactly type ``kind``, in a :class:`Spool`.

    Strings are stored as codes into ``levels``; floats, ints and bools as themselves.
    A value of another type (``None``, an int in a float column) is kept aside with its
    row number, so ``values()`` gives back the very objects that were added.
    """

    __slots__ = ("codes", "data", "kind", "levels", "other", "other_at")

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.data = Spool(TYPECODES[kind])
        self.levels: list[str] = []
        self.codes: dict[str, int] = {}
        self.other_at = array("q")
        self.other: list = []

    def __len__(self) -> int:
        return len(self.data)

    def _fits(self, value) -> bool:
        return type(value) is self.kind and (self.kind is not int or INT64[0] <= value < INT64[1])

    def _code(self, value: str) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.levels)
            self.levels.append(value)
        return code

    def extend(self, values: tuple) -> None:
        kind, data = self.kind, self.data
        if all(type(v) is kind for v in values):
            if kind is str:
                codes, code = self.codes, self._code
                data.extend([codes[v] if v in codes else code(v) for v in values])
                return
            if kind is not int or (INT64[0] <= min(values) and max(values) < INT64[1]):
                data.extend(values)
                return
        for v in values:
            if self._fits(v):
                data.append(self._code(v) if kind is str else v)
            else:
                self.other_at.append(len(data))
                self.other.append(v)
                data.append(0)

    def values(self) -> list:
        """The added objects, in order."""
        stored = self.data.to_numpy()
        if self.kind is str:
            out = list(map(self.levels.__getitem__, stored.tolist()))
        elif self.kind is bool:
            out = (stored == 1).tolist()
        else:
            out = stored.tolist()
        for at, v in zip(self.other_at, self.other, strict=True):
            out[at] = v
        return out

    def series(self, name: str) -> pd.DataFrame:
        """A one-column table, with the dtype ``pandas.DataFrame(rows)`` infers for it."""
        if not self.other and self.kind in NUMPY:
            # A column of only floats (ints, bools) is inferred float64 (int64, bool).
            values = self.data.to_numpy().astype(NUMPY[self.kind], copy=False)
            return pd.DataFrame({name: values}, copy=False)
        # Otherwise pandas infers it, from the same objects, the way it does for row tuples.
        return pd.DataFrame(list(zip(self.values())), columns=[name])


class Ledger:
    """What one replication's actors record: session rows and named counters.

    ``add`` takes one row (a tuple in ``COLUMNS`` order); rows are buffered and moved
    into typed columns ``FLUSH_ROWS`` at a time. ``frame()`` gives the same table as
    ``pandas.DataFrame(rows, columns=COLUMNS)`` would. Long runs keep the columns (and
    the approval times) in temporary files: see ``spool.py``.
    """

    def __init__(self) -> None:
        self.columns = [Column(kind) for kind in KINDS]
        self._rows: list[tuple] = []
        self.counts: Counter[str] = Counter()
        self.approved_at = Spool("d")

    def add(self, row: tuple) -> None:
        rows = self._rows
        rows.append(row)
        if len(rows) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        rows, self._rows = self._rows, []
        if rows:
            for column, values in zip(self.columns, zip(*rows, strict=True), strict=True):
                column.extend(values)

    def __len__(self) -> int:
        return len(self.columns[0]) + len(self._rows)

    def frame(self) -> pd.DataFrame:
        self._flush()
        if not len(self):
            return pd.DataFrame([], columns=list(COLUMNS))
        parts = [column.series(name) for column, name in zip(self.columns, COLUMNS, strict=True)]
        return pd.concat(parts, axis=1)

    def close(self) -> None:
        """Drop the rows and their temporary files once the tables are built."""
        for column in self.columns:
            column.data.close()
        self.approved_at.close()


def occupancy(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """∫ #{i: starts[i] ≤ t < ends[i]} dt over each [edges[k], edges[k+1])."""
    if starts.size == 0:
        return np.zeros(len(edges) - 1)
    s, e = np.sort(starts), np.sort(ends)
    cs, ce = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(e)])
    ks, ke = np.searchsorted(s, edges), np.searchsorted(e, edges)
    # F(t) = Σ_{s<t} (t - s) - Σ_{e<t} (t - e): the area under the count up to t.
    area = (ks * edges - cs[ks]) - (ke * edges - ce[ke])
    return np.diff(area)


def _buyers(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The buyers' rows of ``frame``, only ``columns`` of them (a copy of what is needed)."""
    return frame.loc[(frame["actor"] == "buyer").to_numpy(dtype=bool), columns]


def _q(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def replication_metrics(
    ledger: Ledger,
    frame: pd.DataFrame,
    gateway,
    tally,
    duration_s: float,
    sim_events: int,
    wall_s: float,
) -> dict:
    """The ``metrics.json`` keys of one replication (see ``docs/simulation.md``)."""
    buyers = _buyers(frame, ["outcome", "ttv_s", "codes_expired", "sends", "landline_typo"])
    outcome = buyers["outcome"]
    checkouts = len(buyers)
    verified = int((outcome == "approved").sum())
    ttv = buyers["ttv_s"].dropna().to_numpy(dtype=float)
    submitted, started, ended = gateway.arrays()
    waits = started - submitted
    window = np.array([0.0, duration_s])
    busy_area = occupancy(started, ended, window)[0]
    queue_area = occupancy(submitted, started, window)[0]
    counts = ledger.counts
    return {
        "checkouts": checkouts,
        "verified": verified,
        "conversion": _ratio(verified, checkouts),
        "ttv_p50_s": _q(ttv, 50),
        "ttv_p95_s": _q(ttv, 95),
        "ttv_p99_s": _q(ttv, 99),
        "codes_expired": int(buyers["codes_expired"].sum()),
        "legit_lockouts": int((outcome == "locked_out").sum()),
        "abandoned": checkouts - verified,
        "sms_sent": gateway.sent,
        "sms_per_verified": _ratio(gateway.sent, verified),
        "sms_cost": gateway.cost(),
        "gateway_wait_mean_s": float(waits.mean()) if waits.size else None,
        "gateway_wait_p99_s": _q(waits, 99),
        "gateway_utilization": float(busy_area / (gateway.config.channels * duration_s)),
        "bruteforce_attempts": counts["bruteforce_attempts"],
        "bruteforce_successes": counts["bruteforce_successes"],
        "bruteforce_verifications": counts["bruteforce_verifications"],
        "pumping_sms_sent": counts["pumping_sms_sent"],
        "pumping_sms_blocked": counts["pumping_sms_blocked"],
        # Beyond the contract: what the report and the validation tests read.
        "buyer_sms_sent": int(buyers["sends"].sum()),
        "buyer_resends": int((buyers["sends"] - 1).clip(lower=0).sum()),
        "gave_up": int((outcome == "gave_up").sum()),
        "out_of_sends": int((outcome == "max_sends_reached").sum()),
        "registered_refusals": int((outcome == "phone_number_already_registered").sum()),
        "landline_typos": int(buyers["landline_typo"].sum()),
        "legit_fraud_flags": int((outcome == "abnormal_operation").sum()),
        "fraud_flags": tally.kinds["fraud_flagged"],
        "sms_delivered": gateway.delivered,
        "sms_lost": gateway.lost,
        "gateway_queue_mean": float(queue_area / duration_s),
        "enumeration_probes": counts["enumeration_probes"],
        "enumeration_registered_probes": counts["enumeration_registered_probes"],
        "enumeration_revealed": counts["enumeration_revealed"],
        "enumeration_sms_sent": counts["enumeration_sms_sent"],
        "farming_attempts": counts["farming_attempts"],
        "farming_accounts": counts["farming_accounts"],
        "farming_blocked": counts["farming_blocked"],
        # Step-up by payment risk (zero without a [payments] table).
        "codes_skipped": counts["codes_skipped"],
        # The voice fallback (the gateway's call counts are added by the run).
        "buyers_asking_for_a_call": counts["buyers_asking_for_a_call"],
        "buyer_calls": counts["buyer_calls"],
        "approved_by_call": counts["approved_by_call"],
        # What the spared buyers would have cost at the coded buyers' SMS per checkout.
        "sms_saved_est": _ratio(
            counts["codes_skipped"] * int(buyers["sends"].sum()),
            checkouts - counts["codes_skipped"],
        )
        or 0.0,
        "fraud_payments": counts["fraud_payments"],
        "fraud_payments_passed": counts["fraud_payments_passed"],
        "fraud_loss": float(counts["fraud_loss"]),
        "sim_events": sim_events,
        "wall_s": wall_s,
    }


def timeseries(ledger: Ledger, frame: pd.DataFrame, gateway, tally, end_s: float) -> pd.DataFrame:
    """One row per simulated minute from 0 to the end of the run."""
    n = max(1, math.ceil(end_s / BUCKET_S))
    edges = np.arange(n + 1) * BUCKET_S
    submitted, started, ended = gateway.arrays()

    def per_bucket(times) -> np.ndarray:
        times = np.asarray(times, dtype=float)
        return np.bincount(np.minimum(times // BUCKET_S, n - 1).astype(int), minlength=n)

    buyers = _buyers(frame, ["arrival_s"])
    starts = per_bucket(started)
    wait_sum = np.bincount(
        np.minimum(started // BUCKET_S, n - 1).astype(int), weights=started - submitted, minlength=n
    )
    sent = per_bucket(submitted)
    with np.errstate(invalid="ignore", divide="ignore"):
        wait_mean = np.where(starts > 0, wait_sum / np.maximum(starts, 1), np.nan)
    return pd.DataFrame(
        {
            "minute": np.arange(n),
            "arrivals": per_bucket(buyers["arrival_s"].to_numpy()),
            "sms_sent": sent,
            "sms_per_s": sent / BUCKET_S,
            "gateway_queue_mean": occupancy(submitted, started, edges) / BUCKET_S,
            "gateway_busy_mean": occupancy(started, ended, edges) / BUCKET_S,
            "gateway_wait_mean_s": wait_mean,
            "verified": per_bucket(ledger.approved_at.to_numpy()),
            "locked": per_bucket(tally.locked_at),
            "fraud_flags": per_bucket(tally.flagged_at),
        }
    )


def t975(df: int) -> float:
    """The Student-t 0.975 quantile with ``df`` degrees of freedom (exact, by bisection)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    lo, hi = 0.0, 1000.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _t_central(mid, df) < 0.95:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _t_central(t: float, df: int) -> float:
    """P(|T| ≤ t) for integer ``df`` (Abramowitz and Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        term, total = math.cos(theta), 0.0
        if df > 1:
            total = term
            for k in range(3, df - 1, 2):
                term *= c2 * (k - 1) / k
                total += term
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):
        term *= c2 * (k - 1) / k
        total += term
    return s * total


def combine(runs: Sequence[dict]) -> dict:
    """Means over replications; with more than one, ``KEY_ci95`` half-widths as well."""
    out: dict = {}
    n = len(runs)
    for key in runs[0]:
        values = [r[key] for r in runs]
        if key in META_KEYS or not all(v is None or isinstance(v, int | float) for v in values):
            out[key] = values[0]
            continue
        if key == "wall_s":
            out[key] = float(sum(values))
            continue
        present = [float(v) for v in values if v is not None]
        out[key] = None if not present else values[0] if n == 1 else float(np.mean(present))
        if n > 1 and key not in NO_CI:
            if len(present) > 1:
                sd = float(np.std(present, ddof=1))
                out[f"{key}_ci95"] = t975(len(present) - 1) * sd / math.sqrt(len(present))
            else:
                out[f"{key}_ci95"] = None
    return out


def json_safe(value):
    """``value`` with every NaN or infinity replaced by ``None`` (JSON ``null``)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return json_safe(float(value))
    return value

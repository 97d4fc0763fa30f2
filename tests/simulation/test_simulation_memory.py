"""What keeps a long run's memory small: session rows and gateway times in columns spooled
to disk, compact per-buyer inputs, phones dropped when their session ends, no uncollected
reference cycles. None of it may change an output."""

from __future__ import annotations

import gc
import random

import numpy as np
import pandas as pd
import pytest

import simulation.run as run_module
from simulation import spool
from simulation.buyers import Registered
from simulation.gateway import Gateway
from simulation.kpis import COLUMNS, FLUSH_ROWS, Ledger
from simulation.numbers import NumberPlan
from simulation.run import run_replication
from simulation.scenario import Scenario
from simulation.spool import Spool
from verifier import Policy

BUYER = ("buyer", 7, "JP", 1.5, 30.25, "approved", 28.75, 1, 1, 0, 0, 1, False, False, True)
AGENT = ("bruteforce", 3, "JP", 0, 2.5, "locked_out", None, 1, 5, 5, 0, None, None, False, False)
ODD = [None, 0, 1, -3, 300, 70_000, 2**40, 2**70, 1.5, float("nan"), True, False, "", "JP"]


def without_wall(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "wall_s"}


def ledger_of(rows: list[tuple]) -> Ledger:
    ledger = Ledger()
    for row in rows:
        ledger.add(row)
    return ledger


def same_as_pandas(rows: list[tuple]) -> None:
    """The ledger's table is the one pandas builds from the row tuples, dtypes included."""
    got = ledger_of(rows).frame()
    expected = pd.DataFrame(rows, columns=list(COLUMNS))
    pd.testing.assert_frame_equal(got, expected, check_dtype=True, check_column_type=True)
    assert list(got.dtypes) == list(expected.dtypes)


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [BUYER],
        [AGENT],
        [BUYER] * (FLUSH_ROWS + 5) + [AGENT],  # ints and None in one column: float64
        [("pumping", 1, "NG", 0, 0, "sent", None, 1, 0, 0, 0, None, None, False, False)] * 3,
    ],
    ids=["empty", "buyer", "agent", "mixed", "all-int-times"],
)
def test_ledger_table_is_what_pandas_makes_of_the_rows(rows):
    same_as_pandas(rows)


def test_ledger_keeps_any_value_in_any_column():
    rnd = random.Random(1)
    for k in range(len(COLUMNS)):
        same_as_pandas([tuple(ODD[i % len(ODD)] if j == k else v for j, v in enumerate(BUYER))
                        for i in range(40)])  # fmt: skip
    rows = [
        tuple(rnd.choice(ODD) if rnd.random() < 0.3 else v for v in rnd.choice([BUYER, AGENT]))
        for _ in range(2 * FLUSH_ROWS + 17)
    ]
    same_as_pandas(rows)


def test_spools_give_back_what_was_appended_across_spills(monkeypatch):
    monkeypatch.setattr(spool, "CHUNK", 10)
    floats, ints = Spool("d"), Spool("q")
    values = [0.1 * k for k in range(95)]
    for v in values[:50]:
        floats.append(v)
    floats.extend(values[50:])
    ints.extend(range(-5, 5))
    assert floats._file is not None and len(floats) == 95 and len(floats.tail) < 10
    assert floats.to_numpy().tolist() == values  # and it can be read more than once
    floats.append(1.5)
    assert floats.to_numpy().tolist() == [*values, 1.5]
    assert ints.to_numpy().dtype == np.int64 and ints.to_numpy().tolist() == list(range(-5, 5))
    floats.close()
    assert len(floats) == 0 and floats._file is None
    assert Spool("d").to_numpy().size == 0


def test_spilling_changes_no_output(monkeypatch):
    s = Scenario.from_dict(
        {"name": "spill", "duration_s": 600, "arrivals": {"rate_per_s": 1.0},
         "numbers": {"recycled_share": 0.05, "landline_typo_share": 0.05},
         "fraud": {"bruteforce_rate_per_s": 0.2, "pumping_rate_per_s": 0.2}}
    )  # fmt: skip
    kept = run_replication(s, Policy.default())
    monkeypatch.setattr(spool, "CHUNK", 7)
    spilled = run_replication(s, Policy.default())
    pd.testing.assert_frame_equal(spilled.verifications, kept.verifications)
    pd.testing.assert_frame_equal(spilled.timeseries, kept.timeseries)
    assert without_wall(spilled.metrics) == without_wall(kept.metrics)


def test_session_rows_wait_on_disk_not_in_memory(monkeypatch):
    monkeypatch.setattr(spool, "CHUNK", 4096)
    ledger = ledger_of([(*BUYER[:1], i, *BUYER[2:]) for i in range(100_000)])
    ledger._flush()
    in_memory = sum(c.data.tail.buffer_info()[1] * c.data.tail.itemsize for c in ledger.columns)
    assert in_memory / len(ledger) < 4  # a tuple of 15 objects was about 270 bytes
    assert not any(c.other for c in ledger.columns)
    frame = ledger.frame()
    assert len(frame) == 100_000 and frame["session"].tolist() == list(range(100_000))
    ledger.close()


def test_buyer_numbers_are_the_same_draws_as_buyers():
    countries = ("JP", "US", "GB")
    lists = NumberPlan(countries, np.random.default_rng(5)).buyers(3000)
    table = NumberPlan(countries, np.random.default_rng(5)).buyer_numbers(3000)
    assert len(table) == 3000
    assert [table.country(i) for i in range(3000)] == lists[0]
    assert [table.number(i) for i in range(3000)] == lists[1]
    registered = Registered(table)
    assert not registered
    registered.append(42)
    assert len(registered) == 1 and registered[0] == (lists[1][42], lists[0][42])


def test_phones_leave_the_gateway_when_their_session_ends(monkeypatch):
    gateways: list[Gateway] = []

    class Recorded(Gateway):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            gateways.append(self)

    monkeypatch.setattr(run_module, "Gateway", Recorded)
    s = Scenario.from_dict(
        {"name": "m", "duration_s": 600, "arrivals": {"rate_per_s": 1.0},
         "fraud": {"farming_rate_per_s": 0.02, "farming_numbers": 3}}
    )  # fmt: skip
    r = run_replication(s, Policy.default())
    assert r.metrics["checkouts"] > 400
    # Only the farm's SIMs, which it holds for the whole run, are left.
    assert len(gateways[0].handsets) == 3


def test_a_run_leaves_no_garbage_cycles_per_session():
    """The collector is paused during a run, so a cycle per session would pile up."""
    s = Scenario.from_dict(
        {"name": "g", "duration_s": 600, "arrivals": {"rate_per_s": 1.0},
         "numbers": {"landline_typo_share": 0.5, "recycled_share": 0.1}}
    )  # fmt: skip
    gc.collect()
    r = run_replication(s, Policy.default())
    assert r.metrics["landline_typos"] > 200
    assert gc.collect() < r.metrics["landline_typos"]  # not even one object per typo

"""KN, the sequential procedure that decides how many replications each policy gets."""

from __future__ import annotations

import numpy as np
import pytest

from reports.selection import KimNelson, half_width, kn_h2, pair_variance, paired_interval
from verifier.errors import ConfigError


def run(kn: KimNelson, draw, step: int = 1) -> dict[str, list[float]]:
    """Drive ``kn`` to the end, drawing replication ``j`` of system ``s`` from ``draw``."""
    obs: dict[str, list[float]] = {s: [] for s in kn.systems}
    while True:
        wanted = kn.wanted(step)
        if not wanted:
            return obs
        for s, n in wanted.items():
            while len(obs[s]) < n:
                obs[s].append(draw(s, len(obs[s])))
        kn.update(obs)


def test_h2_matches_the_formula_worked_by_hand():
    # k = 2, n0 = 3, alpha = 0.05: eta = ((2 * 0.05 / 1) ** (-2 / 2) - 1) / 2 = 4.5
    assert kn_h2(2, 3) == pytest.approx(18.0)
    # k = 3, n0 = 11: eta = (0.05 ** -0.2 - 1) / 2 = 0.41028; h2 = 2 * eta * 10
    assert kn_h2(3, 11) == pytest.approx(8.2056, abs=1e-3)
    for r in range(3, 19):
        assert half_width(18.0, 1.0, 1.0, r) == pytest.approx((18 - r) / (2 * r))
    assert half_width(18.0, 1.0, 1.0, 30) == 0.0


def test_the_elimination_rule_on_a_small_example_worked_by_hand():
    # Differences over the first stage are 0, 1, -1: S2 = 1, so with delta = 1 the
    # region is W(r) = (18 - r) / (2 r). After the first stage "a" runs 0.6 above "b"
    # each time: the gap of the means is 0.6 (r - 3) / r, 0.40 at r = 9 (W = 0.50) and
    # 0.42 at r = 10 (W = 0.40), so "a" goes at stage 10 and not before.
    a = [10.0, 12.0, 11.0] + [11.6] * 20
    b = [10.0, 11.0, 12.0] + [11.0] * 20
    assert pair_variance(a[:3], b[:3]) == pytest.approx(1.0)
    kn = KimNelson(["a", "b"], n0=3, delta=1.0, cap=20)
    obs = run(kn, lambda s, j: (a if s == "a" else b)[j])
    assert kn.eliminated_at == {"a": 10}
    assert kn.survivors == ["b"] and kn.separated and kn.best(obs) == "b"
    assert len(obs["a"]) == len(obs["b"]) == 10


def test_well_separated_systems_go_after_the_first_stage():
    rng = np.random.default_rng(1)
    common = rng.normal(0, 5, 100)  # shared by all systems, as common random numbers are
    means = {"cheap": 0.0, "mid": 20.0, "dear": 40.0}
    kn = KimNelson(list(means), n0=5, delta=2.0, cap=50)
    obs = run(kn, lambda s, j: means[s] + common[j] + rng.normal(0, 0.5))
    assert kn.survivors == ["cheap"] and kn.separated
    assert kn.eliminated_at == {"mid": 5, "dear": 5}
    assert {s: len(v) for s, v in obs.items()} == {"cheap": 5, "mid": 5, "dear": 5}


def test_identical_systems_run_to_the_cap():
    rng = np.random.default_rng(2)
    values = rng.normal(100, 30, 100)
    kn = KimNelson(["x", "y", "z"], n0=4, delta=1.0, cap=12)
    obs = run(kn, lambda s, j: values[j])
    assert kn.done and not kn.separated
    assert kn.survivors == ["x", "y", "z"] and not kn.eliminated_at
    assert {len(v) for v in obs.values()} == {12}
    assert kn.stage == 12


def test_close_systems_take_more_replications_than_distant_ones():
    rng = np.random.default_rng(3)
    noise = {s: rng.normal(0, 4, 200) for s in ("best", "near", "far")}
    means = {"best": 0.0, "near": 3.0, "far": 30.0}
    kn = KimNelson(list(means), n0=5, delta=1.0, cap=200)
    run(kn, lambda s, j: means[s] + noise[s][j])
    assert kn.survivors == ["best"]
    assert kn.eliminated_at["far"] < kn.eliminated_at["near"]


def test_batches_that_run_ahead_give_the_same_answer_as_one_at_a_time():
    rng = np.random.default_rng(4)
    noise = {s: rng.normal(0, 4, 200) for s in "abcd"}
    means = {"a": 0.0, "b": 1.5, "c": 3.0, "d": 6.0}

    def once(step):
        kn = KimNelson(list(means), n0=5, delta=1.0, cap=60)
        run(kn, lambda s, j: means[s] + noise[s][j], step=step)
        return kn.eliminated_at, kn.survivors

    assert once(1) == once(4) == once(7)


def test_bad_settings_are_refused_naming_the_option():
    with pytest.raises(ConfigError, match="first-stage"):
        KimNelson(["a", "b"], n0=1, delta=1.0, cap=5)
    with pytest.raises(ConfigError, match="max-replications"):
        KimNelson(["a", "b"], n0=5, delta=1.0, cap=4)
    with pytest.raises(ConfigError, match="indifference"):
        KimNelson(["a", "b"], n0=5, delta=0.0, cap=9)


def test_a_single_system_needs_only_the_first_stage():
    kn = KimNelson(["only"], n0=3, delta=1.0, cap=9)
    obs = run(kn, lambda s, j: float(j))
    assert kn.done and kn.best(obs) == "only" and len(obs["only"]) == 3


def test_the_paired_interval_uses_the_common_replications():
    mean, hw, n = paired_interval([3.0, 5.0, 4.0, 9.0], [1.0, 2.0, 3.0])
    # differences 2, 3, 1: mean 2, sd 1, t(0.975, 2) = 4.3027
    assert n == 3 and mean == pytest.approx(2.0)
    assert hw == pytest.approx(4.3027 / 3**0.5, rel=1e-4)

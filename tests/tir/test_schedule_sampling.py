"""Sampling: the deterministic random engine, sample_perfect_tile, sample_categorical,
sample_compute_location, seeds and forks."""

from __future__ import annotations

import pytest
from schedule_workloads import conv2d_bias_relu, has_primitive, matmul

from onnxtune import tir
from onnxtune.tir.schedule.sampling import (
    RandState,
    fix_perfect_tile_decision,
    normalize_seed,
    prime_factors,
    sample_perfect_tile,
)

HAVE_LOCATIONS = has_primitive("compute_location_candidates")


def test_engine_is_deterministic_and_seeded():
    a, b = RandState(42), RandState(42)
    assert [a.next() for _ in range(5)] == [b.next() for _ in range(5)]
    assert RandState(1).next() != RandState(2).next()
    assert normalize_seed(0) == 1 and normalize_seed(2**31 - 1) == 1
    assert 1 <= normalize_seed(None) < 2**31 - 1
    with pytest.raises(TypeError):
        RandState(1.5)
    r = RandState(7)
    xs = [r.sample_int(3, 9) for _ in range(500)]
    assert min(xs) == 3 and max(xs) == 8
    assert all(0.0 <= r.uniform() < 1.0 for _ in range(100))


@pytest.mark.parametrize("extent", [1, 2, 7, 12, 64, 97, 360, 1024])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_perfect_tile_properties(extent, n):
    r = RandState(extent * 10 + n)
    for _ in range(20):
        tiles = sample_perfect_tile(r, extent, n, max_innermost_factor=16)
        prod = 1
        for t in tiles:
            prod *= t
        assert len(tiles) == n and prod == extent
        assert n == 1 or tiles[-1] <= 16
    assert prime_factors(360) == (2, 2, 2, 3, 3, 5)


def test_perfect_tile_decision_repair():
    assert fix_perfect_tile_decision([4, 8, 2], 64) == [4, 8, 2]
    assert fix_perfect_tile_decision([4, 8, 2], 48) == [3, 8, 2]
    assert fix_perfect_tile_decision([2, 5], 12) == [1, 12]
    assert fix_perfect_tile_decision([1, 3, 7], 12) == [1, 1, 12]  # 7 ∤ 12: all of it


def test_schedule_samples_follow_seed():
    f, _ = matmul(16, 36, 8)

    def draw(seed):
        sch = tir.Schedule(f, seed=seed)
        _, j, _ = sch.get_loops(sch.get_block("C"))
        return [sch.get(v) for v in sch.sample_perfect_tile(j, 3)] + [
            sch.get(sch.sample_categorical([1, 2, 3], [0.2, 0.3, 0.5]))]

    assert draw(3) == draw(3)
    assert len({tuple(draw(s)) for s in range(10)}) > 1


def test_seed_and_fork_seed():
    f, _ = matmul()
    sch = tir.Schedule(f, seed=1)
    s1 = sch.fork_seed()
    s2 = sch.fork_seed()
    assert s1 != s2
    sch.seed(1)
    assert sch.fork_seed() == s1


def test_sample_categorical_distribution_and_decisions():
    f, _ = matmul()
    sch = tir.Schedule(f, seed=123)
    counts = {10: 0, 20: 0, 30: 0}
    for _ in range(3000):
        counts[sch.get(sch.sample_categorical([10, 20, 30], [0.1, 0.3, 0.6]))] += 1
    assert 200 <= counts[10] <= 400 and 750 <= counts[20] <= 1050 and counts[30] >= 1600
    assert sch.get(sch.sample_categorical([10, 20, 30], [1, 1, 1], decision=2)) == 30
    with pytest.raises(tir.ScheduleError, match="decision 3 is out of range for 3"):
        sch.sample_categorical([10, 20, 30], [1, 1, 1], decision=3)
    with pytest.raises(tir.ScheduleError, match="2 candidates and 1 probabilities"):
        sch.sample_categorical([1, 2], [1.0])
    with pytest.raises(tir.ScheduleError, match="must be non-negative"):
        sch.sample_categorical([1, 2], [0.0, 0.0])


def test_sample_perfect_tile_errors_and_decision_length():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, _, _ = sch.get_loops(sch.get_block("C"))
    with pytest.raises(tir.ScheduleError, match="n must be a positive int"):
        sch.sample_perfect_tile(i, 0)
    with pytest.raises(tir.ScheduleError, match="has 2 factors, expected n=3"):
        sch.sample_perfect_tile(i, 3, decision=[2, 4])
    assert [sch.get(v) for v in sch.sample_perfect_tile(i, 2, decision=[2, 4])] == [2, 4]


@pytest.mark.skipif(not HAVE_LOCATIONS, reason="block primitives (compute_location_candidates) "
                    "not written yet")
def test_sample_compute_location():
    f, _ = conv2d_bias_relu()
    seen = set()
    for seed in range(30):
        sch = tir.Schedule(f, seed=seed, debug_mask="all")
        b = sch.get_block("T_add")
        loc = sch.sample_compute_location(b)
        d = sch.trace.get_decision(sch.trace.insts[-1])
        seen.add(d)
        target = sch.get(loc)
        if d == -1:
            assert target == "root"
        elif d == -2:
            assert target == "inline"
        else:
            relu_loops = sch.get_loops(sch.get_block("T_relu"))
            assert sch.get(relu_loops[d]) is target
        sch.compute_at(b, loc)
        replay = tir.Schedule(f)
        sch.trace.apply_to_schedule(replay, False)
        assert tir.structural.structural_equal(replay.func, sch.func)
    assert {-2, -1} <= seen and len(seen) > 2

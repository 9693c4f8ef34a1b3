"""Mutator MutateTileSize (and the llvm mutator table)."""

from __future__ import annotations

import pytest
from postproc_workloads import replay, run_and_check, tiled_matmul

from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tuner.mutator import Mutator
from onnxtune.tuner.mutator.mutate_compute_location import MutateComputeLocation
from onnxtune.tuner.mutator.mutate_parallel import MutateParallel
from onnxtune.tuner.mutator.mutate_tile_size import MutateTileSize, divisors, mutate_tiles
from onnxtune.tuner.mutator.mutate_unroll import MutateUnroll
from onnxtune.tuner.postproc import Postproc


def decisions(trace, kind):
    return [trace.get_decision(i) for i in trace.insts if i.kind is kind]


def test_create_llvm_probabilities():
    table = Mutator.create("llvm")
    probs = {type(m).__name__: p for m, p in table.items()}
    assert probs == {"MutateTileSize": 0.9, "MutateComputeLocation": 0.05,
                     "MutateUnroll": 0.03, "MutateParallel": 0.02}
    kinds = {type(m) for m in table}
    assert kinds == {MutateTileSize, MutateComputeLocation, MutateUnroll, MutateParallel}
    with pytest.raises(NotImplementedError):
        Mutator.create("cuda")


def test_divisors_and_moves_keep_product():
    assert divisors(12) == [2, 3, 4, 6, 12]
    rand = RandState(3)
    for _ in range(200):
        new = mutate_tiles([2, 3, 4, 5], 8, rand)
        assert new != [2, 3, 4, 5]
        assert new[0] * new[1] * new[2] * new[3] == 120
        assert new[-1] <= 8
    assert mutate_tiles([1, 1, 1], 16, rand) is None
    assert mutate_tiles([7], 16, rand) is None
    # only move: 2 outward (the innermost 4 cannot grow past 4)
    assert mutate_tiles([1, 4], 4, rand) in ([2, 2], [4, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changes_one_tile_decision_and_replays_correctly(seed):
    sch, f, ref = tiled_matmul(48, 40, 36, seed=seed)
    trace = sch.trace
    new = MutateTileSize().apply(trace, RandState(seed))
    assert new is not None
    old_d = decisions(trace, K.SAMPLE_PERFECT_TILE)
    new_d = decisions(new, K.SAMPLE_PERFECT_TILE)
    changed = [k for k, (a, b) in enumerate(zip(old_d, new_d, strict=True)) if a != b]
    assert len(changed) == 1
    a, b = old_d[changed[0]], new_d[changed[0]]
    prod = lambda xs: xs[0] * prod(xs[1:]) if xs else 1  # noqa: E731
    assert prod(a) == prod(b) and b[-1] <= 16
    # every other decision is untouched
    assert decisions(trace, K.SAMPLE_CATEGORICAL) == decisions(new, K.SAMPLE_CATEGORICAL)
    out = replay(new, f, Postproc.create("llvm"))
    assert out.func is not sch.func
    run_and_check(out.func, ref)


def test_deterministic_with_seed():
    sch, _, _ = tiled_matmul(64, 64, 64, seed=4)
    runs = [MutateTileSize().apply(sch.trace, RandState(11)) for _ in range(2)]
    assert decisions(runs[0], K.SAMPLE_PERFECT_TILE) == decisions(runs[1],
                                                                  K.SAMPLE_PERFECT_TILE)
    assert runs[0].as_json() == runs[1].as_json()


def test_postproc_part_is_dropped():
    sch, f, _ = tiled_matmul(seed=2)
    sch.enter_postproc()
    for p in Postproc.create("llvm"):
        assert p.apply(sch)
    new = MutateTileSize().apply(sch.trace, RandState(1))
    assert all(i.kind is not K.ENTER_POSTPROC for i in new.insts)
    assert all(i.kind is not K.DECOMPOSE_REDUCTION for i in new.insts)


def test_nothing_to_mutate():
    sch, _, _ = tiled_matmul(1, 1, 1)
    assert MutateTileSize().apply(sch.trace, RandState(0)) is None

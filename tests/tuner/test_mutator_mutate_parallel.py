"""Mutator MutateParallel."""

from __future__ import annotations

import pytest
from postproc_workloads import replay, run_and_check, tiled_conv2d, tiled_matmul

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tir.schedule.tree import index
from onnxtune.tuner.mutator.mutate_parallel import MutateParallel
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.tune_context import TuneContext

MATMUL = {("s", 0): [1, 4, 4, 4], ("s", 1): [1, 4, 1, 12], ("r", 0): [4, 8]}


def mutator(func, cores=2):
    m = MutateParallel(max_jobs_per_core=16)
    m._initialize_with_tune_context(TuneContext(func, target=f"llvm -num-cores={cores}"))
    return m


def parallel_values(trace):
    return [i.inputs[1] for i in trace.insts
            if i.kind is K.ANNOTATE and i.attrs[0] == "meta_schedule.parallel"]


def parallel_extent(func, block):
    return index(func).blocks[block].loops()[0].extent.value


def test_matmul_new_extent_changes_the_program():
    sch, f, ref = tiled_matmul(decisions=MATMUL, parallel=32)
    m = mutator(f)
    assert m.max_parallel_extent == 32
    new = m.apply(sch.trace, RandState(0))
    # leading loops i0 (1), j0 (1), i1 (4), j1 (4, two children): extents 1, 4, 16 are
    # candidates; 4 and 16 (like 32) fuse all four, 1 fuses i0 j0 i1 only
    assert parallel_values(new) == [1]
    assert [i.kind for i in new.insts] == [i.kind for i in sch.trace.insts]
    for kind in (K.SAMPLE_PERFECT_TILE, K.SAMPLE_CATEGORICAL):
        assert ([new.get_decision(i) for i in new.insts if i.kind is kind]
                == [sch.trace.get_decision(i) for i in sch.trace.insts if i.kind is kind])
    old = replay(sch.trace, f, Postproc.create("llvm"))
    out = replay(new, f, Postproc.create("llvm"))
    assert parallel_extent(old.func, "C") == 16
    assert parallel_extent(out.func, "C") == 4
    run_and_check(out.func, ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conv2d_replays_correctly(seed):
    sch, f, ref = tiled_conv2d(seed=seed, location=-1)
    new = mutator(f).apply(sch.trace, RandState(seed))
    if new is None:
        pytest.skip("this tiling has a single parallel plan")
    assert parallel_values(new) != parallel_values(sch.trace)
    run_and_check(replay(new, f, Postproc.create("llvm")).func, ref)


def test_deterministic():
    sch, f, _ = tiled_conv2d(seed=1, location=-1)
    a = mutator(f, cores=4).apply(sch.trace, RandState(4))
    b = mutator(f, cores=4).apply(sch.trace, RandState(4))
    assert a is not None and a.as_json() == b.as_json()


def test_none_when_no_other_plan():
    f, _ = testing.softmax(6, 8)
    sch = Schedule(f)
    sch.annotate(sch.get_block("root"), "meta_schedule.parallel", 64)
    # every block fuses its leading spatial loops whatever the extent: nothing to change
    assert mutator(f).apply(sch.trace, RandState(4)) is None
    plain = Schedule(f)
    plain.get_block("root")
    assert mutator(f).apply(plain.trace, RandState(0)) is None


def test_bad_max_jobs():
    with pytest.raises(ValueError):
        MutateParallel(0)

"""Mutator MutateUnroll."""

from __future__ import annotations

from postproc_workloads import UNROLL_CANDIDATES, replay, run_and_check, tiled_matmul

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tir.schedule.tree import index
from onnxtune.tuner.mutator.mutate_unroll import MutateUnroll
from onnxtune.tuner.postproc import Postproc

MATMUL = {("s", 0): [1, 4, 4, 4], ("s", 1): [1, 4, 1, 12], ("r", 0): [4, 8]}


def decisions(trace, kind):
    return [trace.get_decision(i) for i in trace.insts if i.kind is kind]


def max_step(func):
    loop = index(func).blocks["C"].loops()[0]
    return loop.annotations.get("pragma_auto_unroll_max_step", 0)


def test_changes_the_unroll_decision_only():
    sch, f, ref = tiled_matmul(decisions=MATMUL, unroll=1)
    seen = set()
    for s in range(16):
        new = MutateUnroll().apply(sch.trace, RandState(s))
        (d,) = decisions(new, K.SAMPLE_CATEGORICAL)
        assert d != 1
        seen.add(d)
        assert decisions(new, K.SAMPLE_PERFECT_TILE) == decisions(sch.trace,
                                                                  K.SAMPLE_PERFECT_TILE)
    assert seen == {0, 2, 3}
    new = MutateUnroll().apply(sch.trace, RandState(3))
    (d,) = decisions(new, K.SAMPLE_CATEGORICAL)
    out = replay(new, f, Postproc.create("llvm"))
    assert max_step(out.func) == UNROLL_CANDIDATES[d]
    run_and_check(out.func, ref)


def test_probabilities_are_respected():
    sch, _, _ = tiled_matmul(decisions=MATMUL, unroll=0)
    root_ann = next(i for i in sch.trace.insts if i.kind is K.SAMPLE_CATEGORICAL)
    assert root_ann.attrs[0] == tuple(UNROLL_CANDIDATES)
    # a categorical with a zero-probability candidate never moves there
    f, _ = testing.matmul(8, 8, 8)
    s2 = Schedule(f)
    v = s2.sample_categorical([0, 16, 64], [0.5, 0.5, 0.0], decision=0)
    s2.annotate(s2.get_block("root"), "meta_schedule.unroll_explicit", v)
    for s in range(10):
        new = MutateUnroll().apply(s2.trace, RandState(s))
        assert decisions(new, K.SAMPLE_CATEGORICAL) == [1]


def test_deterministic_and_none_without_unroll():
    sch, _, _ = tiled_matmul(decisions=MATMUL, unroll=2)
    a = MutateUnroll().apply(sch.trace, RandState(9))
    b = MutateUnroll().apply(sch.trace, RandState(9))
    assert a.as_json() == b.as_json()
    f, _ = testing.matmul(8, 8, 8)
    s2 = Schedule(f)
    s2.sample_categorical([1, 2], [0.5, 0.5])  # not an unroll decision
    assert MutateUnroll().apply(s2.trace, RandState(0)) is None

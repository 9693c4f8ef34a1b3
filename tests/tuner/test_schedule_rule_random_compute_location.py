"""RandomComputeLocation: untiled producers get a sampled compute location."""

from __future__ import annotations

import numpy as np

from onnxtune.compile import build
from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.schedule_rule import AddRFactor, MultiLevelTiling, RandomComputeLocation
from onnxtune.tuner.schedule_rule import analysis as A


def _kinds(sch) -> list[str]:
    return [i.kind.name for i in sch.trace.insts]


def test_padding_is_placed_and_outputs_are_not():
    func, ref = testing.conv2d_nchw(1, 3, 8, 8, 4, 3, 3, padding=1)
    args = testing.make_args(func, seed=1)
    decisions = set()
    for seed in range(12):
        sch = Schedule(func, seed=seed)
        (out,) = RandomComputeLocation().apply(sch, sch.get_block("pad_temp"))
        assert _kinds(out)[-2:] == ["SampleComputeLocation", "ComputeAt"]
        inst = out.trace.insts[-2]
        decisions.add(out.trace.get_decision(inst))
        o = [a.copy() for a in args]
        build(out.mod, target="llvm -opt-level=0")["main"](*o)
        np.testing.assert_allclose(o[-1], ref(*args[:-1]), rtol=1e-5, atol=1e-5)
    assert len(decisions) > 2
    sch = Schedule(func)
    assert RandomComputeLocation().apply(sch, sch.get_block("conv2d_nchw")) == [sch]
    assert len(sch.trace) == 1  # the output block has no consumer
    assert RandomComputeLocation().apply(sch, sch.get_block("root")) == [sch]


def test_tiled_blocks_are_skipped():
    func, _ = testing.dense(8, 8, 8)
    sch = Schedule(func)
    b = sch.get_block("T_matmul_NT")
    (sch,) = MultiLevelTiling(reuse_write=None).apply(sch, b)
    n = len(sch.trace)
    assert RandomComputeLocation().apply(sch, b) == [sch] and len(sch.trace) == n


def test_rfactor_producer_is_placed_too():
    func, ref = testing.softmax(3, 40)
    sch = Schedule(func, seed=3)
    b = sch.get_block("T_softmax_maxelem")
    rule = AddRFactor()
    rule.max_parallel_basic, rule.max_parallel_extent = 2, 32
    rf = rule.apply(sch, b)[0]
    (out,) = RandomComputeLocation().apply(rf, b)
    kinds = _kinds(out)
    assert kinds.count("SampleComputeLocation") == 2 and "Unannotate" in kinds
    assert A.RANDOM_COMPUTE_PRODUCER not in out.get(b).annotations
    args = testing.make_args(func, seed=2)
    o = [a.copy() for a in args]
    build(out.mod, target="llvm -opt-level=0")["main"](*o)
    np.testing.assert_allclose(o[-1], ref(*args[:-1]), rtol=1e-5, atol=1e-6)

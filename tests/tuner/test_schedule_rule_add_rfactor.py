"""AddRFactor: reductions with little spatial parallelism fork into rfactor schedules."""

from __future__ import annotations

import numpy as np

from onnxtune.compile import build
from onnxtune.tir import te, testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.schedule_rule import AddRFactor
from onnxtune.tuner.schedule_rule import analysis as A
from onnxtune.tuner.schedule_rule.add_rfactor import needs_rfactor


def _rule(cores: int = 2) -> AddRFactor:
    r = AddRFactor(max_jobs_per_core=16, max_innermost_factor=64)
    r.max_parallel_basic, r.max_parallel_extent = cores, cores * 16
    return r


def _needs(func, block: str, cores: int = 2) -> bool:
    sch = Schedule(func)
    return needs_rfactor(A.locate(sch, sch.get_block(block)), cores * 16, cores)


def test_which_blocks_need_rfactor():
    assert _needs(testing.softmax(4, 100)[0], "T_softmax_maxelem")
    assert _needs(testing.matmul(1, 1, 1000)[0], "C")            # nothing spatial to share
    assert not _needs(testing.matmul(64, 64, 16)[0], "C")        # enough spatial work
    assert _needs(testing.matmul(4, 4, 64)[0], "C")              # 16 spatial < 64 reduce
    assert not _needs(testing.softmax(4, 2)[0], "T_softmax_maxelem")  # reduce 2 <= 2 cores
    assert not _needs(testing.softmax(4, 100)[0], "T_softmax_exp")    # not a reduction
    assert not _needs(testing.softmax(4, 100)[0], "root")


def test_forks_rfactor_outer_inner_and_original():
    func, ref = testing.softmax(3, 60)
    sch = Schedule(func, seed=4)
    block = sch.get_block("T_softmax_maxelem")
    out = _rule().apply(sch, block)
    assert len(out) == 3
    for s in out[:2]:
        names = [i.kind.name for i in s.trace.insts]
        assert names.count("RFactor") == 1 and "SamplePerfectTile" in names
        assert s.get(block).annotations[A.RANDOM_COMPUTE_PRODUCER] == 1
    assert "RFactor" not in [i.kind.name for i in out[2].trace.insts]
    args = testing.make_args(func, seed=5)
    for s in out:
        o = [a.copy() for a in args]
        build(s.mod, target="llvm -opt-level=0")["main"](*o)
        np.testing.assert_allclose(o[-1], ref(*args[:-1]), rtol=1e-5, atol=1e-6)


def test_several_reduction_loops_are_reordered_and_fused():
    a = te.placeholder((6, 5, 7), name="A")
    r1 = te.reduce_axis((0, 6), name="r1")
    r2 = te.reduce_axis((0, 7), name="r2")
    s = te.compute((5,), lambda j: te.sum(a[r1, j, r2], axis=[r1, r2]), name="S")
    func = te.create_prim_func([a, s])
    sch = Schedule(func, seed=2)
    out = _rule().apply(sch, sch.get_block("S"))
    assert len(out) == 3
    names = [i.kind.name for i in out[0].trace.insts]
    assert "Fuse" in names and "RFactor" in names
    x = np.random.default_rng(0).standard_normal((6, 5, 7)).astype("float32")
    for sc in out:
        y = np.zeros(5, "float32")
        build(sc.mod, target="llvm -opt-level=0")["main"](x, y)
        np.testing.assert_allclose(y, x.sum(axis=(0, 2)), rtol=1e-5, atol=1e-5)


def test_context_sets_the_parallel_limits():
    rule = AddRFactor(max_jobs_per_core=4)
    rule._initialize_with_tune_context(type("C", (), {"target": _target(3)})())
    assert (rule.max_parallel_basic, rule.max_parallel_extent) == (3, 12)


def _target(cores: int):
    from onnxtune.compile.target import Target

    return Target(f"llvm -num-cores={cores}")

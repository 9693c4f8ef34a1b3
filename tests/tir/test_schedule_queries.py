"""Schedule construction, queries (get_block, get_loops, child blocks, producers and
consumers), RV handling, copy, show and the verifier hook."""

from __future__ import annotations

import pytest
from schedule_workloads import conv2d_bias_relu, matmul, softmax

from onnxtune import tir


def _names(sch, rvs):
    return [sch.get(b).name_hint for b in rvs]


def test_construct_from_module_and_exports():
    f, _ = matmul()
    sch = tir.Schedule(tir.IRModule({"main": f}))
    assert sch.mod["main"] is f and sch.func is f
    sch2 = tir.Schedule(tir.IRModule({"mm": f}))
    assert sch2.func_working_on == "mm"
    with pytest.raises(ValueError, match="no function 'main'"):
        tir.Schedule(tir.IRModule({"a": f, "b": f}))
    with pytest.raises(ValueError, match="debug_mask"):
        tir.Schedule(f, debug_mask="some")
    assert tir.BlockRV is tir.SBlockRV and issubclass(tir.ScheduleError, ValueError)


def test_get_block_and_loops():
    f, _ = conv2d_bias_relu()
    sch = tir.Schedule(f)
    b = sch.get_block("conv")
    assert sch.get_sblock("conv") is not b  # a new RV each call ...
    assert sch.get(sch.get_sblock("conv")) is sch.get(b)  # ... for the same block
    loops = sch.get_loops(b)
    assert [sch.get(x).loop_var.name for x in loops] == ["i", "j", "k", "l", "r0", "r1", "r2"]
    with pytest.raises(tir.ScheduleError, match="no block named 'nope'.*'conv'"):
        sch.get_block("nope")
    with pytest.raises(tir.ScheduleError, match="works on function 'main', not 'other'"):
        sch.get_block("conv", func_name="other")
    with pytest.raises(TypeError, match="expected a BlockRV"):
        sch.get_loops(loops[0])


def test_child_blocks_producers_consumers():
    f, _ = conv2d_bias_relu()
    sch = tir.Schedule(f)
    root = sch.get_block("root")
    assert _names(sch, sch.get_child_blocks(root)) == ["pad", "conv", "T_add", "T_relu"]
    conv = sch.get_block("conv")
    assert _names(sch, sch.get_child_blocks(sch.get_loops(conv)[2])) == ["conv"]
    assert _names(sch, sch.get_producers(conv)) == ["pad"]
    assert _names(sch, sch.get_consumers(conv)) == ["T_add"]
    assert _names(sch, sch.get_producers(sch.get_block("pad"))) == []
    assert _names(sch, sch.get_consumers(sch.get_block("T_relu"))) == []
    g, _ = softmax()
    sch = tir.Schedule(g)
    assert _names(sch, sch.get_consumers(sch.get_block("T_exp"))) == ["T_sum", "T_softmax"]
    assert _names(sch, sch.get_producers(sch.get_block("T_softmax"))) == ["T_exp", "T_sum"]
    with pytest.raises(tir.ScheduleError, match="root block"):
        sch.get_consumers(sch.get_block("root"))


def test_rvs_of_another_schedule_and_removed_rvs():
    f, _ = matmul()
    s1, s2 = tir.Schedule(f), tir.Schedule(f)
    b = s1.get_block("C")
    with pytest.raises(tir.ScheduleError, match="not defined in this schedule"):
        s2.get_loops(b)
    s1.remove_rv(b)
    with pytest.raises(tir.ScheduleError, match="not defined in this schedule"):
        s1.get(b)


def test_copy_is_independent_and_cheap():
    f, _ = matmul()
    sch = tir.Schedule(f, seed=5)
    i, j, _k = sch.get_loops(sch.get_block("C"))
    fork = sch.copy()
    fork.split(i, [2, None])
    assert sch.func is f and fork.func is not f
    assert len(fork.trace) == len(sch.trace) + 1
    # the same RVs work in both; random states continue identically
    assert fork.get(j).loop_var is sch.get(j).loop_var
    a = [sch.get(v) for v in sch.sample_perfect_tile(j, 2)]
    b = [fork.get(v) for v in fork.sample_perfect_tile(j, 2)]
    assert a == b


def test_show_prints_script_and_trace(capsys):
    f, _ = matmul()
    sch = tir.Schedule(f)
    i, _, _ = sch.get_loops(sch.get_block("C"))
    sch.split(i, [None, 4])
    sch.show()
    out = capsys.readouterr().out
    assert "T.prim_func" in out and 'b0 = sch.get_block(name="C", func_name="main")' in out


def test_debug_mask_catches_ill_formed_result(monkeypatch):
    """A primitive producing broken IR is reported when debug_mask='all'."""
    from onnxtune.tir.schedule.primitives import loop_kinds

    f, _ = matmul()
    bad = f.with_body(f.body)  # a distinct function object ...
    from onnxtune.tir.schedule.tree import find_block, replace
    from onnxtune.tir.stmt import BlockRealize

    loc = find_block(bad, "C")
    r = loc.stmt
    broken = replace(bad, loc, BlockRealize(r.iter_values[:2], r.predicate, r.block))
    monkeypatch.setattr(loop_kinds, "unroll", lambda func, loop: broken)
    sch = tir.Schedule(f, debug_mask="all")
    i, _, _ = sch.get_loops(sch.get_block("C"))
    with pytest.raises(tir.ScheduleError, match="unroll produced ill-formed IR.*3 iter vars"):
        sch.unroll(i)
    assert sch.func is f and len(sch.trace) == 2

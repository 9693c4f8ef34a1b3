"""Trace: printing as Python, JSON round trip, replay with and without decisions,
with_decision, simplified, postproc handling."""

from __future__ import annotations

import json

import pytest
from schedule_workloads import conv2d, matmul

from onnxtune import tir
from onnxtune.tir.schedule import Instruction, Trace
from onnxtune.tir.structural import assert_structural_equal, structural_equal


def _tiled(f, seed=0):
    sch = tir.Schedule(f, seed=seed)
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    ti = sch.sample_perfect_tile(i, 2, max_innermost_factor=4)
    i0, i1 = sch.split(i, ti)
    j0, j1 = sch.split(j, [None, 5])
    sch.reorder(i0, j0, k, i1, j1)
    v = sch.sample_categorical([0, 16], [0.5, 0.5])
    sch.annotate(b, "meta_schedule.unroll_explicit", v)
    sch.parallel(sch.fuse(i0, j0))
    sch.vectorize(j1)
    return sch


def test_trace_prints_python():
    f, _ = matmul(8, 12, 6)
    sch = _tiled(f)
    d_tile = sch.trace.get_decision(sch.trace.insts[2])
    d_cat = sch.trace.get_decision(sch.trace.insts[6])
    assert str(sch.trace).splitlines() == [
        'b0 = sch.get_block(name="C", func_name="main")',
        "l1, l2, l3 = sch.get_loops(block=b0)",
        (f"v4, v5 = sch.sample_perfect_tile(loop=l1, n=2, max_innermost_factor=4, "
        f"decision={d_tile})"),
        ("l6, l7 = sch.split(loop=l1, factors=[v4, v5], preserve_unit_iters=True, "
        "disable_predication=False)"),
        ("l8, l9 = sch.split(loop=l2, factors=[None, 5], preserve_unit_iters=True, "
        "disable_predication=False)"),
        "sch.reorder(l6, l8, l3, l7, l9)",
        ("v10 = sch.sample_categorical(candidates=[0, 16], probs=[0.5, 0.5], "
        f"decision={d_cat})"),
        'sch.annotate(block_or_loop=b0, ann_val=v10, ann_key="meta_schedule.unroll_explicit")',
        "l11 = sch.fuse(l6, l8, preserve_unit_iters=True)",
        "sch.parallel(loop=l11)",
        "sch.vectorize(loop=l9)",
    ]
    assert repr(sch.trace).startswith("# from onnxtune import tir\ndef apply_trace(")
    assert repr(sch.trace.insts[0]) == 'b0 = sch.get_block(name="C", func_name="main")'


def test_json_round_trip_and_replay_reproduce_program():
    f, _ = matmul(8, 12, 6)
    sch = _tiled(f, seed=11)
    obj = sch.trace.as_json()
    text = json.dumps(obj)
    back = Trace.from_json(json.loads(text))
    assert back.as_json() == obj
    assert str(back) == str(sch.trace)
    fresh = tir.Schedule(f, seed=999)
    back.apply_to_schedule(fresh, remove_postproc=False)
    assert_structural_equal(fresh.func, sch.func)
    fresh2 = tir.Schedule(f)
    Trace.apply_json_to_schedule(obj, fresh2)
    assert_structural_equal(fresh2.func, sch.func)


def test_replay_without_decisions_resamples():
    f, _ = conv2d(1, 4, 12, 12, 8, 3, 1)
    sch = tir.Schedule(f, seed=0)
    loops = sch.get_loops(sch.get_block("conv"))
    for lp in loops[1:4]:
        sch.split(lp, sch.sample_perfect_tile(lp, 3, max_innermost_factor=4))
    seen = set()
    for seed in range(8):
        s2 = tir.Schedule(f, seed=seed)
        sch.trace.apply_to_schedule(s2, False, decision_provider=lambda *a: None)
        ds = tuple(tuple(d) for d in s2.trace.decisions.values())
        for d, ext in zip(ds, (8, 12, 12), strict=True):
            assert d[0] * d[1] * d[2] == ext and d[2] <= 4
        seen.add(ds)
    assert len(seen) > 1


def test_decision_provider_sees_inputs_and_can_override():
    f, _ = matmul(8, 12, 6)
    sch = _tiled(f)
    calls = []

    def provider(inst, inputs, attrs, decision):
        calls.append(inst.kind.name)
        return [8, 1] if inst.kind.name == "SamplePerfectTile" else decision

    s2 = tir.Schedule(f)
    sch.trace.apply_to_schedule(s2, False, decision_provider=provider)
    assert calls[:3] == ["GetBlock", "GetLoops", "SamplePerfectTile"]
    assert "T.parallel(24)" in s2.func.script()  # 8 (i outer) x 3 (j outer)


def test_with_decision_and_invalid_decisions_are_repaired():
    f, _ = matmul(8, 12, 6)
    sch = _tiled(f)
    tile = sch.trace.insts[2]
    t2 = sch.trace.with_decision(tile, [2, 4], remove_postproc=True)
    assert t2.get_decision(tile) == [2, 4] and sch.trace.get_decision(tile) != [2, 4]
    s2 = tir.Schedule(f)
    t2.apply_to_schedule(s2, False)
    assert s2.trace.get_decision(s2.trace.insts[2]) == [2, 4]
    # a decision that no longer divides the extent is repaired as TVM does
    t3 = sch.trace.with_decision(tile, [3, 3], remove_postproc=True)
    s3 = tir.Schedule(f)
    t3.apply_to_schedule(s3, False)
    assert s3.trace.get_decision(s3.trace.insts[2]) == [1, 8]


def test_simplified_drops_dead_pure_instructions():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f, seed=0)
    b = sch.get_block("C")
    sch.get_loops(b)  # unused
    sch.sample_categorical([1, 2], [0.5, 0.5])  # unused
    i, _, _ = sch.get_loops(b)
    sch.unroll(i)
    simple = sch.trace.simplified(remove_postproc=True)
    kinds = [inst.kind.name for inst in simple.insts]
    assert kinds == ["GetBlock", "GetLoops", "Unroll"]
    assert simple.decisions == {}
    s2 = tir.Schedule(f)
    simple.apply_to_schedule(s2, False)
    assert structural_equal(s2.func, sch.func)


def test_postproc_append_pop():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, _, _ = sch.get_loops(sch.get_block("C"))
    sch.enter_postproc()
    sch.parallel(i)
    trace = sch.trace
    assert [x.kind.name for x in trace.insts][-2:] == ["EnterPostproc", "Parallel"]
    assert len(trace.as_json(remove_postproc=True)[0]) == 2
    s2 = tir.Schedule(f)
    trace.apply_to_schedule(s2, remove_postproc=True)
    assert "T.parallel" not in s2.func.script()
    t = trace.copy()
    last = t.pop()
    assert last.kind.name == "Parallel" and len(t) == len(trace) - 1
    t.append(last)
    assert len(t) == len(trace)
    assert Trace().pop() is None


def test_from_json_errors():
    with pytest.raises(ValueError, match="unknown instruction kind 'Bogus'"):
        Trace.from_json([[["Bogus", [], [], []]], []])
    with pytest.raises(ValueError, match="undefined RV 'l9'"):
        Trace.from_json([[["Parallel", ["l9"], [], []]], []])
    with pytest.raises(ValueError, match=r"expected \[instructions, decisions\]"):
        Trace.from_json({"insts": []})
    with pytest.raises(ValueError, match="takes 1 inputs"):
        Instruction("Parallel", (), (), ())

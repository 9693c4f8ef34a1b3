"""The Schedule methods of the block primitives: they resolve RVs, record instructions that
print, serialize and replay (IndexMaps included), and treat the special root / inline
locations of sample_compute_location as TVM does. (The primitives' own semantics are
tested next to them.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
from schedule_workloads import conv2d_bias_relu, has_primitive, matmul, run, softmax

from onnxtune import tir
from onnxtune.tir.schedule import Trace
from onnxtune.tir.structural import assert_structural_equal

pytestmark = pytest.mark.skipif(
    not all(has_primitive(p) for p in ("compute_at", "cache_read", "transform_layout",
                                       "rfactor", "compute_location_candidates")),
    reason="block primitives (primitives/block_ops.py) not written yet")


def _round_trip(sch: tir.Schedule, f: tir.PrimFunc) -> tir.Schedule:
    back = Trace.from_json(json.loads(json.dumps(sch.trace.as_json())))
    assert str(back) == str(sch.trace)
    replay = tir.Schedule(f)
    back.apply_to_schedule(replay, remove_postproc=False)
    assert_structural_equal(replay.func, sch.func)
    return replay


def test_cache_and_compute_at_record_and_replay():
    f, make = conv2d_bias_relu()
    sch = tir.Schedule(f, debug_mask="all")
    conv = sch.get_block("conv")
    cr = sch.cache_read(conv, "W", "global")  # a buffer name is turned into its index
    cw = sch.cache_write(conv, 0, "global")
    assert sch.get(cr).name_hint != sch.get(cw).name_hint
    loops = sch.get_loops(conv)
    sch.compute_at(cr, loops[1])
    sch.reverse_compute_at(cw, loops[1])
    text = str(sch.trace)
    assert 'sch.cache_read(block=b0, consumer_blocks=None, read_buffer_index=1, ' \
           'storage_scope="global")' in text
    assert "sch.reverse_compute_at(block=b2, loop=l4, preserve_unit_loops=False, " \
           "index=-1)" in text
    _round_trip(sch, f)
    arrays = make(np.random.default_rng(0))
    np.testing.assert_allclose(run(sch.func, arrays)[-1], run(f, arrays)[-1], rtol=1e-5,
                               atol=1e-5)


def test_special_locations():
    f, _ = softmax()
    sch = tir.Schedule(f, seed=0)
    exp = sch.get_block("T_exp")
    root = sch.sample_compute_location(exp, decision=-1)
    assert sch.get(root) == "root"
    before = sch.func
    sch.compute_at(exp, root)  # computing at the root is a no-op ...
    assert sch.func is before and sch.trace.insts[-1].kind.name == "ComputeAt"
    inline = sch.sample_compute_location(exp, decision=-2)
    assert sch.get(inline) == "inline"
    with pytest.raises(tir.ScheduleError, match="special 'inline' location"):
        sch.split(inline, [2, None])
    sch.compute_at(exp, inline)  # ... at "inline" it inlines the block
    assert 'T.block("T_exp")' not in sch.func.script()
    _round_trip(sch, f)


def test_sample_compute_location_replay_falls_back():
    """A decision naming a location that no longer exists falls back as TVM does."""
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    c = sch.get_block("C")
    loc = sch.sample_compute_location(c, decision=3)  # C has no consumer: only root
    assert sch.get(loc) == "root" and sch.trace.get_decision(sch.trace.insts[-1]) == -1


def test_reduction_and_layout_primitives_record_and_replay():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    k0, k1 = sch.split(k, [2, 3])
    rf = sch.rfactor(k1, 0)
    assert sch.get(rf).name_hint.startswith("C")
    _round_trip(sch, f)
    arrays = make(np.random.default_rng(1))
    np.testing.assert_allclose(run(sch.func, arrays)[-1], run(f, arrays)[-1], rtol=1e-5,
                               atol=1e-5)

    sch = tir.Schedule(f, debug_mask="all")
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    cw = sch.cache_write(c, 0, "global")
    init = sch.decompose_reduction(c, k)
    assert sch.get(init).name_hint == "C_init"
    sch.storage_align(c, 0, 0, 16, 1)
    sch.set_scope(c, 0, "global")
    assert sch.get(cw).name_hint == "C_global"
    sch.transform_layout(c, ("write", 0), lambda a, b: (b // 4, a, b % 4))
    assert "index_map=lambda a, b: (b // 4, a, b % 4)" in str(sch.trace)
    _round_trip(sch, f)


def test_block_methods_reject_bad_arguments():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    c = sch.get_block("C")
    with pytest.raises(tir.ScheduleError, match="does not read a buffer named 'Z'"):
        sch.cache_read(c, "Z", "global")
    with pytest.raises(tir.ScheduleError, match=r"must be \('read', k\) or \('write', k\)"):
        sch.transform_layout(c, ("both", 0), lambda a, b: (b, a))
    with pytest.raises(NotImplementedError, match="pad_value"):
        sch.transform_layout(c, ("write", 0), lambda a, b: (b, a), pad_value=0.0)
    n = len(sch.trace)
    with pytest.raises(tir.ScheduleError):
        sch.compute_inline(c)  # the output block cannot be inlined
    assert len(sch.trace) == n

"""set_scope, storage_align and transform_layout: the rewritten buffers and accesses,
numerics (relayouted parameters included), trace round trips, and illegal uses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from block_workloads import assert_same, chain, run_native
from ir_samples import block, loop, point, root

from onnxtune import tir
from onnxtune.tir import BufferStore, PrimFunc, Var, const, decl_buffer, testing
from onnxtune.tir.schedule import IndexMap, ScheduleError, Trace
from onnxtune.tir.schedule.primitives.block_ops import (
    set_scope,
    storage_align,
    transform_layout,
)
from onnxtune.tir.stmt import seq
from onnxtune.tir.structural import assert_structural_equal


def _sch(f):
    return tir.Schedule(f, debug_mask="all")


def test_set_scope():
    f, _ = chain()
    sch = _sch(f)
    sch.set_scope(sch.get_block("B"), 0, "shared")
    buf = sch.get(sch.get_block("B")).writes[0].buffer
    assert buf.scope == "shared" and buf.name == "B"
    assert sch.get(sch.get_block("C")).reads[0].buffer is buf
    assert sch.func.body.block.alloc_buffers == (buf,)
    assert_same(f, sch.func)
    assert set_scope(sch.func, "B", 0, "shared") is sch.func  # already there: no change


def test_set_scope_of_a_parameter_is_rejected():
    f, _ = chain()
    with pytest.raises(ScheduleError, match="set_scope: buffer C is a parameter of the "
                                            "function"):
        set_scope(f, "C", 0, "local")
    with pytest.raises(ScheduleError, match="invalid storage scope 'register'"):
        set_scope(f, "B", 0, "register")


def test_storage_align_records_annotation_and_buffer():
    f, _ = chain(4, 6)
    sch = _sch(f)
    b = sch.get_block("B")
    sch.storage_align(b, 0, axis=0, factor=8, offset=1)
    sch.storage_align(b, 0, axis=-2, factor=16, offset=3)  # same axis: replaces
    blk = sch.get(b)
    assert blk.annotations["buffer_dim_align"] == ((0, 0, 16, 3),)
    assert blk.writes[0].buffer.storage_align == ((0, 16, 3),)
    assert sch.get(sch.get_block("C")).reads[0].buffer is blk.writes[0].buffer
    assert_same(f, sch.func)


@pytest.mark.parametrize("args, msg", [
    ((2, 8, 1), r"axis 2 is out of range for buffer B of 2 dimension\(s\)"),
    ((0, 8, 8), r"offset 8 must be an integer in \[0, 8\)"),
    ((0, 0, 0), "factor 0 must be a positive integer"),
])
def test_storage_align_illegal(args, msg):
    f, _ = chain()
    with pytest.raises(ScheduleError, match=msg):
        storage_align(f, "B", 0, *args)


def test_storage_align_of_a_parameter_is_rejected():
    f, _ = chain()
    with pytest.raises(ScheduleError, match="buffer C is a parameter of the function"):
        storage_align(f, "C", 0, 0, 8, 0)


def test_transform_layout_of_an_intermediate_expected_ir():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    sch.transform_layout(sch.get_block("B"), ("write", 0), lambda i, j: (j, i))
    bt = decl_buffer((6, 4), name="B")
    i0, j0, vi0, vj0 = Var("i"), Var("j"), Var("vi"), Var("vj")
    i1, j1, vi1, vj1 = Var("i"), Var("j"), Var("vi"), Var("vj")
    sb = block("B", [(vi0, 4, False), (vj0, 6, False)], [i0, j0],
               BufferStore(bt, a[vi0, vj0] * const(2.0), (vj0, vi0)),
               reads=(point(a, (vi0, vj0)),), writes=(point(bt, (vj0, vi0)),))
    sc = block("C", [(vi1, 4, False), (vj1, 6, False)], [i1, j1],
               BufferStore(c, bt[vj1, vi1] + const(1.0), (vi1, vj1)),
               reads=(point(bt, (vj1, vi1)),), writes=(point(c, (vi1, vj1)),))
    expected = PrimFunc((a, c), root(seq(loop(i0, 4, loop(j0, 6, sb)),
                                         loop(i1, 4, loop(j1, 6, sc))), allocs=(bt,)))
    assert_structural_equal(sch.func, expected)
    assert_same(f, sch.func)


def test_transform_layout_of_a_parameter_changes_the_signature():
    f, ref = testing.matmul(6, 5, 8)
    sch = _sch(f)
    sch.transform_layout(sch.get_block("C"), "B", lambda k, j: (k // 4, j, k % 4))
    new_b = sch.func.params[1]
    assert [s.value for s in new_b.shape] == [2, 5, 4]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 8)).astype("float32")
    y = rng.standard_normal((8, 5)).astype("float32")
    packed = y.reshape(2, 4, 5).transpose(0, 2, 1).copy()
    out = run_native(sch.func, [x, packed, np.zeros((6, 5), "float32")])[-1]
    np.testing.assert_allclose(out, ref(x, y), rtol=1e-5, atol=1e-5)


def test_transform_layout_trace_round_trip():
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 4, 3, 3, padding=1)
    sch = _sch(f)
    sch.transform_layout(sch.get_block("conv2d_nchw"), ("write", 0),
                         lambda n, c, h, w: (n, c // 2, h, w, c % 2))
    assert_same(f, sch.func)
    text = json.dumps(sch.trace.as_json())
    replay = tir.Schedule(f, debug_mask="all")
    Trace.apply_json_to_schedule(json.loads(text), replay)
    assert_structural_equal(replay.func, sch.func)
    assert "lambda n, c, h, w: (n, c // 2, h, w, c % 2)" in str(sch.trace)


def test_transform_layout_illegal():
    f, _ = chain(4, 6)
    two = IndexMap.from_func(lambda i, j: (j, i))
    with pytest.raises(ScheduleError, match="buffer_index_type must be 'read' or 'write'"):
        transform_layout(f, "B", 0, "both", two)
    with pytest.raises(ScheduleError, match="the index map takes 1 indices but buffer B has 2"):
        transform_layout(f, "B", 0, "write", IndexMap.from_func(lambda i: (i,)))
    with pytest.raises(ScheduleError, match="cannot transform buffer B: .*can be negative"):
        transform_layout(f, "B", 0, "write", IndexMap.from_func(lambda i, j: (i - 1, j)))

"""tir.transform.layout_rewrite: removing and splitting weight layout-rewrite blocks."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.compile import build
from onnxtune.tir import te, testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.tree import index
from onnxtune.tir.transform.layout_rewrite import (
    LAYOUT_REWRITE_PREPROC,
    remove_weight_layout_rewrite_block,
    split_layout_rewrite_preproc,
)


def _dense_packed(m=6, n=12, k=10):
    """dense Y = X @ W.T + bias with W (n, k) repacked to (n // 4, k, 4) by a preproc
    block, as RewriteLayout builds it (cache_read + annotate + transform_layout)."""
    f, ref = testing.dense(m, n, k)
    sch = Schedule(f)
    blk = sch.get_block("T_matmul_NT")
    cache = sch.cache_read(blk, 1, "global")
    sch.annotate(cache, LAYOUT_REWRITE_PREPROC, True)
    sch.transform_layout(blk, ("read", 1), lambda j, kk: (j // 4, kk, j % 4))
    return sch.func, ref


def _pack(w):
    n, k = w.shape
    return w.reshape(n // 4, 4, k).transpose(0, 2, 1).copy()


def test_no_preproc_is_identity():
    f, _ = testing.matmul(4, 4, 4)
    assert remove_weight_layout_rewrite_block(f) is f
    pre, comp = split_layout_rewrite_preproc(f)
    assert pre is None and comp is f


def test_remove_takes_packed_weight():
    func, ref = _dense_packed()
    g = remove_weight_layout_rewrite_block(func)
    assert [p.name for p in g.params] == ["X", "W_global", "bias", "T_add"]
    assert tuple(s.value for s in g.params[1].shape) == (3, 10, 4)
    assert "W_global" not in index(g).order
    assert all(b.name != "W_global" for b in g.body.block.alloc_buffers)
    x, w, b, y = testing.make_args(func)
    build(g)["main"](x, _pack(w), b, y)
    np.testing.assert_allclose(y, ref(x, w, b), rtol=1e-5, atol=1e-5)


def test_split_preproc_and_compute():
    func, ref = _dense_packed()
    pre, comp = split_layout_rewrite_preproc(func)
    assert [p.name for p in pre.params] == ["W", "W_global"]
    assert [p.name for p in comp.params] == ["X", "W_global", "bias", "T_add"]
    x, w, b, y = testing.make_args(func)
    packed = np.zeros((3, 10, 4), "float32")
    build(pre)["main"](w, packed)
    np.testing.assert_array_equal(packed, _pack(w))
    build(comp)["main"](x, packed, b, y)
    np.testing.assert_allclose(y, ref(x, w, b), rtol=1e-5, atol=1e-5)
    # the original (preproc kept inside) computes the same
    y2 = np.full_like(y, np.nan)
    build(func)["main"](x, w, b, y2)
    np.testing.assert_allclose(y2, y, rtol=1e-6, atol=1e-6)


def test_two_weights_keep_parameter_order():
    a = te.placeholder((4, 6), name="A")
    w1 = te.placeholder((6, 8), name="W1")
    w2 = te.placeholder((8, 8), name="W2")
    k1 = te.reduce_axis((0, 6), name="k1")
    h = te.compute((4, 8), lambda i, j: te.sum(a[i, k1] * w1[k1, j], axis=k1), name="H")
    k2 = te.reduce_axis((0, 8), name="k2")
    o = te.compute((4, 8), lambda i, j: te.sum(h[i, k2] * w2[k2, j], axis=k2), name="O")
    f = te.create_prim_func([a, w1, w2, o])
    sch = Schedule(f)
    for blk_name, idx in (("O", 1), ("H", 1)):
        blk = sch.get_block(blk_name)
        cache = sch.cache_read(blk, idx, "global")
        sch.annotate(cache, LAYOUT_REWRITE_PREPROC, True)
        sch.transform_layout(blk, ("read", idx), lambda kk, j: (j, kk))
    pre, comp = split_layout_rewrite_preproc(sch.func)
    assert [p.name for p in pre.params] == ["W1", "W2", "W1_global", "W2_global"]
    assert [p.name for p in comp.params] == ["A", "W1_global", "W2_global", "O"]
    av, w1v, w2v, out = testing.make_args(f)
    p1, p2 = np.zeros((8, 6), "float32"), np.zeros((8, 8), "float32")
    build(pre)["main"](w1v, w2v, p1, p2)
    build(comp)["main"](av, p1, p2, out)
    np.testing.assert_allclose(out, av @ w1v @ w2v, rtol=1e-4, atol=1e-4)


def test_weight_used_elsewhere_is_an_error():
    f, _ = testing.add((4, 8), (4, 8))
    sch = Schedule(f)
    blk = sch.get_block(index(f).order[1])
    # copy A into A_global for the add block, then let a second block read A again
    cache = sch.cache_read(blk, 0, "global", consumer_blocks=[])
    sch.annotate(cache, LAYOUT_REWRITE_PREPROC, True)
    with pytest.raises(ValueError, match="read outside"):
        remove_weight_layout_rewrite_block(sch.func)

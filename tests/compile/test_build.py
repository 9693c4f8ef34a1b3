"""compile.build: naming, IRModules, argument checking, logging, and TE-form workloads."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from codegen_helpers import block, conv2d_nchw, conv2d_reference, elementwise, loop, matmul, root

from onnxtune import tir
from onnxtune.compile import build
from onnxtune.tir import BufferStore


def _add_one(n=11):
    return elementwise({"y": (lambda x: x + 1.0, "float32")}, ["float32"], n)


def test_names_global_symbol_and_irmodule():
    x = np.arange(11, dtype="float32")
    y = np.zeros(11, "float32")
    build(_add_one())["main"](x, y)
    np.testing.assert_array_equal(y, x + 1)
    f = _add_one().with_attr("global_symbol", "add_one")
    build(f)["add_one"](x, y)
    build(f, name="renamed")["renamed"](x, y)
    mod = build(tir.IRModule({"first": _add_one(), "second": matmul(3, 4, 5)}))
    a, b, c = (np.random.default_rng(0).standard_normal(s).astype("float32")
               for s in ((3, 5), (5, 4), (3, 4)))
    mod["second"](a, b, c)
    mod["first"](x, y)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)
    with pytest.raises(TypeError, match="PrimFunc"):
        build("not a function")


def test_argument_checks_name_the_parameter():
    fn = build(matmul(3, 4, 5))["main"]
    a, b, c = np.ones((3, 5), "float32"), np.ones((5, 4), "float32"), np.ones((3, 4), "float32")
    with pytest.raises(ValueError):
        fn(a, b)
    with pytest.raises(ValueError, match="B"):
        fn(a, np.ones((4, 5), "float32"), c)
    with pytest.raises(ValueError, match="C"):
        fn(a, b, np.ones((3, 4), "float64"))
    with pytest.raises(ValueError, match="A"):
        fn(np.ones((5, 3), "float32").T, b, c)


def test_build_logs_phase_times(caplog):
    with caplog.at_level(logging.INFO, logger="onnxtune.compile.build"):
        build(_add_one())
    assert any("lower" in r.message and "JIT" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    "shape,f,kernel,pad,stride,dilation,groups",
    [
        ((1, 64, 56, 56), 64, 3, 1, 1, 1, 1),
        ((1, 16, 23, 19), 8, 3, 1, 2, 1, 1),
        ((2, 8, 17, 17), 8, 3, 2, 1, 2, 1),
        ((1, 8, 13, 11), 6, 3, 1, 1, 1, 2),
        ((1, 12, 15, 15), 12, 3, 1, 1, 1, 12),  # depthwise
    ],
)
def test_conv2d_te_form(shape, f, kernel, pad, stride, dilation, groups):
    func = conv2d_nchw(shape, f, kernel, pad, stride, dilation, groups)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype("float32")
    w = rng.standard_normal((f, shape[1] // groups, kernel, kernel)).astype("float32")
    want = conv2d_reference(x, w, pad, stride, dilation, groups)
    out = np.full(want.shape, 3, "float32")
    build(func)["main"](x, w, out)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def _nest(name, extents, reduce_mask, body_fn, init_fn=None):
    """A loop nest over ``extents`` holding one block; body_fn/init_fn get the iter vars."""
    ivs = [tir.Var(f"v{name}{k}") for k in range(len(extents))]
    lvs = [tir.Var(f"{name}{k}") for k in range(len(extents))]
    init = init_fn(*ivs) if init_fn else None
    nest = block(name, list(zip(ivs, extents, reduce_mask, strict=True)), lvs, body_fn(*ivs),
                 init)
    for v, e in reversed(list(zip(lvs, extents, strict=True))):
        nest = loop(v, e, nest)
    return nest


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_softmax_multi_block(dtype):
    """max / exp / sum / divide blocks with intermediates (max-reduction init = -inf)."""
    m, n = 3, 37
    x = tir.decl_buffer((m, n), dtype, "X")
    y = tir.decl_buffer((m, n), dtype, "Y")
    mx = tir.decl_buffer((m,), dtype, "M")
    e = tir.decl_buffer((m, n), dtype, "E")
    s = tir.decl_buffer((m,), dtype, "S")
    spatial = [False, False]
    body = tir.stmt.seq(
        _nest("max", (m, n), [False, True],
              lambda i, k: BufferStore(mx, tir.max(mx[i], x[i, k]), (i,)),
              lambda i, k: BufferStore(mx, tir.min_value(dtype), (i,))),
        _nest("exp", (m, n), spatial,
              lambda i, k: BufferStore(e, tir.exp(x[i, k] - mx[i]), (i, k))),
        _nest("sum", (m, n), [False, True], lambda i, k: BufferStore(s, s[i] + e[i, k], (i,)),
              lambda i, k: BufferStore(s, tir.const(0, dtype), (i,))),
        _nest("out", (m, n), spatial, lambda i, k: BufferStore(y, e[i, k] / s[i], (i, k))),
    )
    func = tir.PrimFunc((x, y), root(body, allocs=[mx, e, s]))
    a = (np.random.default_rng(6).standard_normal((m, n)) * 4).astype(dtype)
    out = np.ones((m, n), dtype)
    build(func)["main"](a, out)
    a64 = a.astype(np.float64)
    want = np.exp(a64 - a64.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    tol = 2e-3 if dtype == "float16" else 1e-6
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


def test_max_pool_int32():
    """3x3 stride-2 max pooling with padding (-inf = INT_MIN) on int32."""
    c, h = 4, 11
    oh = (h + 2 - 3) // 2 + 1
    x = tir.decl_buffer((1, c, h, h), "int32", "X")
    y = tir.decl_buffer((1, c, oh, oh), "int32", "Y")
    p = tir.decl_buffer((1, c, h + 2, h + 2), "int32", "P")
    lo = tir.min_value("int32")

    def pad(n, ch, i, j):
        inside = tir.all(i >= 1, i < h + 1, j >= 1, j < h + 1)
        return BufferStore(p, tir.if_then_else(inside, x[n, ch, i - 1, j - 1], lo), (n, ch, i, j))

    body = tir.stmt.seq(
        _nest("pad", (1, c, h + 2, h + 2), [False] * 4, pad),
        _nest("pool", (1, c, oh, oh, 3, 3), [False] * 4 + [True] * 2,
              lambda n, ch, i, j, r, s: BufferStore(
                  y, tir.max(y[n, ch, i, j], p[n, ch, i * 2 + r, j * 2 + s]), (n, ch, i, j)),
              lambda n, ch, i, j, r, s: BufferStore(y, lo, (n, ch, i, j))),
    )
    func = tir.PrimFunc((x, y), root(body, allocs=[p]))
    a = np.random.default_rng(7).integers(-1000, 1000, (1, c, h, h)).astype("int32")
    out = np.ones((1, c, oh, oh), "int32")
    build(func)["main"](a, out)
    padded = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.iinfo("int32").min)
    want = np.full_like(out, np.iinfo("int32").min)
    for r in range(3):
        for s in range(3):
            want = np.maximum(want, padded[:, :, r:r + 2 * oh - 1:2, s:s + 2 * oh - 1:2])
    np.testing.assert_array_equal(out, want)

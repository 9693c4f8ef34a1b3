"""Ready-made TE workloads, each a PrimFunc with a numpy reference, for tests and benchmarks.

Every builder returns ``(func, ref)``: ``func`` is a PrimFunc from ``te.create_prim_func``
whose parameters are the inputs followed by the single output; ``ref(*inputs)`` computes
the expected output with numpy (accumulating in float64 / int64, then cast to the output
dtype). ``make_args`` builds random inputs plus a garbage-filled output and
``check_workload`` runs a function (by default through the reference interpreter) and
compares. Sizes are the caller's choice: tiny for the interpreter, real ones for codegen
and benchmarks. ``WORKLOADS`` maps names to tiny default instances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import dtype as dt
from . import te
from .function import PrimFunc

Ref = Callable[..., np.ndarray]
Workload = tuple[PrimFunc, Ref]


# ----------------------------------------------------------------------------------------
# running and checking


def make_args(func: PrimFunc, seed: int = 0, num_outputs: int = 1) -> list[np.ndarray]:
    """Random arrays for the inputs (every parameter but the last ``num_outputs``) and
    garbage-filled outputs (NaN or a sentinel), so an unwritten element shows."""
    rng = np.random.default_rng(seed)
    args = []
    n_in = len(func.params) - num_outputs
    for k, p in enumerate(func.params):
        shape = p.static_shape()
        if k >= n_in:
            fill = np.nan if dt.is_float(p.dtype) else dt.min_value(p.dtype) + 3
            args.append(np.full(shape, fill, p.dtype))
        elif dt.is_float(p.dtype):
            args.append(rng.standard_normal(shape).astype(p.dtype))
        elif p.dtype == "bool":
            args.append(rng.integers(0, 2, shape).astype(bool))
        else:
            hi = 8 if dt.bits(p.dtype) <= 8 else 100
            lo = 0 if dt.is_uint(p.dtype) else -hi
            args.append(rng.integers(lo, hi, shape).astype(p.dtype))
    return args


def tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol) for comparing an output of ``dtype`` with its reference."""
    if dtype == "float16":
        return 1e-2, 1e-2
    if dt.is_float(dtype):
        return 1e-5, 1e-5
    return 0.0, 0.0


def check_workload(
    func: PrimFunc,
    ref: Ref,
    run: Callable[..., Any] | None = None,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Run ``func`` with ``run(func, *arrays)`` (default: the reference interpreter; for a
    built module ``run=lambda f, *a: mod["main"](*a)``) on random inputs and assert the
    output matches ``ref`` (AssertionError otherwise)."""
    if run is None:
        from .interp import run as interp_run

        run = interp_run
    args = make_args(func, seed)
    expected = ref(*[a.copy() for a in args[:-1]])
    run(func, *args)
    out, (r, a) = args[-1], tolerance(args[-1].dtype.name)
    np.testing.assert_allclose(
        out.astype(np.float64) if dt.is_float(out.dtype.name) else out,
        expected.astype(np.float64) if dt.is_float(out.dtype.name) else expected,
        rtol=r if rtol is None else rtol,
        atol=a if atol is None else atol,
        err_msg=f"output {func.params[-1].name} differs from the numpy reference",
    )


# ----------------------------------------------------------------------------------------
# helpers


def _acc(dtype: str) -> type:
    return np.float64 if dt.is_float(dtype) else np.int64


def _pair(x: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(x, int):
        return x, x
    if len(x) != 2:
        raise ValueError(f"{what} must be an int or a pair, got {x!r}")
    return int(x[0]), int(x[1])


def _pads(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, (ph, pw) or (top, left, bottom, right)."""
    if isinstance(padding, int):
        return (padding,) * 4
    p = tuple(int(x) for x in padding)
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) == 4:
        return p  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, (ph, pw) or (top, left, bottom, right): {padding}")


def _out_size(size: int, lo: int, hi: int, k: int, stride: int, dil: int, what: str) -> int:
    n = (size + lo + hi - dil * (k - 1) - 1) // stride + 1
    if n <= 0:
        raise ValueError(f"{what}: the window ({k}, dilation {dil}) is larger than the padded "
                         f"input ({size} + {lo} + {hi})")
    return n


def _win(out: Any, stride: int, red: Any, dil: int) -> Any:
    """``out * stride + red * dil`` without multiplications by one."""
    a = out if stride == 1 else out * stride
    b = red if dil == 1 else red * dil
    return a + b


def _pad_nchw(data: te.Tensor, pads: tuple[int, int, int, int], value: Any) -> te.Tensor:
    """``data`` padded in H and W with ``value`` (``data`` itself when nothing is padded)."""
    pt, pl, pb, pr = pads
    if not any(pads):
        return data
    n, c, h, w = data.static_shape()

    def f(i0, i1, i2, i3):
        conds = [c for c, on in ((i2 >= pt, pt), (i2 < h + pt, pb), (i3 >= pl, pl),
                                 (i3 < w + pl, pr)) if on]
        y = i2 - pt if pt else i2
        x = i3 - pl if pl else i3
        return te.if_then_else(te.all(*conds), data[i0, i1, y, x], value)

    return te.compute((n, c, h + pt + pb, w + pl + pr), f, name="pad_temp")


def _np_pad(x: np.ndarray, pads: tuple[int, int, int, int], value: Any) -> np.ndarray:
    pt, pl, pb, pr = pads
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _windows(xp: np.ndarray, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
             oh: int, ow: int):
    """The strided input slices (N, C, OH, OW) seen by each kernel offset (ry, rx)."""
    for ry in range(k[0]):
        for rx in range(k[1]):
            y0, x0 = ry * d[0], rx * d[1]
            yield ry, rx, xp[:, :, y0:y0 + s[0] * (oh - 1) + 1:s[0],
                             x0:x0 + s[1] * (ow - 1) + 1:s[1]]


# ----------------------------------------------------------------------------------------
# linear algebra


def matmul(m: int, n: int, k: int, dtype: str = "float32",
           out_dtype: str | None = None) -> Workload:
    """``C[i, j] = sum_k A[i, k] * B[k, j]``; inputs cast to ``out_dtype`` (default
    ``dtype``) before multiplying, e.g. int8 inputs accumulated in int32."""
    out_dtype = out_dtype or dtype
    a = te.placeholder((m, k), dtype, name="A")
    b = te.placeholder((k, n), dtype, name="B")
    rk = te.reduce_axis((0, k), name="k")
    c = te.compute((m, n), lambda i, j: te.sum(
        a[i, rk].astype(out_dtype) * b[rk, j].astype(out_dtype), axis=rk), name="C")

    def ref(x, y):
        return (x.astype(_acc(out_dtype)) @ y.astype(_acc(out_dtype))).astype(out_dtype)

    return te.create_prim_func([a, b, c]), ref


def batch_matmul(batch: int, m: int, n: int, k: int, dtype: str = "float32",
                 transpose_b: bool = False) -> Workload:
    """``C[b, i, j] = sum_k A[b, i, k] * B[b, k, j]`` (``B[b, j, k]`` if ``transpose_b``)."""
    a = te.placeholder((batch, m, k), dtype, name="A")
    b = te.placeholder((batch, n, k) if transpose_b else (batch, k, n), dtype, name="B")
    rk = te.reduce_axis((0, k), name="k")

    def f(bb, i, j):
        rhs = b[bb, j, rk] if transpose_b else b[bb, rk, j]
        return te.sum(a[bb, i, rk] * rhs, axis=rk)

    c = te.compute((batch, m, n), f, name="batch_matmul")

    def ref(x, y):
        y = np.swapaxes(y, 1, 2) if transpose_b else y
        return np.matmul(x.astype(_acc(dtype)), y.astype(_acc(dtype))).astype(dtype)

    return te.create_prim_func([a, b, c]), ref


def dense(m: int, n: int, k: int, dtype: str = "float32", bias: bool = True) -> Workload:
    """``Y = X @ W.T (+ bias)`` with X (m, k), W (n, k), bias (n,): blocks T_matmul_NT and,
    with bias, T_add (the matmul result is then an intermediate)."""
    x = te.placeholder((m, k), dtype, name="X")
    w = te.placeholder((n, k), dtype, name="W")
    rk = te.reduce_axis((0, k), name="k")
    y = te.compute((m, n), lambda i, j: te.sum(x[i, rk] * w[j, rk], axis=rk), name="T_matmul_NT")
    if not bias:
        return te.create_prim_func([x, w, y]), lambda a, b: (
            a.astype(_acc(dtype)) @ b.astype(_acc(dtype)).T).astype(dtype)
    bv = te.placeholder((n,), dtype, name="bias")
    out = te.compute((m, n), lambda i, j: y[i, j] + bv[j], name="T_add")

    def ref(a, b, c):
        return (a.astype(_acc(dtype)) @ b.astype(_acc(dtype)).T + c).astype(dtype)

    return te.create_prim_func([x, w, bv, out]), ref


# ----------------------------------------------------------------------------------------
# elementwise and layout


def _broadcast_binary(op: str, a_shape: Sequence[int], b_shape: Sequence[int],
                      dtype: str) -> Workload:
    out_shape = tuple(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
    a = te.placeholder(tuple(a_shape), dtype, name="A")
    b = te.placeholder(tuple(b_shape), dtype, name="B")

    def index(t: te.Tensor, idx: tuple) -> Any:
        shp = t.static_shape()
        off = len(idx) - len(shp)
        return t[tuple(0 if s == 1 and out_shape[off + d] != 1 else idx[off + d]
                       for d, s in enumerate(shp))]

    def f(*idx):
        x, y = index(a, idx), index(b, idx)
        return x + y if op == "add" else x * y

    c = te.compute(out_shape, f, name=f"T_{op}", tag="broadcast")
    npop = np.add if op == "add" else np.multiply
    return te.create_prim_func([a, b, c]), lambda x, y: npop(x, y).astype(dtype)


def add(a_shape: Sequence[int], b_shape: Sequence[int], dtype: str = "float32") -> Workload:
    """``A + B`` with numpy broadcasting (block T_add)."""
    return _broadcast_binary("add", a_shape, b_shape, dtype)


def multiply(a_shape: Sequence[int], b_shape: Sequence[int], dtype: str = "float32") -> Workload:
    """``A * B`` with numpy broadcasting (block T_multiply)."""
    return _broadcast_binary("multiply", a_shape, b_shape, dtype)


def relu(*shape: int, dtype: str = "float32") -> Workload:
    """``max(A, 0)`` elementwise (block T_relu)."""
    a = te.placeholder(shape, dtype, name="A")
    b = te.compute(shape, lambda *i: te.max(a[i], te.const(0, dtype)), name="T_relu",
                   tag="elemwise")
    return te.create_prim_func([a, b]), lambda x: np.maximum(x, 0).astype(dtype)


def transpose(shape: Sequence[int], axes: Sequence[int] | None = None,
              dtype: str = "float32") -> Workload:
    """``np.transpose(A, axes)`` (block T_transpose; reversed axes by default)."""
    axes = tuple(reversed(range(len(shape)))) if axes is None else tuple(axes)
    if sorted(axes) != list(range(len(shape))):
        raise ValueError(f"transpose: axes {axes} is not a permutation of 0..{len(shape) - 1}")
    a = te.placeholder(tuple(shape), dtype, name="A")
    out_shape = tuple(shape[x] for x in axes)

    def f(*idx):
        src = [None] * len(shape)
        for k, x in enumerate(axes):
            src[x] = idx[k]
        return a[tuple(src)]

    b = te.compute(out_shape, f, name="T_transpose", tag="injective")
    return te.create_prim_func([a, b]), lambda x: np.transpose(x, axes).copy()


def reshape(in_shape: Sequence[int], out_shape: Sequence[int],
            dtype: str = "float32") -> Workload:
    """``A.reshape(out_shape)`` through the flat index: floordiv/floormod arithmetic."""
    in_shape = tuple(in_shape)
    size = int(np.prod(in_shape))
    out_shape = tuple(np.empty(size, np.int8).reshape(tuple(out_shape)).shape)
    a = te.placeholder(in_shape, dtype, name="A")

    def f(*idx):
        flat = idx[0] if idx else 0
        for d in range(1, len(out_shape)):
            flat = flat * out_shape[d] + idx[d]
        src = []
        stride = size
        for s in in_shape:
            stride //= s
            src.append(te.floormod(te.floordiv(flat, stride), s) if s != 1 else 0)
        return a[tuple(src)]

    b = te.compute(out_shape, f, name="T_reshape", tag="injective")
    return te.create_prim_func([a, b]), lambda x: x.reshape(out_shape).copy()


def int32_arith(m: int, n: int) -> Workload:
    """An int32 workload exercising every division flavour on signed operands:
    ``floordiv(3A + B, 7) + floormod(A - B, 5) + truncdiv(A, 3) - truncmod(B, 4)``."""
    a = te.placeholder((m, n), "int32", name="A")
    b = te.placeholder((m, n), "int32", name="B")
    c = te.compute((m, n), lambda i, j: (
        te.floordiv(a[i, j] * 3 + b[i, j], 7) + te.floormod(a[i, j] - b[i, j], 5)
        + te.truncdiv(a[i, j], 3) - te.truncmod(b[i, j], 4)), name="T_int")

    def ref(x, y):
        x, y = x.astype(np.int64), y.astype(np.int64)
        tdiv = np.sign(x) * (np.abs(x) // 3)
        tmod = y - np.sign(y) * (np.abs(y) // 4) * 4
        return (np.floor_divide(3 * x + y, 7) + np.mod(x - y, 5) + tdiv - tmod).astype(np.int32)

    return te.create_prim_func([a, b, c]), ref


# ----------------------------------------------------------------------------------------
# normalization


def softmax(*shape: int, dtype: str = "float32") -> Workload:
    """Softmax along the last axis in four blocks, as TVM's topi: T_softmax_maxelem,
    T_softmax_exp, T_softmax_expsum, T_softmax_norm."""
    x = te.placeholder(shape, dtype, name="X")
    outer, last = shape[:-1], shape[-1]
    k1 = te.reduce_axis((0, last), name="k")
    mx = te.compute(outer, lambda *i: te.max(x[(*i, k1)], axis=k1), name="T_softmax_maxelem")
    ex = te.compute(shape, lambda *i: te.exp(x[i] - mx[i[:-1]]), name="T_softmax_exp")
    k2 = te.reduce_axis((0, last), name="k")
    sm = te.compute(outer, lambda *i: te.sum(ex[(*i, k2)], axis=k2), name="T_softmax_expsum")
    out = te.compute(shape, lambda *i: ex[i] / sm[i[:-1]], name="T_softmax_norm")

    def ref(a):
        a = a.astype(np.float64)
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)

    return te.create_prim_func([x, out]), ref


def layer_norm(*shape: int, eps: float = 1e-5, dtype: str = "float32") -> Workload:
    """Layer normalization over the last axis with gamma and beta of that length:
    blocks T_mean_sum, T_var_sum (of squared deviations) and T_layer_norm."""
    x = te.placeholder(shape, dtype, name="X")
    last = shape[-1]
    gamma = te.placeholder((last,), dtype, name="gamma")
    beta = te.placeholder((last,), dtype, name="beta")
    outer = shape[:-1]
    inv_n = te.const(1.0 / last, dtype)
    k1 = te.reduce_axis((0, last), name="k")
    s = te.compute(outer, lambda *i: te.sum(x[(*i, k1)], axis=k1), name="T_mean_sum")
    k2 = te.reduce_axis((0, last), name="k")

    def dev(*i):
        d = x[(*i, k2)] - s[i] * inv_n
        return te.sum(d * d, axis=k2)

    v = te.compute(outer, dev, name="T_var_sum")
    out = te.compute(shape, lambda *i: (x[i] - s[i[:-1]] * inv_n) * te.rsqrt(
        v[i[:-1]] * inv_n + te.const(eps, dtype)) * gamma[i[-1]] + beta[i[-1]],
        name="T_layer_norm")

    def ref(a, g, b):
        a = a.astype(np.float64)
        mean = a.mean(axis=-1, keepdims=True)
        var = ((a - mean) ** 2).mean(axis=-1, keepdims=True)
        return ((a - mean) / np.sqrt(var + eps) * g + b).astype(dtype)

    return te.create_prim_func([x, gamma, beta, out]), ref


# ----------------------------------------------------------------------------------------
# convolution and pooling (NCHW)


def _conv_stage(data: te.Tensor, kernel: te.Tensor, stride: Any, padding: Any, dilation: Any,
                groups: int, name: str) -> te.Tensor:
    n, c, h, w = data.static_shape()
    k, cg, r, s = kernel.static_shape()
    if c % groups or k % groups or c // groups != cg:
        raise ValueError(f"{name}: {c} input and {k} output channels with groups={groups} need "
                         f"a kernel of {c // groups} input channels, got {cg}")
    (sh, sw), (dh, dw), pads = _pair(stride, "stride"), _pair(dilation, "dilation"), _pads(padding)
    oh = _out_size(h, pads[0], pads[2], r, sh, dh, name)
    ow = _out_size(w, pads[1], pads[3], s, sw, dw, name)
    pad = _pad_nchw(data, pads, te.const(0, data.dtype))
    rc = te.reduce_axis((0, cg), name="rc")
    ry = te.reduce_axis((0, r), name="ry")
    rx = te.reduce_axis((0, s), name="rx")
    kg = k // groups

    def f(nn, ff, yy, xx):
        ch = rc if groups == 1 else te.floordiv(ff, kg) * cg + rc
        x = pad[nn, ch, _win(yy, sh, ry, dh), _win(xx, sw, rx, dw)]
        return te.sum(x * kernel[ff, rc, ry, rx], axis=[rc, ry, rx])

    return te.compute((n, k, oh, ow), f, name=name, tag="conv2d_nchw")


def conv2d_ref(x: np.ndarray, w: np.ndarray, stride: Any = 1, padding: Any = 0,
               dilation: Any = 1, groups: int = 1) -> np.ndarray:
    """NCHW convolution in float64 (int64 for integers) by explicit strided windows."""
    acc = _acc(x.dtype.name)
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    st, di, pads = _pair(stride, "stride"), _pair(dilation, "dilation"), _pads(padding)
    oh = _out_size(h, pads[0], pads[2], r, st[0], di[0], "conv2d_ref")
    ow = _out_size(wd, pads[1], pads[3], s, st[1], di[1], "conv2d_ref")
    xp = _np_pad(x.astype(acc), pads, 0)
    out = np.zeros((n, k, oh, ow), acc)
    kg = k // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * kg:(g + 1) * kg].astype(acc)
        for ry, rx, win in _windows(xs, (r, s), st, di, oh, ow):
            out[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", win, ws[:, :, ry, rx])
    return out


def conv2d_nchw(n: int, c: int, h: int, w: int, k: int, r: int, s: int, stride: Any = 1,
                padding: Any = 0, dilation: Any = 1, groups: int = 1,
                dtype: str = "float32") -> Workload:
    """2-D convolution, data (n, c, h, w), kernel (k, c // groups, r, s): blocks pad_temp
    (only when padding is non-zero; an if_then_else) and conv2d_nchw. ``padding`` is an
    int, (ph, pw) or (top, left, bottom, right); stride and dilation an int or a pair."""
    data = te.placeholder((n, c, h, w), dtype, name="data")
    kernel = te.placeholder((k, c // groups, r, s), dtype, name="kernel")
    out = _conv_stage(data, kernel, stride, padding, dilation, groups, "conv2d_nchw")
    return te.create_prim_func([data, kernel, out]), lambda x, y: conv2d_ref(
        x, y, stride, padding, dilation, groups).astype(dtype)


def depthwise_conv2d_nchw(n: int, c: int, h: int, w: int, r: int, s: int, stride: Any = 1,
                          padding: Any = 0, dilation: Any = 1, multiplier: int = 1,
                          dtype: str = "float32") -> Workload:
    """Depthwise convolution, kernel (c, multiplier, r, s) as in TVM's topi: output channel
    ``q`` reads input channel ``q // multiplier`` with kernel[q // multiplier, q % multiplier]."""
    data = te.placeholder((n, c, h, w), dtype, name="data")
    kernel = te.placeholder((c, multiplier, r, s), dtype, name="kernel")
    (sh, sw), (dh, dw), pads = _pair(stride, "stride"), _pair(dilation, "dilation"), _pads(padding)
    oh = _out_size(h, pads[0], pads[2], r, sh, dh, "depthwise_conv2d_nchw")
    ow = _out_size(w, pads[1], pads[3], s, sw, dw, "depthwise_conv2d_nchw")
    pad = _pad_nchw(data, pads, te.const(0, dtype))
    ry = te.reduce_axis((0, r), name="ry")
    rx = te.reduce_axis((0, s), name="rx")

    def f(b, q, i, j):
        ch, m = te.floordiv(q, multiplier), te.floormod(q, multiplier)
        return te.sum(pad[b, ch, _win(i, sh, ry, dh), _win(j, sw, rx, dw)] * kernel[ch, m, ry, rx],
                      axis=[ry, rx])

    out = te.compute((n, c * multiplier, oh, ow), f, name="DepthwiseConv2d",
                     tag="depthwise_conv2d_nchw")

    def ref(x, y):
        wk = y.reshape(c * multiplier, 1, r, s)
        return conv2d_ref(x, wk, stride, padding, dilation, groups=c).astype(dtype)

    return te.create_prim_func([data, kernel, out]), ref


def conv2d_bias_relu(n: int, c: int, h: int, w: int, k: int, r: int, s: int, stride: Any = 1,
                     padding: Any = 0, dilation: Any = 1, groups: int = 1,
                     dtype: str = "float32") -> Workload:
    """``relu(conv2d_nchw(data, kernel) + bias[k])`` as one fused PrimFunc: blocks pad_temp,
    conv2d_nchw, T_add and T_relu (all but the last intermediates)."""
    data = te.placeholder((n, c, h, w), dtype, name="data")
    kernel = te.placeholder((k, c // groups, r, s), dtype, name="kernel")
    bias = te.placeholder((k,), dtype, name="bias")
    conv = _conv_stage(data, kernel, stride, padding, dilation, groups, "conv2d_nchw")
    shp = conv.static_shape()
    added = te.compute(shp, lambda b, q, i, j: conv[b, q, i, j] + bias[q], name="T_add",
                       tag="broadcast")
    out = te.compute(shp, lambda *i: te.max(added[i], te.const(0, dtype)), name="T_relu",
                     tag="elemwise")

    def ref(x, y, z):
        v = conv2d_ref(x, y, stride, padding, dilation, groups) + z[None, :, None, None]
        return np.maximum(v, 0).astype(dtype)

    return te.create_prim_func([data, kernel, bias, out]), ref


def max_pool2d(n: int, c: int, h: int, w: int, kernel: Any = 2, stride: Any = 2,
               padding: Any = 0, dilation: Any = 1, dtype: str = "float32") -> Workload:
    """Max pooling (floor mode); padding holds the dtype's lowest value, so padded points
    never win: blocks pad_temp (if padded) and pool_max."""
    data = te.placeholder((n, c, h, w), dtype, name="data")
    (kh, kw), (sh, sw), (dh, dw) = (_pair(kernel, "kernel"), _pair(stride, "stride"),
                                    _pair(dilation, "dilation"))
    pads = _pads(padding)
    oh = _out_size(h, pads[0], pads[2], kh, sh, dh, "max_pool2d")
    ow = _out_size(w, pads[1], pads[3], kw, sw, dw, "max_pool2d")
    pad = _pad_nchw(data, pads, te.min_value(dtype))
    ry = te.reduce_axis((0, kh), name="rv0")
    rx = te.reduce_axis((0, kw), name="rv1")
    out = te.compute((n, c, oh, ow), lambda b, q, i, j: te.max(
        pad[b, q, _win(i, sh, ry, dh), _win(j, sw, rx, dw)], axis=[ry, rx]), name="pool_max",
        tag="pool_max")

    def ref(x):
        xp = _np_pad(x, pads, dt.min_value(dtype))
        res = np.full((n, c, oh, ow), dt.min_value(dtype), x.dtype)
        for _, _, win in _windows(xp, (kh, kw), (sh, sw), (dh, dw), oh, ow):
            res = np.maximum(res, win)
        return res

    return te.create_prim_func([data, out]), ref


def avg_pool2d(n: int, c: int, h: int, w: int, kernel: Any = 2, stride: Any = 2,
               padding: Any = 0, count_include_pad: bool = True,
               dtype: str = "float32") -> Workload:
    """Average pooling (floor mode): blocks pad_temp (zeros, if padded), pool_sum, pool_avg.

    With ``count_include_pad`` every window divides by kh * kw (padded zeros count, as
    ONNX count_include_pad=1); without it, by the number of window points inside the
    unpadded input (ONNX's default).
    """
    data = te.placeholder((n, c, h, w), dtype, name="data")
    (kh, kw), (sh, sw), pads = _pair(kernel, "kernel"), _pair(stride, "stride"), _pads(padding)
    oh = _out_size(h, pads[0], pads[2], kh, sh, 1, "avg_pool2d")
    ow = _out_size(w, pads[1], pads[3], kw, sw, 1, "avg_pool2d")
    pad = _pad_nchw(data, pads, te.const(0, dtype))
    ry = te.reduce_axis((0, kh), name="rv0")
    rx = te.reduce_axis((0, kw), name="rv1")
    total = te.compute((n, c, oh, ow), lambda b, q, i, j: te.sum(
        pad[b, q, _win(i, sh, ry, 1), _win(j, sw, rx, 1)], axis=[ry, rx]), name="pool_sum",
        tag="pool_sum")

    def count(i, j):
        if count_include_pad:
            return te.const(kh * kw, dtype)
        y0, x0 = i * sh - pads[0], j * sw - pads[1]
        hy = te.min(y0 + kh, h) - te.max(y0, 0)
        wx = te.min(x0 + kw, w) - te.max(x0, 0)
        return (hy * wx).astype(dtype)

    out = te.compute((n, c, oh, ow), lambda b, q, i, j: total[b, q, i, j] / count(i, j),
                     name="pool_avg", tag="elemwise")

    def ref(x):
        xp = _np_pad(x.astype(np.float64), pads, 0)
        ones = _np_pad(np.ones((1, 1, h, w)), pads, 1 if count_include_pad else 0)
        s = np.zeros((n, c, oh, ow))
        cnt = np.zeros((1, 1, oh, ow))
        for ry_, rx_, win in _windows(xp, (kh, kw), (sh, sw), (1, 1), oh, ow):
            s += win
            y0, x0 = ry_, rx_
            cnt += ones[:, :, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw]
        return (s / cnt).astype(dtype)

    return te.create_prim_func([data, out]), ref


# ----------------------------------------------------------------------------------------
# tiny default instances (fast enough for the reference interpreter)

WORKLOADS: dict[str, Callable[[], Workload]] = {
    "matmul": lambda: matmul(5, 7, 3),
    "matmul_int8": lambda: matmul(4, 3, 5, dtype="int8", out_dtype="int32"),
    "matmul_fp16": lambda: matmul(3, 5, 4, dtype="float16"),
    "batch_matmul": lambda: batch_matmul(2, 3, 5, 4),
    "batch_matmul_nt": lambda: batch_matmul(1, 3, 2, 5, transpose_b=True),
    "dense": lambda: dense(3, 5, 7),
    "add": lambda: add((3, 1, 5), (4, 1)),
    "multiply": lambda: multiply((2, 3), (3,)),
    "add_fp16": lambda: add((3, 5), (3, 5), dtype="float16"),
    "relu": lambda: relu(2, 3, 5),
    "transpose": lambda: transpose((2, 3, 5), (1, 2, 0)),
    "reshape": lambda: reshape((2, 3, 5), (5, 6)),
    "int32_arith": lambda: int32_arith(3, 7),
    "softmax": lambda: softmax(3, 7),
    "layer_norm": lambda: layer_norm(2, 7),
    "conv2d": lambda: conv2d_nchw(1, 2, 5, 5, 3, 3, 3, padding=1),
    "conv2d_strided": lambda: conv2d_nchw(1, 3, 7, 6, 2, 3, 2, stride=2, padding=(1, 0, 2, 1)),
    "conv2d_dilated_grouped": lambda: conv2d_nchw(1, 4, 6, 6, 2, 3, 3, dilation=2, padding=1,
                                                  groups=2),
    "depthwise_conv2d": lambda: depthwise_conv2d_nchw(1, 2, 5, 5, 3, 3, padding=1,
                                                      multiplier=2),
    "conv2d_bias_relu": lambda: conv2d_bias_relu(1, 2, 5, 4, 3, 3, 3, padding=1),
    "max_pool2d": lambda: max_pool2d(1, 2, 7, 5, kernel=3, stride=2, padding=1),
    "avg_pool2d": lambda: avg_pool2d(1, 2, 5, 7, kernel=3, stride=2, padding=1),
    "avg_pool2d_exclude_pad": lambda: avg_pool2d(1, 2, 5, 7, kernel=3, stride=2, padding=1,
                                                 count_include_pad=False),
}

"""frontend.op: max / average / global pooling vs onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import check, ort_run, rand, run_op

CASES = [
    dict(k=(2, 2), s=(2, 2)),
    dict(k=(3, 3), s=(2, 2), p=(1, 1, 1, 1)),
    dict(k=(3, 2), s=(2, 1), p=(1, 0, 0, 1), ceil=True),
    dict(k=(3, 3), s=(2, 2), ceil=True),
    dict(k=(2, 3), s=(1, 2), p=(0, 1, 0, 1), d=(2, 1)),
    dict(k=(3, 3), s=(3, 3), p=(1, 1, 1, 1), ceil=True),
]


@pytest.mark.parametrize("case", CASES)
def test_max_pool2d(case):
    x = rand(2, 3, 9, 8)
    p, d = case.get("p", (0, 0, 0, 0)), case.get("d", (1, 1))
    got = run_op("nn.max_pool2d", x, pool_size=case["k"], strides=case["s"], padding=p,
                 dilation=d, ceil_mode=case.get("ceil", False))
    (want,) = ort_run("MaxPool", [x], kernel_shape=list(case["k"]), strides=list(case["s"]),
                      pads=list(p), dilations=list(d), ceil_mode=int(case.get("ceil", False)))
    check(got, want)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("include", [False, True])
def test_avg_pool2d(case, include):
    x = rand(1, 2, 9, 7)
    p, d = case.get("p", (0, 0, 0, 0)), case.get("d", (1, 1))
    got = run_op("nn.avg_pool2d", x, pool_size=case["k"], strides=case["s"], padding=p,
                 dilation=d, ceil_mode=case.get("ceil", False), count_include_pad=include)
    (want,) = ort_run("AveragePool", [x], kernel_shape=list(case["k"]), strides=list(case["s"]),
                      pads=list(p), dilations=list(d), ceil_mode=int(case.get("ceil", False)),
                      count_include_pad=int(include), opset=19)
    check(got, want)


def test_pool_1d_3d_and_int():
    x = rand(1, 2, 11)
    (want,) = ort_run("MaxPool", [x], kernel_shape=[3], strides=[2], pads=[1, 1])
    check(run_op("nn.max_pool1d", x, pool_size=3, strides=2, padding=(1, 1)), want)
    (want,) = ort_run("AveragePool", [x], kernel_shape=[4], strides=[3])
    check(run_op("nn.avg_pool1d", x, pool_size=4, strides=3), want)
    x = rand(1, 1, 4, 5, 6)
    (want,) = ort_run("MaxPool", [x], kernel_shape=[2, 2, 3], strides=[1, 2, 2])
    check(run_op("nn.max_pool3d", x, pool_size=(2, 2, 3), strides=(1, 2, 2)), want)
    (want,) = ort_run("AveragePool", [x], kernel_shape=[2, 3, 2], pads=[1, 1, 0, 0, 1, 1])
    check(run_op("nn.avg_pool3d", x, pool_size=(2, 3, 2), padding=(1, 1, 0, 0, 1, 1)), want)
    xi = rand(1, 2, 5, 5, dtype="int32", lo=-50, hi=50)
    want = xi.reshape(1, 2, 5, 5)[:, :, :4, :4].reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))
    check(run_op("nn.max_pool2d", xi, pool_size=2, strides=2), want)


def test_max_pool_all_negative_window_with_padding():
    x = -np.abs(rand(1, 1, 3, 3)) - 1
    got = run_op("nn.max_pool2d", x, pool_size=(3, 3), strides=(1, 1), padding=(2, 2, 2, 2))
    (want,) = ort_run("MaxPool", [x], kernel_shape=[3, 3], pads=[2, 2, 2, 2])
    check(got, want)


def test_global_pools():
    x = rand(2, 3, 5, 7)
    check(run_op("nn.global_avg_pool2d", x), x.mean(axis=(2, 3), keepdims=True), 1e-5, 1e-6)
    check(run_op("nn.global_max_pool2d", x), x.max(axis=(2, 3), keepdims=True))
    x3 = rand(1, 2, 3)
    check(run_op("nn.global_avg_pool2d", x3), x3.mean(axis=2, keepdims=True), 1e-5, 1e-6)
    h = rand(1, 4, 3, 3, dtype="float16")
    check(run_op("nn.global_avg_pool2d", h),
          h.astype(np.float32).mean(axis=(2, 3), keepdims=True).astype(np.float16))


def test_pool_window_too_large():
    with pytest.raises(ValueError, match="window"):
        run_op("nn.max_pool2d", rand(1, 1, 2, 2), pool_size=(3, 3))


CASES_3D = [
    dict(k=(2, 3, 2), s=(1, 2, 2)),
    dict(k=(3, 2, 3), s=(2, 1, 3), p=(1, 0, 1, 1, 1, 0), ceil=True),
    dict(k=(2, 2, 2), s=(2, 2, 1), p=(0, 1, 1, 1, 0, 1), d=(2, 1, 3)),
    dict(k=(3, 3, 2), s=(3, 2, 2), d=(1, 2, 2), ceil=True),
]


@pytest.mark.parametrize("case", CASES_3D)
@pytest.mark.parametrize("include", [False, True])
def test_pool3d_dilation_ceil_count_include_pad(case, include):
    x = rand(1, 2, 7, 6, 11)  # prime / odd extents: windows overhang under ceil_mode
    p, d = case.get("p", (0,) * 6), case.get("d", (1, 1, 1))
    attrs = dict(pool_size=case["k"], strides=case["s"], padding=p, dilation=d,
                 ceil_mode=case.get("ceil", False))
    onnx_attrs = dict(kernel_shape=list(case["k"]), strides=list(case["s"]), pads=list(p),
                      dilations=list(d), ceil_mode=int(case.get("ceil", False)))
    if not include:
        (want,) = ort_run("MaxPool", [x], **onnx_attrs)
        check(run_op("nn.max_pool3d", x, **attrs), want)
    (want,) = ort_run("AveragePool", [x], count_include_pad=int(include), opset=19,
                      **onnx_attrs)
    check(run_op("nn.avg_pool3d", x, count_include_pad=include, **attrs), want)


def _ref_max_pool_indices(x, k, s, p, d, ceil, order):
    """Direct numpy loops: ONNX MaxPool's (Y, Indices) for NC + spatial data."""
    nd = x.ndim - 2
    sp = x.shape[2:]
    osz = []
    for j in range(nd):
        span = sp[j] + p[j] + p[nd + j] - d[j] * (k[j] - 1) - 1
        o = (-(-span // s[j]) if ceil else span // s[j]) + 1
        if ceil and (o - 1) * s[j] >= sp[j] + p[j]:
            o -= 1
        osz.append(o)
    y = np.zeros(x.shape[:2] + tuple(osz), x.dtype)
    ind = np.zeros(y.shape, np.int64)
    for n, c, *o in np.ndindex(*y.shape):
        best, pos = None, None
        for r in np.ndindex(*k):
            q = [o[j] * s[j] + r[j] * d[j] - p[j] for j in range(nd)]
            if any(q[j] < 0 or q[j] >= sp[j] for j in range(nd)):
                continue
            v = x[(n, c, *q)]
            if best is None or v > best:
                best, pos = v, q
        y[(n, c, *o)] = best
        flat = np.ravel_multi_index(pos, sp, order="C" if order == 0 else "F")
        ind[(n, c, *o)] = (n * x.shape[1] + c) * int(np.prod(sp)) + flat
    return y, ind


@pytest.mark.parametrize("case", [
    dict(shape=(2, 3, 7, 5), k=(3, 2), s=(2, 1), p=(1, 0, 1, 1)),
    dict(shape=(1, 2, 6, 9), k=(2, 3), s=(2, 3), p=(0, 0, 0, 0), d=(2, 1), ceil=True),
    dict(shape=(1, 1, 5, 4, 3), k=(2, 2, 2), s=(2, 1, 2), p=(1, 0, 1, 0, 1, 1)),
    dict(shape=(2, 2, 11), k=(3,), s=(2,), p=(1, 2)),
])
@pytest.mark.parametrize("order", [0, 1])
def test_max_pool_with_indices(case, order):
    nd = len(case["k"])
    x = rand(*case["shape"])
    x[..., 0] = x[..., 1]  # ties: the first maximum in the scan wins
    p, d = case["p"], case.get("d", (1,) * nd)
    y, ind = run_op(f"nn.max_pool{nd}d_with_indices", x, pool_size=case["k"],
                    strides=case["s"], padding=p, dilation=d,
                    ceil_mode=case.get("ceil", False), storage_order=order)
    wy, wi = _ref_max_pool_indices(x, case["k"], case["s"], p, d, case.get("ceil", False),
                                   order)
    check(y, wy)
    check(ind, wi)
    if nd == 2 and not case.get("ceil"):
        (oy, oi) = ort_run("MaxPool", [x], n_outputs=2, kernel_shape=list(case["k"]),
                           strides=list(case["s"]), pads=list(p), dilations=list(d),
                           storage_order=order)
        check(ind, oi)


def test_max_pool_with_indices_int_and_all_equal():
    x = np.full((1, 2, 4, 4), 7, np.int32)
    y, ind = run_op("nn.max_pool2d_with_indices", x, pool_size=(2, 2), strides=(2, 2),
                    padding=(1, 1, 1, 1))
    wy, wi = _ref_max_pool_indices(x, (2, 2), (2, 2), (1, 1, 1, 1), (1, 1), False, 0)
    check(y, wy)
    check(ind, wi)

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

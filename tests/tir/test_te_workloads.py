"""tir.testing workloads: each PrimFunc, run by the reference interpreter, matches numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from onnxtune.tir import testing


@pytest.mark.parametrize("name", sorted(testing.WORKLOADS))
def test_default_workloads(name):
    func, ref = testing.WORKLOADS[name]()
    testing.check_workload(func, ref, seed=3)


EDGE_CASES = {
    "matmul_1x1x1": lambda: testing.matmul(1, 1, 1),
    "matmul_primes": lambda: testing.matmul(7, 1, 13),
    "matmul_int32": lambda: testing.matmul(3, 2, 5, dtype="int32"),
    "matmul_fp16_acc_fp32": lambda: testing.matmul(2, 3, 7, dtype="float16",
                                                   out_dtype="float32"),
    "batch_matmul_1": lambda: testing.batch_matmul(1, 1, 3, 2),
    "dense_no_bias": lambda: testing.dense(2, 3, 5, bias=False),
    "add_scalar_like": lambda: testing.add((1,), (2, 3, 1)),
    "multiply_int32": lambda: testing.multiply((3, 1), (1, 5), dtype="int32"),
    "relu_int8": lambda: testing.relu(11, dtype="int8"),
    "transpose_4d": lambda: testing.transpose((1, 2, 3, 5), (0, 2, 3, 1)),
    "transpose_default": lambda: testing.transpose((3, 2)),
    "reshape_ones": lambda: testing.reshape((1, 6, 1, 5), (3, -1, 1)),
    "reshape_flatten": lambda: testing.reshape((2, 3, 1), (6,)),
    "softmax_1d": lambda: testing.softmax(5),
    "softmax_3d": lambda: testing.softmax(2, 1, 3),
    "layer_norm_3d": lambda: testing.layer_norm(1, 2, 5, eps=1e-3),
    "conv2d_1x1": lambda: testing.conv2d_nchw(2, 3, 3, 5, 1, 1, 1),
    "conv2d_no_pad_rect": lambda: testing.conv2d_nchw(1, 1, 5, 7, 2, 2, 3, stride=(1, 2)),
    "conv2d_all_options": lambda: testing.conv2d_nchw(1, 4, 7, 5, 2, 2, 3, stride=(2, 1),
                                                      padding=(0, 2, 1, 1), dilation=(1, 2),
                                                      groups=2),
    "depthwise_strided": lambda: testing.depthwise_conv2d_nchw(1, 3, 5, 5, 3, 3, stride=2,
                                                               padding=1),
    "conv2d_bias_relu_grouped": lambda: testing.conv2d_bias_relu(1, 2, 4, 3, 2, 1, 2,
                                                                 padding=(0, 1), groups=2),
    "max_pool_no_pad": lambda: testing.max_pool2d(1, 1, 5, 4, kernel=2, stride=1),
    "max_pool_dilated": lambda: testing.max_pool2d(1, 2, 7, 7, kernel=2, stride=2, padding=1,
                                                   dilation=2),
    "max_pool_int8": lambda: testing.max_pool2d(1, 2, 5, 5, kernel=3, stride=2, padding=1,
                                                dtype="int8"),
    "avg_pool_asym_pad": lambda: testing.avg_pool2d(1, 1, 5, 3, kernel=(3, 2), stride=(2, 1),
                                                    padding=(1, 0, 2, 1),
                                                    count_include_pad=False),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_shapes(name):
    func, ref = EDGE_CASES[name]()
    testing.check_workload(func, ref, seed=5)


def _naive_conv(x, w, stride, pads, dil, groups):
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    pt, pl, pb, pr = pads
    oh = (h + pt + pb - dil[0] * (r - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (s - 1) - 1) // stride[1] + 1
    out = np.zeros((n, k, oh, ow))
    kg = k // groups
    for b, f, y, z, rc, ry, rx in itertools.product(range(n), range(k), range(oh), range(ow),
                                                    range(cg), range(r), range(s)):
        iy, ix = y * stride[0] + ry * dil[0] - pt, z * stride[1] + rx * dil[1] - pl
        if 0 <= iy < h and 0 <= ix < wd:
            out[b, f, y, z] += x[b, (f // kg) * cg + rc, iy, ix] * w[f, rc, ry, rx]
    return out


def test_conv2d_reference_against_naive_loops():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 7))
    w = rng.standard_normal((6, 2, 3, 2))
    for stride, pads, dil in [((1, 1), (1, 1, 1, 1), (1, 1)), ((2, 1), (0, 2, 1, 0), (2, 1))]:
        got = testing.conv2d_ref(x, w, stride, pads, dil, groups=2)
        np.testing.assert_allclose(got, _naive_conv(x, w, stride, pads, dil, 2), rtol=1e-12)


def test_make_args_fills_outputs_with_garbage():
    func, _ = testing.matmul(2, 3, 4, dtype="int8", out_dtype="int32")
    a, b, c = testing.make_args(func, seed=1)
    assert a.dtype == np.int8 and b.shape == (4, 3) and np.abs(a).max() <= 8
    assert (c == np.iinfo(np.int32).min + 3).all()
    f32, _ = testing.relu(3)
    x, y = testing.make_args(f32)
    assert np.isnan(y).all() and not np.isnan(x).any()


def test_check_workload_detects_a_wrong_result():
    func, ref = testing.relu(4)
    with pytest.raises(AssertionError, match="T_relu differs from the numpy reference"):
        testing.check_workload(func, lambda x: ref(x) + 1)


def test_workload_argument_errors():
    with pytest.raises(ValueError, match="groups=2"):
        testing.conv2d_nchw(1, 3, 5, 5, 4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        testing.max_pool2d(1, 1, 2, 2, kernel=3)
    with pytest.raises(ValueError, match="not a permutation"):
        testing.transpose((2, 3), (0, 0))

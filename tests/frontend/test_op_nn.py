"""frontend.op: convolutions, matmul, normalizations and softmax vs onnxruntime / numpy."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import check, ort_run, rand, run_op

TOL = dict(rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "case",
    [
        dict(d=(1, 3, 7, 7), w=(4, 3, 3, 3), strides=(1, 1), padding=(1, 1, 1, 1)),
        dict(d=(2, 4, 9, 8), w=(6, 2, 3, 2), strides=(2, 1), padding=(0, 1, 2, 1), groups=2),
        dict(d=(1, 4, 11, 11), w=(4, 1, 3, 3), strides=(2, 2), padding=(1, 1, 1, 1),
             groups=4, dilation=(2, 2)),
        dict(d=(1, 5, 5, 5), w=(3, 5, 1, 1)),
        dict(d=(1, 2, 1, 13), w=(3, 2, 1, 5), strides=(1, 3)),
    ],
)
def test_conv2d(case):
    d, w = rand(*case["d"]), rand(*case["w"])
    st, pad = case.get("strides", (1, 1)), case.get("padding", (0, 0, 0, 0))
    dil, g = case.get("dilation", (1, 1)), case.get("groups", 1)
    got = run_op("nn.conv2d", d, w, strides=st, padding=pad, dilation=dil, groups=g)
    (want,) = ort_run("Conv", [d, w], strides=list(st), pads=list(pad), dilations=list(dil),
                      group=g)
    check(got, want, **TOL)


def test_conv1d_and_conv3d():
    d, w = rand(2, 3, 17), rand(4, 3, 3)
    got = run_op("nn.conv1d", d, w, strides=2, padding=(1, 2), dilation=2)
    (want,) = ort_run("Conv", [d, w], strides=[2], pads=[1, 2], dilations=[2])
    check(got, want, **TOL)
    d, w = rand(1, 2, 5, 6, 4), rand(3, 2, 3, 3, 2)
    got = run_op("nn.conv3d", d, w, strides=(1, 2, 1), padding=(1, 1, 0, 1, 0, 1))
    (want,) = ort_run("Conv", [d, w], strides=[1, 2, 1], pads=[1, 1, 0, 1, 0, 1])
    check(got, want, **TOL)


def test_conv2d_is_one_reduction_over_a_padded_input():
    from op_helpers import build_op

    func, _ = build_op("nn.conv2d", rand(1, 3, 7, 7), rand(4, 3, 3, 3), padding=(1, 1, 1, 1))
    from onnxtune.tir import Schedule

    sch = Schedule(func)
    names = [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))]
    assert names == ["pad_temp", "conv2d"]
    conv = sch.get(sch.get_sblock("conv2d"))
    assert conv.init is not None
    assert [int(v.iter_type) for v in conv.iter_vars] == [0] * 4 + [2] * 3


def test_conv_rejects_bad_channels():
    with pytest.raises(ValueError, match="groups=2"):
        run_op("nn.conv2d", rand(1, 3, 5, 5), rand(4, 3, 3, 3), groups=2)


@pytest.mark.parametrize(
    "case",
    [
        dict(d=(1, 3, 5, 5), w=(3, 2, 3, 3), strides=(2, 2), padding=(1, 1, 1, 1)),
        dict(d=(1, 4, 4, 3), w=(4, 1, 3, 2), strides=(2, 3), padding=(0, 1, 1, 0),
             output_padding=(1, 2), groups=2),
        dict(d=(2, 2, 3, 3), w=(2, 3, 2, 2), dilation=(2, 1)),
    ],
)
def test_conv2d_transpose(case):
    d, w = rand(*case["d"]), rand(*case["w"])
    st, pad = case.get("strides", (1, 1)), case.get("padding", (0, 0, 0, 0))
    op_, dil, g = case.get("output_padding", (0, 0)), case.get("dilation", (1, 1)), case.get(
        "groups", 1)
    got = run_op("nn.conv2d_transpose", d, w, strides=st, padding=pad, output_padding=op_,
                 dilation=dil, groups=g)
    (want,) = ort_run("ConvTranspose", [d, w], strides=list(st), pads=list(pad),
                      output_padding=list(op_), dilations=list(dil), group=g)
    check(got, want, **TOL)


@pytest.mark.parametrize(
    "case",
    [
        dict(d=(1, 2, 3, 4, 5), w=(2, 3, 2, 3, 2), strides=(1, 2, 3), padding=(0, 1, 1, 1, 0, 1)),
        dict(d=(2, 4, 2, 3, 1), w=(4, 1, 3, 2, 2), strides=(2, 1, 2), output_padding=(1, 0, 1),
             dilation=(1, 2, 1), groups=2),
    ],
)
def test_conv3d_transpose(case):
    d, w = rand(*case["d"]), rand(*case["w"])
    st, pad = case.get("strides", (1, 1, 1)), case.get("padding", (0,) * 6)
    op_, dil, g = (case.get("output_padding", (0, 0, 0)), case.get("dilation", (1, 1, 1)),
                   case.get("groups", 1))
    got = run_op("nn.conv3d_transpose", d, w, strides=st, padding=pad, output_padding=op_,
                 dilation=dil, groups=g)
    (want,) = ort_run("ConvTranspose", [d, w], strides=list(st), pads=list(pad),
                      output_padding=list(op_), dilations=list(dil), group=g)
    check(got, want, **TOL)


def test_conv1d_transpose():
    d, w = rand(1, 2, 7), rand(2, 3, 4)
    got = run_op("nn.conv1d_transpose", d, w, strides=3, padding=(1, 2))
    (want,) = ort_run("ConvTranspose", [d, w], strides=[3], pads=[1, 2])
    check(got, want, **TOL)


@pytest.mark.parametrize(
    "sa,sb",
    [((5, 7), (7, 3)), ((7,), (7, 3)), ((5, 7), (7,)), ((7,), (7,)),
     ((2, 1, 3, 4), (5, 4, 2)), ((1, 13), (13, 1)), ((3, 2, 5), (5, 4))],
)
def test_matmul_numpy_semantics(sa, sb):
    a, b = rand(*sa), rand(*sb)
    check(run_op("matmul", a, b), np.matmul(a, b), **TOL)


def test_matmul_int_and_fp16_and_dense():
    a, b = rand(3, 4, dtype="int32"), rand(4, 5, dtype="int32")
    check(run_op("matmul", a, b), a @ b)
    a, b = rand(2, 8, dtype="int64"), rand(8, dtype="int64")
    check(run_op("matmul", a, b), a @ b)
    a, b = rand(3, 8, dtype="float16", lo=-1, hi=1), rand(8, 2, dtype="float16", lo=-1, hi=1)
    check(run_op("matmul", a, b), (a.astype(np.float32) @ b.astype(np.float32)).astype(
        np.float16))
    x, w = rand(2, 3, 6), rand(5, 6)
    check(run_op("nn.dense", x, w), x @ w.T, **TOL)
    with pytest.raises(ValueError, match="inner dimensions"):
        run_op("matmul", rand(3, 4), rand(5, 2))


def test_batch_norm():
    x = rand(2, 3, 4, 5)
    g, b, m = rand(3), rand(3), rand(3)
    v = rand(3, lo=0.1, hi=2)
    got = run_op("nn.batch_norm", x, g, b, m, v, epsilon=1e-3)
    (want,) = ort_run("BatchNormalization", [x, g, b, m, v], epsilon=1e-3, opset=15)
    check(got, want, **TOL)
    xl = rand(4, 3)
    got = run_op("nn.batch_norm", xl, g, b, m, v, axis=-1)
    check(got, ((xl - m) / np.sqrt(v + 1e-5) * g + b).astype(np.float32), **TOL)


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_norm(axis):
    x = rand(2, 3, 7)
    norm = x.shape[axis % 3:]
    g, b = rand(*norm), rand(*norm)
    got = run_op("nn.layer_norm", x, g, b, axes=tuple(range(axis % 3, 3)), epsilon=1e-5)
    (want,) = ort_run("LayerNormalization", [x, g, b], axis=axis, epsilon=1e-5, opset=17)
    check(got, want, **TOL)
    got = run_op("nn.layer_norm", x, g, None, axes=tuple(range(axis % 3, 3)))
    (want,) = ort_run("LayerNormalization", [x, g], axis=axis, opset=17)
    check(got, want, **TOL)


def test_instance_norm_and_lrn():
    x = rand(2, 3, 5, 4)
    g, b = rand(3), rand(3)
    (want,) = ort_run("InstanceNormalization", [x, g, b], epsilon=1e-4)
    check(run_op("nn.instance_norm", x, g, b, epsilon=1e-4), want, **TOL)
    x = rand(1, 6, 3, 2)
    for size in (3, 5, 1):
        (want,) = ort_run("LRN", [x], size=size, alpha=1e-3, beta=0.6, bias=2.0)
        check(run_op("nn.lrn", x, size=size, alpha=1e-3, beta=0.6, bias=2.0), want, **TOL)
    # an even size (onnxruntime refuses it): the ONNX formula in numpy
    sq = np.zeros_like(x)
    for c in range(6):
        sq[:, c] = (x[:, max(0, c - 1):min(6, c + 3)] ** 2).sum(1)
    want = x / (2.0 + 1e-3 / 4 * sq) ** 0.6
    check(run_op("nn.lrn", x, size=4, alpha=1e-3, beta=0.6, bias=2.0), want, **TOL)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_log_softmax(axis):
    x = rand(3, 7, 2, lo=-5, hi=5)
    (want,) = ort_run("Softmax", [x], axis=axis, opset=13)
    check(run_op("nn.softmax", x, axis=axis), want, **TOL)
    (want,) = ort_run("LogSoftmax", [x], axis=axis, opset=13)
    check(run_op("nn.log_softmax", x, axis=axis), want, **TOL)


def test_softmax_float16():
    x = rand(2, 9, dtype="float16")
    want = np.exp(x.astype(np.float64))
    want = (want / want.sum(-1, keepdims=True)).astype(np.float16)
    check(run_op("nn.softmax", x), want)


def test_layer_norm_stats_outputs():
    x = rand(2, 3, 5)
    g, b = rand(3, 5), rand(3, 5)
    y, mean, inv_std = run_op("nn.layer_norm", x, g, b, axes=(1, 2), return_stats=True)
    want = ort_run("LayerNormalization", [x, g, b], n_outputs=3, axis=1, opset=17)
    for got, w in zip((y, mean, inv_std), want, strict=True):
        check(got, w, **TOL)


def test_conv2d_float16_and_out_dtype():
    d, w = rand(1, 3, 6, 6, dtype="float16", lo=-1, hi=1), rand(4, 3, 3, 3, dtype="float16",
                                                               lo=-1, hi=1)
    (want,) = ort_run("Conv", [d.astype(np.float32), w.astype(np.float32)], pads=[1, 1, 1, 1])
    check(run_op("nn.conv2d", d, w, padding=(1, 1, 1, 1)), want.astype(np.float16))
    check(run_op("nn.conv2d", d, w, padding=(1, 1, 1, 1), out_dtype="float32"), want, **TOL)

"""frontend.op: reshape, transpose, concat, split, slicing, gathers, tile and pad."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import check, ort_run, rand, run_op


def test_reshape_transpose():
    x = rand(2, 3, 5)
    check(run_op("reshape", x, newshape=(5, 6)), x.reshape(5, 6))
    check(run_op("reshape", x, newshape=(30,)), x.reshape(30))
    check(run_op("reshape", x, newshape=(1, 2, 15, 1)), x.reshape(1, 2, 15, 1))
    s = rand(1, 1)
    check(run_op("reshape", s, newshape=()), s.reshape(()))
    check(run_op("reshape", s.reshape(()), newshape=(1,)), s.reshape(1))
    with pytest.raises(ValueError, match=r"cannot reshape \(2, 3, 5\)"):
        run_op("reshape", x, newshape=(4, 8))
    check(run_op("transpose", x), x.T)
    check(run_op("transpose", x, axes=(1, -1, 0)), x.transpose(1, 2, 0))
    b = rand(2, 3, dtype="bool")
    check(run_op("transpose", b), b.T)
    with pytest.raises(ValueError, match="permutation"):
        run_op("transpose", x, axes=(0, 0, 1))


def test_concat_split():
    a, b, c = rand(2, 3, 4), rand(2, 1, 4), rand(2, 5, 4)
    check(run_op("concat", a, b, c, axis=1), np.concatenate([a, b, c], axis=1))
    check(run_op("concat", a, a, axis=-1), np.concatenate([a, a], axis=-1))
    i, j = rand(3, dtype="int64"), rand(2, dtype="int64")
    check(run_op("concat", i, j), np.concatenate([i, j]))
    check(run_op("concat", a), a)
    with pytest.raises(ValueError, match="differ outside axis"):
        run_op("concat", a, c, axis=0)
    x = rand(6, 7)
    for got, want in zip(run_op("split", x, indices_or_sections=3, axis=0),
                         np.split(x, 3, axis=0), strict=True):
        check(got, want)
    for got, want in zip(run_op("split", x, indices_or_sections=(2, 3, 6), axis=-1),
                         np.split(x, [2, 3, 6], axis=-1), strict=True):
        check(got, want)


@pytest.mark.parametrize(
    "starts,ends,axes,steps",
    [
        ([1], [4], [1], [1]),
        ([0, -3], [2, 1000], [0, 2], [1, 1]),
        ([-1], [-1000], [1], [-1]),
        ([4, 5], [0, 0], [1, 2], [-2, -3]),
        ([10], [20], [0], [1]),
        ([0, 1], [3, 5], [-1, -2], [2, 2]),
    ],
)
def test_strided_slice_onnx_semantics(starts, ends, axes, steps):
    x = rand(3, 6, 7)
    a = np.array
    (want,) = ort_run("Slice", [x, a(starts, np.int64), a(ends, np.int64), a(axes, np.int64),
                                a(steps, np.int64)], opset=13)
    got = run_op("strided_slice", x, begin=starts, end=ends, axes=axes, strides=steps)
    check(got, want)


def test_take_gather_elements():
    x = rand(4, 5, 3)
    idx = np.array([[0, -1], [3, 2]], np.int64)
    (want,) = ort_run("Gather", [x, idx], axis=1)
    check(run_op("take", x, idx, axis=1), want)
    idx32 = np.array([3, -4, 0], np.int32)
    check(run_op("take", x, idx32, axis=0), x[[3, 0, 0]])
    check(run_op("take", x, np.array(2, np.int64), axis=-1), x[:, :, 2])
    ie = rand(4, 2, 3, dtype="int64", lo=-5, hi=4)
    (want,) = ort_run("GatherElements", [x, ie], axis=1)
    check(run_op("gather_elements", x, ie, axis=1), want)


def test_tile():
    x = rand(2, 3)
    check(run_op("tile", x, reps=(3, 2)), np.tile(x, (3, 2)))
    check(run_op("tile", x, reps=(2, 1, 1)), np.tile(x, (2, 1, 1)))
    i = rand(3, dtype="int32")
    check(run_op("tile", i, reps=(4,)), np.tile(i, 4))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_modes(mode):
    x = rand(3, 4, 5)
    pw = ((0, 0), (2, 1), (1, 3))
    kw = {"constant_values": 1.5} if mode == "constant" else {}
    want = np.pad(x, pw, mode=mode, **kw)
    got = run_op("nn.pad", x, pad_width=pw, pad_value=1.5, mode=mode)
    check(got, want)


def test_pad_wrap():
    # pads larger than the dim wrap around more than once; a size-1 dim repeats its value
    x = rand(3, 1, 5)
    for pw in (((0, 0), (2, 1), (1, 3)), ((4, 7), (0, 3), (6, 0)), ((1, 1), (1, 1), (5, 5))):
        check(run_op("nn.pad", x, pad_width=pw, mode="wrap"), np.pad(x, pw, mode="wrap"))
    xi = rand(7, dtype="int64")
    check(run_op("nn.pad", xi, pad_width=((3, 11),), mode="wrap"),
          np.pad(xi, (3, 11), mode="wrap"))
    # a crop on one side and a wrap on the other: ONNX crops first, then wraps the rest
    got = run_op("nn.pad", x, pad_width=((0, 0), (0, 0), (-2, 3)), mode="wrap")
    check(got, np.pad(x[:, :, 2:], ((0, 0), (0, 0), (0, 3)), mode="wrap"))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_pad_crop_one_side_pad_the_other(mode):
    # onnxruntime crops first, then pads from what is left
    x = rand(5, 6)
    for pads in ([-1, 2, 1, -1], [2, -3, -1, 2], [0, -2, 0, 3]):
        (want,) = ort_run("Pad", [x, np.array(pads, np.int64)], opset=19, mode=mode)
        got = run_op("nn.pad", x, pad_width=((pads[0], pads[2]), (pads[1], pads[3])),
                     mode=mode)
        check(got, want)


def test_pad_negative_crops_and_int():
    x = rand(4, 6)
    pads = np.array([1, -2, -1, 2], np.int64)
    (want,) = ort_run("Pad", [x, pads])
    check(run_op("nn.pad", x, pad_width=((1, -1), (-2, 2))), want)
    xi = rand(3, 3, dtype="int64")
    check(run_op("nn.pad", xi, pad_width=((1, 1), (0, 2)), pad_value=7),
          np.pad(xi, ((1, 1), (0, 2)), constant_values=7))


def test_tile_large_reps_llvm_vectorizer():
    """LLVM 22's vectorizer miscompiled this modular index pattern (dropped `j % 4`) until
    the engine turned interleaved-access vectorization off."""
    x = rand(3, 4, 5)
    check(run_op("tile", x, reps=(6, 4, 2)), np.tile(x, (6, 4, 2)))

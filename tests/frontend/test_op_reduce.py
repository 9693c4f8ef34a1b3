"""frontend.op: sum / mean / max / min / prod and argmax / argmin vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import build_op, check, rand, run_op

NP = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}


@pytest.mark.parametrize("name", sorted(NP))
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), ((0, -1), False),
                                           (-2, False), ((0, 1, 2), True)])
def test_reduce_float(name, axis, keepdims):
    x = rand(3, 5, 2, lo=0.5 if name == "prod" else -3, hi=1.5 if name == "prod" else 3)
    want = NP[name](x, axis=axis, keepdims=keepdims).astype(np.float32)
    check(run_op(name, x, axis=axis, keepdims=keepdims), want, 1e-5, 1e-5)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_reduce_int(dtype):
    x = rand(4, 7, dtype=dtype, lo=-9, hi=9)
    check(run_op("sum", x, axis=1), x.sum(axis=1).astype(dtype))
    check(run_op("max", x, axis=0, keepdims=True), x.max(axis=0, keepdims=True))
    check(run_op("min", x, axis=-1), x.min(axis=-1))
    y = np.ascontiguousarray(x[:, :3])
    check(run_op("prod", y, axis=1), y.prod(axis=1).astype(dtype))


def test_reduce_float16_and_prime_extent():
    x = rand(2, 13, dtype="float16", lo=-1, hi=1)
    check(run_op("sum", x, axis=1), x.astype(np.float32).sum(axis=1).astype(np.float16))
    check(run_op("max", x, axis=1), x.max(axis=1))
    y = rand(1, 31)
    check(run_op("mean", y, axis=1, keepdims=True), y.mean(axis=1, keepdims=True), 1e-5, 1e-6)


def test_reduction_is_one_block_with_init():
    func, _ = build_op("sum", rand(3, 4, 5), axis=(0, 2))
    from onnxtune.tir import Schedule

    sch = Schedule(func)
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    assert len(blocks) == 1
    blk = sch.get(blocks[0])
    assert blk.init is not None
    assert sorted(int(v.iter_type) for v in blk.iter_vars) == [0, 2, 2]


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis,keepdims", [(0, True), (1, False), (-1, True)])
@pytest.mark.parametrize("last", [False, True])
def test_arg_reduce(name, axis, keepdims, last):
    x = rand(4, 6, dtype="int32", lo=0, hi=3).astype(np.float32)  # many ties
    f = np.argmax if name == "argmax" else np.argmin
    if last:
        flipped = np.flip(x, axis=axis)
        want = x.shape[axis] - 1 - f(flipped, axis=axis)
    else:
        want = f(x, axis=axis)
    if keepdims:
        want = np.expand_dims(want, axis)
    got = run_op(name, x, axis=axis, keepdims=keepdims, select_last_index=last)
    check(got, want.astype(np.int64))


def test_arg_reduce_int64_input():
    x = rand(3, 5, dtype="int64", lo=-100, hi=100)
    check(run_op("argmax", x, axis=1, keepdims=False), np.argmax(x, axis=1))


def test_reduce_bad_axis():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        run_op("sum", rand(2, 3), axis=3)


def test_reduce_over_an_empty_axis_gives_the_identity():
    x = np.zeros((2, 0, 3), np.float32)
    check(run_op("sum", x, axis=1, keepdims=True), np.zeros((2, 1, 3), np.float32))
    check(run_op("prod", x, axis=1), np.ones((2, 3), np.float32))
    check(run_op("max", x, axis=1), np.full((2, 3), -np.inf, np.float32))
    check(run_op("min", x, axis=1), np.full((2, 3), np.inf, np.float32))
    assert np.isnan(run_op("mean", x, axis=1)).all()
    check(run_op("sum", x, axis=2), np.zeros((2, 0), np.float32))
    xi = np.zeros((0, 3), np.int32)
    check(run_op("max", xi, axis=0), np.full(3, np.iinfo(np.int32).min, np.int32))

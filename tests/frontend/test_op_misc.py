"""frontend.op: topk, einsum and cumsum vs onnxruntime / numpy."""

from __future__ import annotations

import numpy as np
import pytest
from op_helpers import check, ort_run, rand, run_op


@pytest.mark.parametrize("axis,k,largest", [(-1, 3, True), (0, 2, False), (1, 5, True),
                                            (1, 1, False)])
def test_topk_vs_onnxruntime(axis, k, largest):
    x = rand(4, 5, dtype="int32", lo=0, hi=4).astype(np.float32)  # ties: smaller index first
    vals, idx = run_op("topk", x, k=k, axis=axis, largest=largest)
    want_v, want_i = ort_run("TopK", [x, np.array([k], np.int64)], n_outputs=2, axis=axis,
                             largest=int(largest), sorted=1)
    check(vals, want_v)
    check(idx, want_i)


def test_topk_int64_and_bad_k():
    x = rand(2, 7, dtype="int64", lo=-50, hi=50)
    vals, idx = run_op("topk", x, k=4)
    order = np.argsort(-x, axis=1, kind="stable")[:, :4]
    check(idx, order.astype(np.int64))
    check(vals, np.take_along_axis(x, order, 1))
    with pytest.raises(ValueError, match="k=9"):
        run_op("topk", x, k=9)


@pytest.mark.parametrize(
    "subscripts,shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ij->ji", [(3, 4)]),
        ("ij->", [(3, 4)]),
        ("ii->i", [(4, 4)]),
        ("i,i", [(5,), (5,)]),
        ("i,j->ij", [(3,), (4,)]),
        ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
        ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
        ("ij,jk", [(2, 3), (3, 2)]),
        ("->", [()]),
        (",ij->ij", [(), (2, 3)]),
    ],
)
def test_einsum(subscripts, shapes):
    xs = [rand(*s) for s in shapes]
    want = np.einsum(subscripts, *xs).astype(np.float32)
    check(run_op("einsum", *xs, subscripts=subscripts), want, 1e-5, 1e-5)


def test_einsum_errors():
    with pytest.raises(ValueError, match="einsum"):
        run_op("einsum", rand(3, 4), subscripts="ijk->i")


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(exclusive, reverse):
    x = rand(3, 5)
    (want,) = ort_run("CumSum", [x, np.array(1, np.int64)], exclusive=int(exclusive),
                      reverse=int(reverse), opset=14)
    check(run_op("cumsum", x, axis=1, exclusive=exclusive, reverse=reverse), want, 1e-5, 1e-5)


def test_cumsum_int_negative_axis():
    x = rand(4, 3, dtype="int64")
    check(run_op("cumsum", x, axis=-2), np.cumsum(x, axis=0))

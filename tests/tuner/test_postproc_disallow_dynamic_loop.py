"""Postproc DisallowDynamicLoop and the llvm postprocessor list."""

from __future__ import annotations

import pytest
from postproc_workloads import tiled_matmul

from onnxtune.tir import te
from onnxtune.tir.expr import Var
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.postproc.disallow_dynamic_loop import DisallowDynamicLoop
from onnxtune.tuner.postproc.rewrite_layout import RewriteLayout
from onnxtune.tuner.postproc.rewrite_parallel_vectorize_unroll import (
    RewriteParallelVectorizeUnroll,
)
from onnxtune.tuner.postproc.rewrite_reduction_block import RewriteReductionBlock
from onnxtune.tuner.postproc.verify_cpu import VerifyCPUCode


def test_create_llvm_is_tvm_order():
    kinds = [type(p) for p in Postproc.create("llvm")]
    assert kinds == [DisallowDynamicLoop, RewriteParallelVectorizeUnroll,
                     RewriteReductionBlock, RewriteLayout]
    for kind in ("cuda", "cuda-tensorcore", "hexagon"):
        with pytest.raises(NotImplementedError):
            Postproc.create(kind)
    with pytest.raises(ValueError, match="llvm"):
        Postproc.create("tpu")


def test_static_loops_pass():
    sch, _, _ = tiled_matmul()
    assert DisallowDynamicLoop().apply(sch)


def _dynamic():
    n = Var("n", "int32")
    a = te.placeholder((n, 4), name="A")
    b = te.compute((n, 4), lambda i, j: a[i, j] * 2, name="B")
    return te.create_prim_func([a, b])


def test_dynamic_loop_rejected():
    sch = Schedule(_dynamic())
    assert DisallowDynamicLoop().apply(sch) is False
    # the full llvm list stops at the first postprocessor that says no
    assert not all(p.apply(Schedule(_dynamic())) for p in Postproc.create("llvm"))


def test_verify_cpu_code():
    sch, _, _ = tiled_matmul(layout_free=True)
    for p in Postproc.create("llvm"):
        assert p.apply(sch)
    assert VerifyCPUCode().apply(sch)
    assert VerifyCPUCode().apply(Schedule(_dynamic())) is False

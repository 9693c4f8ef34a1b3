"""ONNX's own backend node tests, for the ops of issue 5, through the onnxtune backend.

The cases come from ``onnx.backend.test.case.node.collect_testcases`` (the onnx wheel
ships the generators, not the data files). A case is selected when every op in its graph
is one of :data:`ISSUE_OPS` (so the ``*_expanded`` function bodies of other ops count too
when they only use these ops). :data:`SKIPS` lists the cases that test something onnxtune
does not support, each with the reason; every other selected case must pass.
Slow (hundreds of small compiles): run with ``-m slow``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper
from onnx_backend_adapter import OnnxtuneBackend

ISSUE_OPS = frozenset("""
Add Sub Mul Div Pow Sqrt Exp Log Erf Tanh Sigmoid Relu LeakyRelu Elu Selu HardSigmoid
HardSwish Clip Neg Abs Reciprocal Floor Ceil Min Max Sum Mean Where Equal Less Greater Not
And Or Cast Identity Dropout Constant ConstantOfShape Shape Size Conv ConvTranspose
BatchNormalization InstanceNormalization LayerNormalization LRN MatMul Gemm MaxPool
AveragePool GlobalAveragePool GlobalMaxPool Flatten Reshape Transpose Concat Split Slice
Gather GatherElements Squeeze Unsqueeze Expand Tile Pad Resize ReduceMean ReduceSum
ReduceMax ReduceMin ReduceProd ArgMax Softmax LogSoftmax Gelu Einsum TopK
""".split())

#: case-name pattern → why onnxtune skips it
SKIPS: dict[str, str] = {
    r"^test_equal_string": "string tensors are not supported",
    r"^test_identity_(sequence|opt)$": "sequence / optional values are not supported",
    r"^test_training_dropout(_default)?(_mask)?$": "Dropout in training mode with ratio > 0: "
    "the mask is a random draw (numpy's generator in the reference), not reproducible",
}


def skip_reason(name: str) -> str | None:
    for pat, why in SKIPS.items():
        if re.search(pat, name):
            return why
    return None


_CASES: list | None = None


def selected_cases() -> list:
    """The node cases whose graphs only use ISSUE_OPS (collected once per process)."""
    global _CASES
    if _CASES is None:
        import warnings

        from onnx.backend.test.case.node import collect_testcases

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases = collect_testcases(None)
        _CASES = [c for c in cases
                  if (ops := {n.op_type for n in c.model.graph.node}) and ops <= ISSUE_OPS]
    return _CASES


def run_case(case) -> None:
    """Run one node case through the backend; AssertionError when an output differs."""
    for inputs, outputs in case.data_sets:
        outs = OnnxtuneBackend.prepare(case.model).run(inputs)
        assert len(outs) >= len(outputs)
        for o, r in zip(outs, outputs, strict=False):
            r = numpy_helper.to_array(r) if isinstance(r, TensorProto) else np.asarray(r)
            o = np.asarray(o)
            assert o.dtype == r.dtype, f"dtype {o.dtype}, expected {r.dtype}"
            np.testing.assert_allclose(o, r, rtol=case.rtol, atol=case.atol)


SHARDS = 12


@pytest.mark.slow
@pytest.mark.parametrize("shard", range(SHARDS))
def test_onnx_node_cases(shard):
    cases = [c for k, c in enumerate(selected_cases()) if k % SHARDS == shard]
    failures = []
    for case in cases:
        if skip_reason(case.name):
            continue
        try:
            run_case(case)
        except Exception as e:  # noqa: BLE001 - collect every failing case of the shard
            failures.append(f"{case.name}: {type(e).__name__}: {str(e)[:300]}")
    assert not failures, "\n".join(failures)


def test_skip_patterns_are_well_formed():
    for pat in SKIPS:
        re.compile(pat)
    assert skip_reason("test_equal_string")
    assert skip_reason("test_cast_FLOAT_to_BFLOAT16") is None
    assert skip_reason("test_add") is None

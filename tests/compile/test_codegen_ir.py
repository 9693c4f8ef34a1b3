"""The LLVM IR the code generator prints: calling convention, attributes, vector code,
loop metadata, and AVX-512 machine code for vectorized loops."""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import pytest
from codegen_helpers import block, elementwise, loop, matmul, root

from onnxtune import tir
from onnxtune.compile.codegen_llvm import codegen_llvm
from onnxtune.tir.transform import lower


def _ir(func, features: str = "") -> str:
    return codegen_llvm({"main": lower(func)}, features=features)


def test_calling_convention_and_noalias():
    text = _ir(matmul(4, 5, 6))
    assert re.search(r'define void @"main"\(ptr %"args"\)', text)
    compute = re.search(r'define internal void @"main\.compute"\((.*)\)', text).group(1)
    assert compute.count("noalias") == 3
    assert "dereferenceable(96)" in compute  # A: 4 x 6 float32
    assert "llvm.fmuladd.f32" in text


def test_vector_code_and_masks():
    fns = {"y": (lambda x: tir.exp(x) * 2.0 + x, "float32")}
    text = _ir(elementwise(fns, ["float32"], 37, 16))
    assert "<16 x float>" in text
    assert "llvm.masked.load.v16f32" in text and "llvm.masked.store.v16f32" in text
    assert "call float @\"expf\"" not in text  # the fast exp is inline IR


def test_unroll_metadata_is_a_distinct_self_reference():
    """pragma_unroll_explicit=0 leaves auto-unrolled loops to LLVM's full unroll."""
    m, n = 3, 8
    a = tir.decl_buffer((m, n), "float32", "A")
    i, j, vi, vj = tir.Var("i"), tir.Var("j"), tir.Var("vi"), tir.Var("vj")
    br = block("A", [(vi, m, False), (vj, n, False)], [i, j],
               tir.BufferStore(a, a[vi, vj] + 1.0, (vi, vj)))
    for explicit in (0, 1):
        ann = {"pragma_auto_unroll_max_step": 16, "pragma_unroll_explicit": explicit}
        text = _ir(tir.PrimFunc((a,), root(loop(i, m, loop(j, n, br), annotations=ann))))
        mt = re.search(r"!llvm\.loop (!\d+)", text)
        if explicit:
            assert mt is None  # the j loop was expanded in TIR
            continue
        node = mt.group(1)
        assert re.search(rf"^{node} = distinct !{{{node}, ", text, re.MULTILINE)
        assert "llvm.loop.unroll.full" in text


@pytest.mark.skipif("+avx512f" not in llvm.get_host_cpu_features().flatten(),
                    reason="the host has no AVX-512")
def test_vectorized_loop_uses_zmm():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features().flatten()
    fns = {"y": (lambda a, b: a * b + 1.0, "float32")}
    text = _ir(elementwise(fns, ["float32", "float32"], 64, 16), features)
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=features, opt=3)
    mod = llvm.parse_assembly(text)
    mod.verify()
    asm = tm.emit_assembly(mod)
    assert re.search(r"%zmm\d+", asm)


@pytest.mark.parametrize("n,dtype,padded", [(14, "float32", 16), (7, "float64", 8),
                                            (3, "int32", 4), (16, "float32", 0),
                                            (24, "float32", 0)])
def test_odd_lane_counts_become_masked_accesses_with_avx512(n, dtype, padded):
    """A 14-lane row (a 14-wide feature map) is one masked access of 16 lanes under
    AVX-512 (the two extra lanes off), not 8 + 4 + 2 pieces; a power of two, or a vector
    wider than a register (24 x 4 bytes), stays a plain load; results are exact."""
    import numpy as np

    from onnxtune.compile import build

    fns = {"y": (lambda a, b: (a + b) * a, dtype)}  # (no multiply-add to contract)
    func = elementwise(fns, [dtype, dtype], n, n)
    plain = _ir(func)
    wide = _ir(func, "+avx512f,+avx512vl")
    assert "llvm.masked" not in plain
    ty = {"float32": "f32", "float64": "f64", "int32": "i32"}[dtype]
    if padded:
        assert f"llvm.masked.load.v{padded}{ty}" in wide
        assert f"llvm.masked.store.v{padded}{ty}" in wide
    else:
        assert "llvm.masked" not in wide
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n) * 10).astype(dtype)
    b = (rng.standard_normal(n) * 10).astype(dtype)
    y = np.full(n, 7, dtype)
    build(func, "llvm")["main"](a, b, y)
    np.testing.assert_array_equal(y, (a + b) * a)


def _prefetched_matmul(ann):
    """C = A @ B (24 x 40 x 33, a prime inner size): j vectorized by 8, k the loop that
    carries ``ann`` (a software_prefetch annotation)."""
    from onnxtune.tir import te
    from onnxtune.tir.schedule import Schedule

    a = te.placeholder((24, 33), "float32", name="A")
    b = te.placeholder((33, 40), "float32", name="B")
    k = te.reduce_axis((0, 33), name="k")
    c = te.compute((24, 40), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    s = Schedule(te.create_prim_func([a, b, c]))
    blk = s.get_block("C")
    i, j, kk = s.get_loops(blk)
    jo, ji = s.split(j, [None, 8])
    s.reorder(i, jo, kk, ji)
    s.vectorize(ji)
    s.annotate(kk, "software_prefetch", ann)
    return s.func


def test_software_prefetch_annotation():
    """A loop annotated ``software_prefetch = [buffer, bytes]`` prefetches, per iteration,
    the address ``bytes`` past each distinct load of that buffer in its body (B's one
    vector load: one prefetch; a vectorized loop's load at its first lane), into L2
    (locality 2); the results are unchanged."""
    import numpy as np

    from onnxtune.compile import build

    func = _prefetched_matmul(["B", 4 * 40 * 4])
    text = _ir(func)
    calls = re.findall(r"call void @\"llvm\.prefetch\.p0\"\(ptr [^,]+, i32 0, i32 2, i32 1\)",
                       text)
    assert len(calls) == 1
    rng = np.random.default_rng(7)
    x = rng.standard_normal((24, 33)).astype(np.float32)
    w = rng.standard_normal((33, 40)).astype(np.float32)
    out = np.full((24, 40), np.nan, np.float32)
    build(func)["main"](x, w, out)
    np.testing.assert_allclose(out, x @ w, rtol=1e-5, atol=1e-5)
    # a buffer the body does not load: nothing to prefetch
    assert "llvm.prefetch" not in _ir(_prefetched_matmul(["C_missing", 64]))


@pytest.mark.parametrize("bad", [["B"], [3, 64], ["B", 1.5], ["B", True], "B"])
def test_software_prefetch_annotation_errors(bad):
    with pytest.raises(ValueError, match=r"loop k.*software_prefetch must be \[buffer name, "
                                         r"bytes\]"):
        _ir(_prefetched_matmul(bad))

"""compile.module: calling JIT-compiled functions with numpy arrays, checks, timing, sources."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest
from llvmlite import ir

from onnxtune.compile import module as module_mod
from onnxtune.compile import runtime
from onnxtune.compile.llvm_engine import jit_module
from onnxtune.compile.module import DTYPES, ArgumentError, Module, Param
from onnxtune.compile.target import Target

I32, I64, F32, PTR = ir.IntType(32), ir.IntType(64), ir.FloatType(), ir.PointerType()


def add_ir(name: str = "add", n: int = 24, op: str = "fadd") -> str:
    """``void name(ptr args)``: args[2][i] = args[0][i] op args[1][i] over n float32."""
    return f"""
define void @{name}(ptr %args) {{
entry:
  %a = load ptr, ptr %args
  %bp = getelementptr ptr, ptr %args, i64 1
  %b = load ptr, ptr %bp
  %cp = getelementptr ptr, ptr %args, i64 2
  %c = load ptr, ptr %cp
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %pa = getelementptr float, ptr %a, i64 %i
  %pb = getelementptr float, ptr %b, i64 %i
  %pc = getelementptr float, ptr %c, i64 %i
  %x = load float, ptr %pa
  %y = load float, ptr %pb
  %z = {op} float %x, %y
  store float %z, ptr %pc
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, {n}
  br i1 %done, label %exit, label %loop
exit:
  ret void
}}
"""


def copy_ir(name: str, nbytes: int) -> str:
    """``void name(ptr args)``: copies nbytes from args[0] to args[1]."""
    return f"""
define void @{name}(ptr %args) {{
  %src = load ptr, ptr %args
  %dp = getelementptr ptr, ptr %args, i64 1
  %dst = load ptr, ptr %dp
  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %src, i64 {nbytes}, i1 false)
  ret void
}}
"""


def parallel_affine_ir(n: int) -> str:
    """``void affine(ptr args)``: y[i] = 2 * x[i] + 1 over n float32, as one parallel region
    launched with the runtime helper; each thread handles its static chunk."""
    m = ir.Module("affine")
    m.triple = Target.host().triple
    cty = ir.LiteralStructType([PTR, PTR])
    zero = ir.Constant(I32, 0)
    body = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR]), "affine.body")
    b = ir.IRBuilder(body.append_basic_block("entry"))
    x, y = (b.load(b.gep(body.args[0], [zero, ir.Constant(I32, k)], source_etype=cty),
                   typ=PTR) for k in range(2))
    lo, hi = runtime.emit_static_chunk(m, b, ir.Constant(I64, n))
    pre = b.block
    head, loop, done = (body.append_basic_block(s) for s in ("head", "loop", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(lo, pre)
    b.cbranch(b.icmp_signed("<", i, hi), loop, done)
    b.position_at_end(loop)
    v = b.load(b.gep(x, [i], source_etype=F32), typ=F32)
    v = b.fadd(b.fmul(v, ir.Constant(F32, 2.0)), ir.Constant(F32, 1.0))
    b.store(v, b.gep(y, [i], source_etype=F32))
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), loop)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR]), "affine")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    clo = b.alloca(cty)
    for k in range(2):
        arg = b.load(b.gep(fn.args[0], [ir.Constant(I64, k)], source_etype=PTR), typ=PTR)
        b.store(arg, b.gep(clo, [zero, ir.Constant(I32, k)]))
    runtime.emit_parallel_launch(m, b, body, clo)
    b.ret_void()
    return str(m)


SIG = [Param("A", (4, 6), "float32"), Param("B", (4, 6), "float32"),
       Param("C", (4, 6), "float32", is_output=True)]


@pytest.fixture(scope="module")
def mod() -> Module:
    text = add_ir("add") + add_ir("sub", op="fsub")
    return jit_module(text, {"add": SIG, "sub": [("X", (4, 6), "float32"),
                                                 ("Y", (4, 6), "float32"),
                                                 ("Z", (4, 6), "float32")]})


def _abc(seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, 4, 6)).astype("float32")
    return a, b, np.zeros((4, 6), "float32")


def test_results_match_numpy(mod):
    a, b, c = _abc()
    mod["add"](a, b, c)
    np.testing.assert_array_equal(c, a + b)
    mod["sub"](a, b, c)
    np.testing.assert_array_equal(c, a - b)
    assert mod.functions == ["add", "sub"] and "add" in mod and "mul" not in mod
    assert mod.signature("add") == tuple(SIG)
    assert mod.target == Target.host()
    assert mod.times.total > 0
    assert "add(A: float32[4, 6]" in repr(mod["add"])


def test_unknown_function_lists_the_exports(mod):
    with pytest.raises(KeyError, match="no function 'mul'; it exports add, sub"):
        mod["mul"]


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda a, b, c: (a, b), r"add\(\) takes 3 arrays \(A: float32\[4, 6\], .*got 2"),
        (lambda a, b, c: (a, b, c, c), "takes 3 arrays"),
        (lambda a, b, c: (a, b, np.zeros((4, 5), "float32")),
         r"^add\(\): argument 2 'C' has shape \(4, 5\), expected \(4, 6\)$"),
        (lambda a, b, c: (a, b.astype("float64"), c),
         "argument 1 'B' has dtype float64, expected float32"),
        (lambda a, b, c: (np.asfortranarray(a), b, c),
         r"argument 0 'A' is not C-contiguous \(strides \(4, 16\)\)"),
        (lambda a, b, c: (np.zeros((4, 12), "float32")[:, ::2], b, c),
         "argument 0 'A' is not C-contiguous"),
        (lambda a, b, c: (a.tolist(), b, c), "argument 0 'A' is a list, expected a numpy"),
    ],
)
def test_bad_arguments_are_clear_value_errors(mod, change, message):
    with pytest.raises(ValueError, match=message):
        mod["add"](*change(*_abc()))


def test_read_only_outputs_are_refused(mod):
    a, b, c = _abc()
    c.setflags(write=False)
    with pytest.raises(ArgumentError, match="argument 2 'C' is an output but the array is "
                                            "read-only"):
        mod["add"](a, b, c)
    a.setflags(write=False)  # inputs may be read-only
    c2 = np.zeros_like(a)
    mod["add"](a, b, c2)
    np.testing.assert_array_equal(c2, a + b)


def test_transposed_view_with_the_right_shape_is_refused():
    sq = [("A", (5, 5), "float32"), ("B", (5, 5), "float32"), ("C", (5, 5), "float32")]
    fn = jit_module(add_ir("add", 25), {"add": sq})["add"]
    a = np.arange(25, dtype="float32").reshape(5, 5)
    c = np.zeros((5, 5), "float32")
    with pytest.raises(ValueError, match="argument 0 'A' is not C-contiguous"):
        fn(a.T, a, c)
    fn(np.ascontiguousarray(a.T), a, c)
    np.testing.assert_array_equal(c, a.T + a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_passes_through(dtype):
    shape = (3, 7)
    nbytes = 21 * np.dtype(dtype).itemsize
    fn = jit_module(copy_ir("copy", nbytes), {"copy": [("src", shape, dtype),
                                                       ("dst", shape, dtype, True)]})["copy"]
    src = (np.random.default_rng(1).standard_normal(shape) * 50).astype(dtype)
    dst = np.zeros(shape, dtype)
    fn(src, dst)
    np.testing.assert_array_equal(dst, src)


def test_signatures_from_buffer_like_objects():
    class Dim:
        def __init__(self, value):
            self.value = value

        def __str__(self):
            return f"dim{self.value}"

    class Buf:
        def __init__(self, name, shape, dtype):
            self.name, self.shape, self.dtype = name, shape, dtype

    sig = [Buf("A", (Dim(4), Dim(6)), "float32"), {"name": "B", "shape": [4, 6],
                                                   "dtype": "float32"},
           ("C", (4, np.int64(6)), "float32")]
    fn = jit_module(add_ir(), {"add": sig})["add"]
    assert [p.shape for p in fn.params] == [(4, 6)] * 3
    a, b, c = _abc(3)
    fn(a, b, c)
    np.testing.assert_array_equal(c, a + b)
    with pytest.raises(NotImplementedError, match="'A': dimension 1 .* not a constant"):
        jit_module(add_ir(), {"add": [Buf("A", (4, object()), "float32")]})
    with pytest.raises(ValueError, match="dtype 'complex64'; supported: float32"):
        jit_module(add_ir(), {"add": [("A", (4,), "complex64")]})
    with pytest.raises(ValueError, match="no function 'missing'"):
        jit_module(add_ir(), {"missing": SIG})
    assert Param.from_json(SIG[2].as_json()) == SIG[2]


def test_parallel_kernel_through_the_runtime():
    n = 100_003
    mod = jit_module(parallel_affine_ir(n), {"affine": [("x", (n,), "float32"),
                                                        ("y", (n,), "float32", True)]})
    x = np.random.default_rng(2).standard_normal(n).astype("float32")
    y = np.zeros(n, "float32")
    for threads in (1, 2, 3, None):
        y[:] = 0
        runtime.set_num_threads(threads)
        try:
            mod["affine"](x, y)
        finally:
            runtime.set_num_threads(None)
        np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_runs_parallel_code_serially_instead_of_hanging():
    n = 10_000
    mod = jit_module(parallel_affine_ir(n), {"affine": [("x", (n,), "float32"),
                                                        ("y", (n,), "float32", True)]})
    x = np.arange(n, dtype="float32")
    y = np.zeros(n, "float32")
    mod["affine"](x, y)  # the pool's threads exist from here on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # forking a threaded process
        pid = os.fork()
    if pid == 0:  # the child: must finish, with correct results
        code = 2
        try:
            y[:] = 0
            mod["affine"](x, y)
            code = 0 if np.array_equal(y, 2 * x + 1) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung in a parallel region")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    mod["affine"](x, y)  # the parent keeps its pool
    np.testing.assert_array_equal(y, 2 * x + 1)


def test_get_source(mod):
    ll = mod.get_source("ll")
    assert "define void @add" in ll and "define void @sub" in ll
    assert mod.get_source("input").count("define void") == 2
    asm = mod.get_source("asm")
    assert "add:" in asm and "sub:" in asm
    with pytest.raises(ValueError, match="accepted: 'll', 'input', 'asm'"):
        mod.get_source("cuda")
    assert mod.get_object()[:4] == b"\x7fELF"


def test_time_evaluator(mod):
    a, b, c = _abc()
    res = mod.time_evaluator("add", number=50, repeat=4)(a, b, c)
    assert len(res.results) == 4 and all(r > 0 for r in res.results)
    assert res.mean == pytest.approx(sum(res.results) / 4)
    assert res.min <= res.median <= res.max and res.std >= 0
    assert "mean" in str(res)
    np.testing.assert_array_equal(c, a + b)  # it really ran
    long = mod.time_evaluator("add", number=1, repeat=2, min_repeat_ms=5)(a, b, c)
    assert len(long.results) == 2
    with pytest.raises(ValueError, match="argument 2 'C' has shape"):
        mod.time_evaluator("add")(a, b, c[:2])
    with pytest.raises(ValueError, match="at least 1"):
        mod.time_evaluator("add", number=0)


def test_call_pointers_and_the_portable_path(mod, monkeypatch):
    import ctypes

    a, b, c = _abc(4)
    fn = mod["sub"]
    fn.call_pointers((ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, c.ctypes.data))
    np.testing.assert_array_equal(c, a - b)
    monkeypatch.setattr(module_mod, "_native", False)  # no trampoline: ctypes only
    c[:] = 0
    fn(a, b, c)
    np.testing.assert_array_equal(c, a - b)
    res = mod.time_evaluator("sub", number=3)(a, b, c)
    assert len(res.results) == 1


def test_closed_module_refuses_calls():
    m = jit_module(add_ir(), {"add": SIG})
    fn = m["add"]
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        fn(*_abc())
    m.close()


def test_dropping_a_module_frees_its_code_at_once():
    import weakref

    m = jit_module(add_ir(), {"add": SIG})
    code = weakref.ref(m.code)
    m["add"](*_abc())
    del m  # no reference cycle: no garbage collection needed
    assert code() is None


def test_functions_outlive_their_module_reference():
    fn = jit_module(add_ir(), {"add": SIG})["add"]  # the Module itself is unreferenced
    import gc

    gc.collect()
    a, b, c = _abc(5)
    fn(a, b, c)
    np.testing.assert_array_equal(c, a + b)

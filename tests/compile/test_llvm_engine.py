"""compile.llvm_engine: parse/verify errors, O3 vectorization, JIT, object code, memory."""

from __future__ import annotations

import ctypes
import gc

import numpy as np
import pytest

from onnxtune.compile import llvm_engine as engine
from onnxtune.compile.llvm_engine import LLVMError, compile_ir, emit_assembly, emit_object
from onnxtune.compile.target import Target

# c[i] = a[i] + b[i], i < 1000, float32, the engine's calling convention: void f(ptr args)
ADD = """
define void @add(ptr %args) {
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
  %z = fadd float %x, %y
  store float %z, ptr %pc
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, 1000
  br i1 %done, label %exit, label %loop
exit:
  ret void
}
"""

HOST_AVX512 = Target.host().has_feature("avx512f")


def _call_add(code, name="add", n=1000):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, n)).astype("float32")
    c = np.zeros(n, "float32")
    ptrs = (ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, c.ctypes.data)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(code.get_function_address(name))(ptrs)
    np.testing.assert_array_equal(c, a + b)


def test_compile_and_call():
    code = compile_ir(ADD)
    _call_add(code)
    t = code.times
    assert t.parse > 0 and t.optimize > 0 and t.jit > 0 and t.total >= t.jit
    assert "optimize" in str(t) and "JIT" in str(t)
    assert code.source_ir == ADD and "define void @add" in code.ir
    with pytest.raises(ValueError, match="no function 'nope'"):
        code.get_function_address("nope")


def test_o3_vectorizes_for_the_host():
    code = compile_ir(ADD)
    lanes = Target.host().vector_lanes("float32")
    assert f"<{lanes} x float>" in code.ir
    if HOST_AVX512:
        assert "zmm" in code.assembly()


def test_unoptimized_code_keeps_the_scalar_loop():
    code = compile_ir(ADD, optimize_ir=False)
    assert "x float>" not in code.ir
    _call_add(code)


def test_feature_string_controls_codegen():
    host = Target.host()
    if not host.has_feature("avx2"):
        pytest.skip("needs an AVX2 host")
    avx2 = Target(f"llvm -mcpu={host.mcpu} -mattr=+avx2,+fma,-avx512f")
    asm = emit_assembly(ADD, avx2)
    assert "ymm" in asm and "zmm" not in asm
    _call_add(compile_ir(ADD, avx2))


def test_parse_error_names_the_line():
    bad = "define void @f() {\nentry:\n  %y = fadd float %x, 1.0\n  ret void\n}\n"
    with pytest.raises(LLVMError) as info:
        compile_ir(bad)
    msg = str(info.value)
    assert "line 3" in msg and "use of undefined value '%x'" in msg
    assert "%y = fadd float %x, 1.0" in msg


def test_verification_error_names_the_instruction():
    bad = ("define i32 @f(i32 %a) {\nentry:\n  %z = add i32 %w, 1\n  %w = add i32 %a, 1\n"
           "  ret i32 %z\n}\n")
    with pytest.raises(LLVMError, match="verification failed: Instruction does not dominate") \
            as info:
        compile_ir(bad)
    assert ">    3 |   %z = add i32 %w, 1" in str(info.value)


def test_unresolved_symbol_is_an_error_not_a_crash():
    text = ("declare void @no_such_function_anywhere(ptr)\n"
            "define void @f(ptr %p) {\n  call void @no_such_function_anywhere(ptr %p)\n"
            "  ret void\n}\n")
    with pytest.raises(LLVMError, match="no_such_function_anywhere"):
        compile_ir(text)


def test_libm_calls_resolve():
    text = ("declare float @expf(float)\ndefine float @f(float %x) {\n"
            "  %y = call float @expf(float %x)\n  ret float %y\n}\n")
    code = compile_ir(text, optimize_ir=False)
    f = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_float)(code.get_function_address("f"))
    assert f(1.0) == pytest.approx(np.e, rel=1e-6)


def test_cuda_targets_are_not_built():
    with pytest.raises(NotImplementedError, match="'cuda'"):
        compile_ir(ADD, "cuda -arch=sm_80")


def test_object_code_roundtrip():
    obj = emit_object(ADD)
    assert obj[:4] == b"\x7fELF"
    _call_add(engine.jit_object(obj))
    code = compile_ir(ADD)
    assert code.object_code()[:4] == b"\x7fELF"


def test_modules_coexist_and_close():
    first = compile_ir(ADD)
    second = compile_ir(ADD.replace("fadd", "fsub"))
    addr = first.get_function_address("add")
    assert addr != second.get_function_address("add")
    _call_add(first)
    second.close()
    assert second.closed and not first.closed
    _call_add(first)
    with pytest.raises(ValueError, match="closed"):
        second.get_function_address("add")
    second.close()  # idempotent


def test_garbage_cycles_release_safely():
    for _ in range(20):
        code = compile_ir(ADD)
        holder = {"code": code}
        holder["self"] = holder  # a cycle only the collector can free
        code.cycle = holder
    del code, holder
    gc.collect()
    _call_add(compile_ir(ADD))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_dropping_modules_releases_their_memory():
    # each module holds 512 KiB of initialized data: 100 leaked modules would be 50 MiB
    data = ", ".join(f"i64 {i}" for i in range(65536))
    text = (f"@table = internal global [65536 x i64] [{data}]\n" + ADD.replace(
        "  ret void", "  %t = getelementptr i64, ptr @table, i64 7\n  store i64 1, ptr %t\n"
        "  ret void"))
    for _ in range(5):
        compile_ir(text).close()
    gc.collect()
    before = _rss_mb()
    for _ in range(100):
        code = compile_ir(text)
        _call_add(code)
        del code
    gc.collect()
    grown = _rss_mb() - before
    # what remains is llvmlite's pass-builder leak (~70 KB per optimized module)
    assert grown < 25, f"RSS grew by {grown:.1f} MiB over 100 modules"


def test_compiles_from_several_threads():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda i: compile_ir(ADD.replace("@add", f"@add{i}")),
                              range(8)))
    for i, code in enumerate(codes):
        _call_add(code, f"add{i}")


def test_modules_without_a_triple_get_the_targets():
    from llvmlite import ir

    m = ir.Module("bare")  # prints triple "unknown-unknown-unknown", empty data layout
    f = ir.Function(m, ir.FunctionType(ir.IntType(64), []), "seven")
    ir.IRBuilder(f.append_basic_block()).ret(ir.Constant(ir.IntType(64), 7))
    code = compile_ir(str(m))
    assert f'target triple = "{Target.host().triple}"' in code.ir
    assert Target.host().data_layout in code.ir
    assert ctypes.CFUNCTYPE(ctypes.c_int64)(code.get_function_address("seven"))() == 7


def test_object_imports_are_checked_before_loading():
    text = ("declare float @expf(float)\ndefine float @f(float %x) {\n"
            "  %y = call float @expf(float %x)\n  ret float %y\n}\n")
    code = compile_ir(text)
    assert code.externals == ("expf",)
    loaded = engine.jit_object(code.object_code(), externals=code.externals)
    f = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_float)(loaded.get_function_address("f"))
    assert f(0.0) == 1.0
    with pytest.raises(LLVMError, match="not_in_this_process"):
        engine.jit_object(code.object_code(), externals=["expf", "not_in_this_process"])

"""Native runtime overheads: parallel launch, 1 → N thread scaling, Python call path.

    python benchmarks/parallel_overhead.py [--launches 10000] [--iters 200000000]

(a) a JIT-compiled loop launches ``--launches`` empty parallel regions back to back
    (no Python in between); overhead = elapsed / launches, for 1 and N threads.
(b) a compute-bound kernel (8 independent chains of dependent double FMAs per thread,
    ``--iters`` in total, statically chunked) on 1 and N threads; speed-up = t1 / tN.
(c) the cost of calling a tiny 3-array function from Python through ``Module`` (checks
    included), next to numpy's own ``np.add(a, b, out=c)`` on the same arrays.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import time

import numpy as np
from llvmlite import ir

from onnxtune.compile import runtime
from onnxtune.compile.llvm_engine import compile_ir, jit_module
from onnxtune.compile.target import Target

I32, I64, F64, PTR = ir.IntType(32), ir.IntType(64), ir.DoubleType(), ir.PointerType()
CHAINS = 8


def build_ir(triple: str) -> str:
    m = ir.Module("parallel_overhead")
    m.triple = triple
    void = ir.VoidType()

    # (a) void launch_many(i64 n, i32 nt): n empty regions
    empty = ir.Function(m, ir.FunctionType(void, [PTR]), "empty_body")
    ir.IRBuilder(empty.append_basic_block()).ret_void()
    fn = ir.Function(m, ir.FunctionType(void, [I64, I32]), "launch_many")
    n, nt = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    head, body, done = (fn.append_basic_block(x) for x in ("head", "body", "done"))
    pre = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), pre)
    b.cbranch(b.icmp_signed("<", i, n), body, done)
    b.position_at_end(body)
    runtime.emit_parallel_launch(m, b, empty, ir.Constant(PTR, None), nt)
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), b.block)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    # (b) void fma_kernel(i64 n, ptr out, i32 nt); closure = {i64 n, ptr out}
    cty = ir.LiteralStructType([I64, PTR])
    worker = ir.Function(m, ir.FunctionType(void, [PTR]), "fma_body")
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    zero = ir.Constant(I32, 0)
    total = b.load(b.gep(worker.args[0], [zero, zero], source_etype=cty), typ=I64)
    out = b.load(b.gep(worker.args[0], [zero, ir.Constant(I32, 1)], source_etype=cty), typ=PTR)
    lo, hi = runtime.emit_static_chunk(m, b, total)
    tid, _ = runtime.emit_thread_info(m, b)
    fma = m.declare_intrinsic("llvm.fma", [F64], ir.FunctionType(F64, [F64] * 3))
    pre = b.block
    head, body, done = (worker.append_basic_block(x) for x in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    j = b.phi(I64)
    j.add_incoming(lo, pre)
    accs = [b.phi(F64) for _ in range(CHAINS)]
    for k, acc in enumerate(accs):
        acc.add_incoming(ir.Constant(F64, 1.0 + k), pre)
    b.cbranch(b.icmp_signed("<", j, hi), body, done)
    b.position_at_end(body)
    for acc in accs:
        acc.add_incoming(b.call(fma, [acc, ir.Constant(F64, 0.999999),
                                      ir.Constant(F64, 1e-6)]), body)
    j.add_incoming(b.add(j, ir.Constant(I64, 1)), body)
    b.branch(head)
    b.position_at_end(done)
    s = accs[0]
    for acc in accs[1:]:
        s = b.fadd(s, acc)
    b.store(s, b.gep(out, [b.sext(tid, I64)], source_etype=F64))
    b.ret_void()

    fn = ir.Function(m, ir.FunctionType(void, [I64, PTR, I32]), "fma_kernel")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    clo = b.alloca(cty)
    b.store(fn.args[0], b.gep(clo, [zero, zero]))  # alloca gives a typed pointer
    b.store(fn.args[1], b.gep(clo, [zero, ir.Constant(I32, 1)]))
    runtime.emit_parallel_launch(m, b, worker, clo, fn.args[2])
    b.ret_void()
    return str(m)


def add_ir(n: int) -> str:
    """``void add(ptr args)``: args[2][i] = args[0][i] + args[1][i], n float32."""
    m = ir.Module("add")
    f32 = ir.FloatType()
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR]), "add")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    a, x, c = (b.load(b.gep(fn.args[0], [ir.Constant(I64, k)], source_etype=PTR), typ=PTR)
               for k in range(3))
    for i in range(n):
        idx = [ir.Constant(I64, i)]
        s = b.fadd(b.load(b.gep(a, idx, source_etype=f32), typ=f32),
                   b.load(b.gep(x, idx, source_etype=f32), typ=f32))
        b.store(s, b.gep(c, idx, source_etype=f32))
    b.ret_void()
    return str(m)


def per_call(fn, number: int, repeat: int) -> float:
    """Best seconds per call of ``fn()`` over ``repeat`` rounds of ``number`` calls."""
    def loop() -> None:
        for _ in range(number):
            fn()

    return best_of(loop, repeat) / number


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--launches", type=int, default=10000)
    ap.add_argument("--iters", type=int, default=200_000_000)
    ap.add_argument("--threads", type=int, default=0, help="N (default: all cores)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    target = Target.host()
    nthreads = args.threads or target.num_cores
    code = compile_ir(build_ir(target.triple), target)
    print(f"target: {target.describe()}")
    print(f"runtime: {runtime.load()} (GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')})")
    print(f"compile: {code.times}")

    launch = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int32)(
        code.get_function_address("launch_many"))
    kernel = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int32)(
        code.get_function_address("fma_kernel"))

    print(f"\n(a) empty parallel region, {args.launches} launches in a native loop")
    print(f"{'threads':>8} {'us/launch':>10}")
    overhead = {}
    for t in sorted({1, nthreads}):
        launch(100, t)  # wake the pool
        sec = best_of(lambda t=t: launch(args.launches, t), args.repeat)
        overhead[t] = sec / args.launches * 1e6
        print(f"{t:>8} {overhead[t]:>10.2f}")

    print(f"\n(b) compute-bound kernel: {args.iters:.2e} x {CHAINS} dependent double FMAs")
    out = (ctypes.c_double * 64)()
    times = {}
    print(f"{'threads':>8} {'ms':>9} {'GFMA/s':>8} {'speed-up':>9}")
    for t in sorted({1, nthreads}):
        kernel(1000, out, t)
        times[t] = best_of(lambda t=t: kernel(args.iters, out, t), args.repeat)
        gfma = args.iters * CHAINS / times[t] / 1e9
        print(f"{t:>8} {times[t] * 1e3:>9.1f} {gfma:>8.2f} {times[1] / times[t]:>8.2f}x")
    print("\n(c) calling a 3-array function (4x6 float32 add) from Python")
    mod = jit_module(add_ir(24), {"add": [("A", (4, 6), "float32"), ("B", (4, 6), "float32"),
                                          ("C", (4, 6), "float32", True)]}, target)
    fn = mod["add"]
    a, b = np.random.default_rng(0).standard_normal((2, 4, 6)).astype("float32")
    c = np.empty_like(a)
    ptrs = (ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, c.ctypes.data)
    calls = {
        "mod['add'](a, b, c)  (checked)": per_call(lambda: fn(a, b, c), 100_000, args.repeat),
        "fn.call_pointers(ptrs)  (unchecked)": per_call(lambda: fn.call_pointers(ptrs),
                                                        100_000, args.repeat),
        "np.add(a, b, out=c)  (numpy)": per_call(lambda: np.add(a, b, out=c), 100_000,
                                                 args.repeat),
    }
    for label, sec in calls.items():
        print(f"  {label:<38} {sec * 1e6:6.2f} us")
    checked = calls["mod['add'](a, b, c)  (checked)"]
    print(f"\nsummary: launch overhead {overhead[nthreads]:.2f} us at {nthreads} threads "
          f"(target < 10 us); 1 -> {nthreads} thread speed-up "
          f"{times[1] / times[nthreads]:.2f}x (target >= 1.7x on 2 cores); Python call "
          f"{checked * 1e6:.2f} us = {checked / calls['np.add(a, b, out=c)  (numpy)']:.2f}x "
          f"numpy's np.add")
    code.close()


if __name__ == "__main__":
    main()

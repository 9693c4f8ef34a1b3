"""compile.runtime: native parallel regions (libgomp), static chunks, thread-count control."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from llvmlite import ir

from onnxtune.compile import runtime
from onnxtune.compile.llvm_engine import compile_ir
from onnxtune.compile.target import Target

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mark_kernel(explicit_threads: bool) -> str:
    """``void mark(i64 n, ptr hits, ptr team, i32 nt)``: in a parallel region each thread
    adds 1 to hits[i] for i in its static chunk of [0, n) and stores the team size in
    team[tid]. With ``explicit_threads`` the region gets ``nt`` threads, else the
    runtime's setting."""
    m = ir.Module("mark")
    m.triple = Target.host().triple
    cty = ir.LiteralStructType([I64, PTR, PTR])
    body = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR]), "mark_body")
    b = ir.IRBuilder(body.append_basic_block("entry"))
    zero = ir.Constant(I32, 0)
    fields = [b.load(b.gep(body.args[0], [zero, ir.Constant(I32, k)], source_etype=cty),
                     typ=t) for k, t in enumerate(cty.elements)]
    n, hits, team = fields
    lo, hi = runtime.emit_static_chunk(m, b, n)
    tid, nt = runtime.emit_thread_info(m, b)
    b.store(nt, b.gep(team, [b.sext(tid, I64)], source_etype=I32))
    pre = b.block
    head, loop, done = (body.append_basic_block(x) for x in ("head", "loop", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(lo, pre)
    b.cbranch(b.icmp_signed("<", i, hi), loop, done)
    b.position_at_end(loop)
    slot = b.gep(hits, [i], source_etype=I32)
    b.store(b.add(b.load(slot, typ=I32), ir.Constant(I32, 1)), slot)
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), loop)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [I64, PTR, PTR, I32]), "mark")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    clo = b.alloca(cty)
    for k in range(3):
        b.store(fn.args[k], b.gep(clo, [zero, ir.Constant(I32, k)]))
    runtime.emit_parallel_launch(m, b, body, clo, fn.args[3] if explicit_threads else None)
    b.ret_void()
    return str(m)


@pytest.fixture(scope="module")
def mark():
    code = compile_ir(_mark_kernel(True))
    f = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_int32)(code.get_function_address("mark"))

    def run(n: int, threads: int):
        hits = np.zeros(max(n, 1), np.int32)
        team = np.zeros(64, np.int32)
        f(n, hits.ctypes.data, team.ctypes.data, threads)
        return hits[:n], team

    run.code = code
    return run


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 100, 1001])
def test_static_chunks_cover_each_iteration_once(mark, n, threads):
    hits, team = mark(n, threads)
    np.testing.assert_array_equal(hits, np.ones(n, np.int32))
    assert list(team[:threads]) == [threads] * threads  # every thread ran, saw the team


def test_no_python_threads_are_used(mark):
    before = threading.active_count()
    mark(10_000, 2)
    assert threading.active_count() == before


def test_set_num_threads_controls_default_launches():
    code = compile_ir(_mark_kernel(False))
    f = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_int32)(code.get_function_address("mark"))
    try:
        for want in (1, 3, 2):
            runtime.set_num_threads(want)
            assert runtime.get_num_threads() == want
            hits, team = np.zeros(50, np.int32), np.zeros(64, np.int32)
            f(50, hits.ctypes.data, team.ctypes.data, 0)
            assert (hits == 1).all() and team[0] == want and team[want] == 0
    finally:
        runtime.set_num_threads(None)
    assert runtime.get_num_threads() >= 1
    with pytest.raises(ValueError, match="positive int"):
        runtime.set_num_threads(0)


def test_launch_helper_checks_the_body_type():
    m = ir.Module()
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), []), "f")
    b = ir.IRBuilder(fn.append_basic_block())
    wrong = ir.Function(m, ir.FunctionType(ir.VoidType(), [I64]), "wrong")
    with pytest.raises(ValueError, match=r"void \(ptr\)"):
        runtime.emit_parallel_launch(m, b, wrong, ir.Constant(PTR, None))
    body = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR]), "body")
    with pytest.raises(ValueError, match="negative"):
        runtime.emit_parallel_launch(m, b, body, ir.Constant(PTR, None), -1)
    runtime.emit_parallel_launch(m, b, body, ir.Constant(PTR, None), 2)
    assert '@"body", ptr null, i32 2, i32 0)' in str(m)


def test_runtime_symbols():
    assert runtime.load()
    assert runtime.provides("GOMP_parallel") and not runtime.provides("printf")
    import llvmlite.binding as llvm

    for sym in runtime.SYMBOLS:
        assert llvm.address_of_symbol(sym), sym
    assert runtime.find_libgomp() is not None


def _run_python(code: str, unset: tuple[str, ...] = (), **env: str
                ) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this environment, less the thread settings
    and ``unset``, plus ``env``."""
    drop = ("OMP_NUM_THREADS", "ONNXTUNE_NUM_THREADS", "ONNXTUNE_LIBGOMP", *unset)
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update(env)
    full_env["PYTHONPATH"] = REPO + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_env_var_sets_the_thread_count():
    r = _run_python("""
        from onnxtune.compile import runtime
        print(runtime.get_num_threads())
    """, ONNXTUNE_NUM_THREADS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_missing_libgomp_is_explained():
    r = _run_python("""
        from onnxtune.compile import runtime
        runtime.candidates = lambda: []
        try:
            runtime.load()
        except RuntimeError as e:
            print("ERROR", e)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ERROR") and "libgomp" in r.stdout and "apt install" in r.stdout
    r = _run_python("""
        from onnxtune.compile import runtime
        runtime.load()
    """, ONNXTUNE_LIBGOMP="/nonexistent/libgomp.so.1")
    assert r.returncode != 0 and "ONNXTUNE_LIBGOMP" in r.stderr


@pytest.mark.parametrize("k", [0, 1, 3, 8])
@pytest.mark.parametrize("n", [1, 2, 7, 100, 1001])
def test_dynamic_chunks_cover_each_iteration_once(n, k):
    """A generated parallel loop (outlined by the code generator) runs each iteration
    exactly once whatever runtime.set_dynamic_chunks says, on 1, 2 or 3 threads."""
    from onnxtune.compile import build
    from onnxtune.tir import Schedule, te

    a = te.placeholder((n,), "float32", name="A")
    c = te.compute((n,), lambda i: a[i] + 1.0, name="C")
    s = Schedule(te.create_prim_func([a, c]))
    s.parallel(s.get_loops(s.get_block("C"))[0])
    f = build(s.mod)["main"]
    x = np.arange(n, dtype=np.float32)
    try:
        runtime.set_dynamic_chunks(k)
        assert runtime.get_dynamic_chunks() == k
        for threads in (1, 2, 3):
            runtime.set_num_threads(threads)
            out = np.full(n, -7.0, np.float32)
            f(x, out)
            np.testing.assert_array_equal(out, x + 1)
    finally:
        runtime.set_dynamic_chunks(0)
        runtime.set_num_threads(None)
    with pytest.raises(ValueError, match="int >= 0"):
        runtime.set_dynamic_chunks(-1)


def test_dynamic_chunks_env_var():
    r = _run_python("""
        from onnxtune.compile import runtime
        print(runtime.get_dynamic_chunks())
    """, ONNXTUNE_DYNAMIC_CHUNKS="4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "4"


@pytest.mark.parametrize("ns, expected", [(25.0, 1000), (50.0, 500), (2.0, 12500),
                                          (0.5, 20000), (1000.0, 100)])
def test_spin_count_follows_the_pause_time(monkeypatch, ns, expected):
    monkeypatch.setattr(runtime, "_spin_count", None)
    monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(runtime, "_time_pause", lambda: ns)
    monkeypatch.setattr(runtime, "SPIN_US", 25.0)
    assert runtime.spin_count() == expected  # 25 us of spinning, within [100, 20000]


def test_spin_count_falls_back_where_pause_cannot_be_timed(monkeypatch):
    def fail():
        raise RuntimeError("no pause here")

    monkeypatch.setattr(runtime, "_spin_count", None)
    monkeypatch.setattr(runtime.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(runtime, "_time_pause", fail)
    assert runtime.spin_count() == runtime.FALLBACK_SPINCOUNT
    monkeypatch.setattr(runtime, "_spin_count", None)
    monkeypatch.setattr(runtime.platform, "machine", lambda: "aarch64")
    assert runtime.spin_count() == runtime.FALLBACK_SPINCOUNT


def test_pause_is_timed_on_this_machine():
    if runtime.platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the pause loop is x86")
    ns = runtime._time_pause()
    assert 0.1 < ns < 10_000, ns  # a pause takes a few to a few hundred cycles


def _run_without_wait_policy(code: str, **env: str) -> subprocess.CompletedProcess:
    return _run_python(code, unset=("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"), **env)


def test_wait_policy_is_set_before_libgomp_loads_unless_the_user_chose_one():
    code = """
        import os
        from onnxtune.compile import runtime
        runtime.load()
        print(os.environ.get("GOMP_SPINCOUNT"), runtime.spin_count())
    """
    r = _run_without_wait_policy(code)
    assert r.returncode == 0, r.stderr
    got, count = r.stdout.split()
    assert got == count and 100 <= int(count) <= 20000
    r = _run_without_wait_policy(code, GOMP_SPINCOUNT="77")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "77"
    r = _run_without_wait_policy(code, OMP_WAIT_POLICY="passive")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "None"


def test_the_xgboost_cost_model_sets_the_wait_policy_before_xgboost_loads_libgomp():
    r = _run_without_wait_policy("""
        import os, sys
        from onnxtune.compile import runtime
        from onnxtune.tuner.cost_model import XGBModel
        assert "xgboost" not in sys.modules and runtime._mapped_libgomp() is None
        XGBModel()
        assert "xgboost" in sys.modules
        print(os.environ.get("GOMP_SPINCOUNT"), runtime.spin_count())
    """)
    assert r.returncode == 0, r.stderr
    got, count = r.stdout.split()
    assert got == count

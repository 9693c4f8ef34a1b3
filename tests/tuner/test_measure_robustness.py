"""Measurement survives bad candidates: one that segfaults, one that never returns and one
that fails to build are each reported as errors, and the candidate after each succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from onnxtune import tir
from onnxtune.compile.llvm_engine import emit_object
from onnxtune.compile.target import Target
from onnxtune.tir import (
    Block,
    BlockRealize,
    BufferStore,
    For,
    ForKind,
    PrimFunc,
    Var,
    const,
    testing,
)
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.stmt import true
from onnxtune.tuner.arg_info import ArgInfo
from onnxtune.tuner.builder import BuilderInput, BuiltModule, LocalBuilder, write_artifact
from onnxtune.tuner.runner import EvaluatorConfig, LocalRunner, RunnerInput

FAST = EvaluatorConfig(number=1, repeat=2, min_repeat_ms=1)

# writes through address 8: SIGSEGV on every Linux (the first page is never mapped)
SEGFAULT_IR = """
define void @main(ptr %args) {
  store volatile i32 1, ptr inttoptr (i64 8 to ptr)
  ret void
}
"""


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path, monkeypatch):
    """Worker processes started in a test write their artifacts under its tmp_path."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def root(body):
    return BlockRealize((), true(), Block((), (), (), "root", body, None, ()))


def serial(var, extent, body):
    return For(var, const(0, var.dtype), const(extent, var.dtype), ForKind.SERIAL, body)


def never_returns():
    """2**60 dependent floating-point updates: the loop cannot be folded away or finish."""
    c = tir.decl_buffer((4,), "float32", "C")
    i, j = Var("i"), Var("j")
    body = BufferStore(c, c[0] * 1.0000001 + 1.0, (const(0),))
    return PrimFunc((c,), root(serial(i, 2**30, serial(j, 2**30, body))))


def fails_to_build():
    """The store index is a variable defined nowhere."""
    c = tir.decl_buffer((4,), "float32", "C")
    return PrimFunc((c,), root(BufferStore(c, const(1.0), (Var("undefined_k"),))))


def good_matmul():
    func, _ = testing.matmul(48, 32, 16)
    sch = Schedule(func)
    i, j, k = sch.get_loops(sch.get_block("C"))
    i0, i1 = sch.split(i, [None, 8])
    sch.parallel(i0)
    sch.vectorize(j)
    return sch.mod, ArgInfo.from_prim_func(func)


@pytest.fixture(scope="module")
def segfault_artifact(tmp_path_factory):
    tgt = Target("llvm")
    obj = emit_object(SEGFAULT_IR, tgt)
    return write_artifact(BuiltModule(obj, {"main": [("C", (4,), "float32")]}, tgt),
                          str(tmp_path_factory.mktemp("segfault")))


def test_segfault_hang_and_build_failure_are_errors_and_measuring_goes_on(segfault_artifact):
    good, good_info = good_matmul()
    hang_info = [ArgInfo.from_json(["TENSOR", "float32", [4]])]
    builder = LocalBuilder(max_workers=2, timeout_sec=30)
    runner = LocalRunner(timeout_sec=2, evaluator_config=FAST)
    try:
        built = builder.build([BuilderInput(fails_to_build(), "llvm"), BuilderInput(good, "llvm"),
                               BuilderInput(never_returns(), "llvm")])
        assert built[0].artifact_path is None
        assert "undefined_k is used where it is not defined" in built[0].error_msg
        assert built[1].error_msg is None and built[2].error_msg is None

        ok, hang = built[1].artifact_path, built[2].artifact_path
        t0 = time.perf_counter()
        futures = runner.run([
            RunnerInput(segfault_artifact, "cpu", hang_info),
            RunnerInput(ok, "cpu", good_info),
            RunnerInput(hang, "cpu", hang_info),
            RunnerInput(ok, "cpu", good_info),
            RunnerInput(segfault_artifact, "cpu", hang_info),
        ])
        res = [f.result() for f in futures]
        elapsed = time.perf_counter() - t0
    finally:
        builder.close()
        runner.close()
    assert res[0].run_secs is None
    assert "crashed (signal 11 SIGSEGV)" in res[0].error_msg
    assert res[1].error_msg is None and all(s > 0 for s in res[1].run_secs)
    assert res[2].run_secs is None
    assert "timed out after 2 s" in res[2].error_msg
    assert res[3].error_msg is None and all(s > 0 for s in res[3].run_secs)
    assert "crashed (signal 11 SIGSEGV)" in res[4].error_msg
    assert elapsed < 60  # the hang was cut off, not waited out


def test_the_runner_is_usable_after_a_crash_in_a_later_batch(segfault_artifact):
    good, good_info = good_matmul()
    builder = LocalBuilder(max_workers=1)
    runner = LocalRunner(timeout_sec=10, evaluator_config=FAST)
    try:
        (b,) = builder.build([BuilderInput(good, "llvm")])
        first = [f.result() for f in runner.run([RunnerInput(b.artifact_path, "cpu",
                                                              good_info)])]
        four = [ArgInfo.from_json(["TENSOR", "float32", [4]])]
        crash = runner.run([RunnerInput(segfault_artifact, "cpu", four)])[0].result()
        after = runner.run([RunnerInput(b.artifact_path, "cpu", good_info)])[0].result()
        runner.close()  # closing is not the end: a later run starts a new worker
        again = runner.run([RunnerInput(b.artifact_path, "cpu", good_info)])[0].result()
    finally:
        builder.close()
        runner.close()
    assert first[0].error_msg is None
    assert "SIGSEGV" in crash.error_msg
    assert after.error_msg is None and after.run_secs
    assert again.error_msg is None and again.run_secs


def hang_and_report(path):
    """A task that never returns in time; it first writes its worker's pid to ``path``."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]  # a zombie has exited


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_busy_worker_exits_when_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "worker.pid"
    here = os.path.dirname(os.path.abspath(__file__))
    code = ("from onnxtune.tuner.worker_pool import WorkerPool\n"
            f"WorkerPool(1).map('{__name__}:hang_and_report', [[{str(pid_file)!r}]], 300)\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([here, os.getcwd(), env.get("PYTHONPATH", "")])
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and parent.poll() is None, "worker never ran"
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), "the worker outlived its killed parent"

"""LocalBuilder: builds in worker processes, custom f_build / f_export, failures as
results, parallel builds, worker recycling."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from onnxtune import tir
from onnxtune.compile.target import Target
from onnxtune.tir import Block, BlockRealize, BufferStore, PrimFunc, Var, const, testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.stmt import true
from onnxtune.tuner.builder import (
    Builder,
    BuilderInput,
    LocalBuilder,
    default_build,
    default_export,
    load_artifact,
)
from onnxtune.tuner.builder import local_builder as lb


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path, monkeypatch):
    """Worker processes started in a test write their artifacts under its tmp_path."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def tiled_matmul(m=64, n=48, k=40):
    """A scheduled matmul: tiled, reordered, outer loop parallel, inner loop vectorized."""
    func, ref = testing.matmul(m, n, k)
    sch = Schedule(func)
    i, j, kk = sch.get_loops(sch.get_block("C"))
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    sch.reorder(i0, j0, kk, i1, j1)
    sch.parallel(i0)
    sch.vectorize(j1)
    return sch.mod, func, ref


def root(body):
    """``body`` under the root block (the form TE and schedules produce)."""
    return BlockRealize((), true(), Block((), (), (), "root", body, None, ()))


def invalid_func():
    """A PrimFunc whose store index uses a variable defined nowhere."""
    c = tir.decl_buffer((4,), "float32", "C")
    return PrimFunc((c,), root(BufferStore(c, const(1.0), (Var("k"),))))


def _check_artifact(path, func, ref):
    assert os.path.isfile(path) and os.path.isfile(path[:-2] + ".json")
    mod = load_artifact(path)
    a, b, c = testing.make_args(func)
    mod[mod.entry](a, b, c)
    np.testing.assert_allclose(c, ref(a, b), rtol=1e-4, atol=1e-4)
    mod.close()


# -- customization hooks (module level: workers import them by name) -----------------------
def jit_build(mod, target, params):
    """f_build returning a JIT compile.Module (default_export handles it too)."""
    from onnxtune.compile import build

    return build(mod, target)


def export_with_note(built):
    path = default_export(built)
    with open(os.path.join(os.path.dirname(path), "note.json"), "w") as f:
        json.dump({"exported_by": "export_with_note", "pid": os.getpid()}, f)
    return path


def slow_build(mod, target, params):
    """Sleeps, then builds; the export records when and where the build ran."""
    t0 = time.time()
    time.sleep(0.6)
    built = default_build(mod, target, params)
    built.timing = (os.getpid(), t0, time.time())
    return built


def export_timing(built):
    path = default_export(built)
    with open(os.path.join(os.path.dirname(path), "timing.json"), "w") as f:
        json.dump(list(built.timing), f)
    return path


def pid_build(mod, target, params):
    built = default_build(mod, target, params)
    built.timing = (os.getpid(), 0.0, 0.0)
    return built


def sleepy_build(mod, target, params):
    time.sleep(60)


def crashing_build(mod, target, params):
    os.kill(os.getpid(), 11)


# -- tests ---------------------------------------------------------------------------------
def test_builds_scheduled_matmul_into_loadable_artifact():
    mod, func, ref = tiled_matmul()
    builder = LocalBuilder(max_workers=1)
    try:
        (res,) = builder.build([BuilderInput(mod, Target("llvm"))])
    finally:
        builder.close()
    assert res.error_msg is None, res.error_msg
    assert os.path.basename(os.path.dirname(res.artifact_path)).startswith("onnxtune-build-")
    with open(res.artifact_path[:-2] + ".json") as f:
        meta = json.load(f)
    assert meta["entry"] == "main"
    assert [p[1] for p in meta["functions"]["main"]] == [[64, 40], [40, 48], [64, 48]]
    assert "GOMP_parallel" in meta["externals"]  # the parallel loop uses the runtime
    _check_artifact(res.artifact_path, func, ref)


def test_build_failure_is_a_result_and_the_rest_of_the_batch_builds():
    mod, func, ref = tiled_matmul()
    builder = LocalBuilder(max_workers=1, timeout_sec=30)
    try:
        res = builder.build([BuilderInput(invalid_func(), "llvm"), BuilderInput(mod, "llvm"),
                             BuilderInput("not a module", "llvm")])
    finally:
        builder.close()
    assert res[0].artifact_path is None
    assert "LocalBuilder: the build failed" in res[0].error_msg
    assert "variable k is used where it is not defined" in res[0].error_msg
    assert res[1].error_msg is None
    _check_artifact(res[1].artifact_path, func, ref)
    assert res[2].artifact_path is None and "IRModule or PrimFunc" in res[2].error_msg


def test_build_timeout_and_crash_are_results_and_the_next_build_succeeds():
    mod, func, ref = tiled_matmul()
    slow = LocalBuilder(max_workers=1, timeout_sec=2, f_build=sleepy_build)
    crash = LocalBuilder(max_workers=1, f_build=f"{__name__}:crashing_build")
    ok = LocalBuilder(max_workers=1)
    try:
        (r,) = slow.build([BuilderInput(mod, "llvm")])
        assert r.artifact_path is None
        assert "timed out after 2 s" in r.error_msg
        (r,) = crash.build([BuilderInput(mod, "llvm")])
        assert r.artifact_path is None and "signal 11 SIGSEGV" in r.error_msg
        (r,) = ok.build([BuilderInput(mod, "llvm")])
        assert r.error_msg is None
        _check_artifact(r.artifact_path, func, ref)
    finally:
        for b in (slow, crash, ok):
            b.close()


def test_custom_f_build_and_f_export():
    mod, func, ref = tiled_matmul(33, 17, 5)  # non-divisible tiles
    builder = LocalBuilder(max_workers=1, f_build=jit_build,
                           f_export=f"{__name__}:export_with_note")
    try:
        (res,) = builder.build([BuilderInput(mod, "llvm")])
    finally:
        builder.close()
    assert res.error_msg is None, res.error_msg
    with open(os.path.join(os.path.dirname(res.artifact_path), "note.json")) as f:
        note = json.load(f)
    assert note["exported_by"] == "export_with_note" and note["pid"] != os.getpid()
    _check_artifact(res.artifact_path, func, ref)


def test_closures_are_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="lambda or a nested function"):
        LocalBuilder(f_build=lambda mod, target, params: None)
    with pytest.raises(ValueError, match="module:function"):
        LocalBuilder(f_export="no_colon_here")
    with pytest.raises(ValueError, match="not a module-level function"):
        LocalBuilder(f_export=Target("llvm").as_json)  # a bound method


def test_max_workers_builds_in_parallel():
    mod, _, _ = tiled_matmul()
    builder = LocalBuilder(max_workers=2, f_build=slow_build, f_export=export_timing)
    try:
        res = builder.build([BuilderInput(mod, "llvm"), BuilderInput(mod, "llvm")])
    finally:
        builder.close()
    spans = []
    for r in res:
        assert r.error_msg is None, r.error_msg
        with open(os.path.join(os.path.dirname(r.artifact_path), "timing.json")) as f:
            spans.append(json.load(f))
    (pid0, s0, e0), (pid1, s1, e1) = spans
    assert pid0 != pid1
    assert max(s0, s1) < min(e0, e1)  # the two builds overlapped in time


def test_workers_are_recycled(monkeypatch):
    monkeypatch.setattr(lb, "MAX_BUILDS_PER_WORKER", 2)
    mod, _, _ = tiled_matmul(8, 8, 8)
    builder = LocalBuilder(max_workers=1, f_build=pid_build, f_export=export_timing)
    try:
        res = builder.build([BuilderInput(mod, "llvm") for _ in range(3)])
    finally:
        builder.close()
    pids = []
    for r in res:
        with open(os.path.join(os.path.dirname(r.artifact_path), "timing.json")) as f:
            pids.append(json.load(f)[0])
    assert pids[0] == pids[1] != pids[2]  # a new worker after two builds


def test_create_local_and_params_travel():
    b = Builder.create("local", max_workers=1)
    assert isinstance(b, LocalBuilder) and b.max_workers == 1
    with pytest.raises(ValueError, match="unknown Builder kind"):
        Builder.create("remote")
    params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    enc = lb._decode_params(json.loads(json.dumps(lb._encode_params(params))))
    np.testing.assert_array_equal(enc["w"], params["w"])


def test_layout_rewrite_blocks_are_removed_before_codegen():
    """A weight repacked by RewriteLayout arrives at the kernel already repacked: the
    artifact takes B_global, as ArgInfo.from_entry_func says, and computes A @ B."""
    from postproc_workloads import tiled_matmul as ms_tiled_matmul

    from onnxtune.tuner.arg_info import ArgInfo
    from onnxtune.tuner.postproc import Postproc

    decisions = {("s", 0): [1, 4, 4, 4], ("s", 1): [1, 4, 1, 12], ("r", 0): [4, 8]}
    sch, func, _ = ms_tiled_matmul(decisions=decisions, layout_free=True)
    for p in Postproc.create("llvm"):
        assert p.apply(sch), type(p).__name__
    builder = LocalBuilder(max_workers=1)
    try:
        (res,) = builder.build([BuilderInput(sch.mod, "llvm")])
    finally:
        builder.close()
    assert res.error_msg is None, res.error_msg
    mod = load_artifact(res.artifact_path)
    params = mod.signature("main")
    assert [p.name for p in params] == ["A", "B_global", "C"]
    infos = ArgInfo.from_entry_func(sch.mod)
    assert [p.shape for p in params] == [i.shape for i in infos]
    a, b, c = testing.make_args(func)
    packed = b.reshape(4, 8, 4, 12).transpose(2, 0, 1, 3).copy()
    mod["main"](a, packed, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    mod.close()

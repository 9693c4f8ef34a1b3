"""LocalRunner: timing built candidates in a worker process, EvaluatorConfig, the
customization hooks, futures, and inputs it cannot run."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.arg_info import ArgInfo
from onnxtune.tuner.builder import BuilderInput, LocalBuilder
from onnxtune.tuner.runner import (
    EvaluatorConfig,
    LocalRunner,
    LocalRunnerFuture,
    Runner,
    RunnerInput,
)
from onnxtune.tuner.runner.local_runner import default_alloc_argument
from onnxtune.tuner.runner.utils import alloc_argument_common, cpu_cache_flush

FAST = EvaluatorConfig(number=2, repeat=3, min_repeat_ms=5)


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path, monkeypatch):
    """Worker processes started in a test write their artifacts under its tmp_path."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def tiled_matmul(m, n, k):
    func, ref = testing.matmul(m, n, k)
    sch = Schedule(func)
    i, j, kk = sch.get_loops(sch.get_block("C"))
    i0, i1 = sch.split(i, [None, 16])
    j0, j1 = sch.split(j, [None, 16])
    sch.reorder(i0, j0, kk, i1, j1)
    sch.parallel(i0)
    sch.vectorize(j1)
    return sch.mod, func, ref


@pytest.fixture(scope="module")
def matmul_artifact(tmp_path_factory):
    """(artifact path, args_info, numpy reference) of a built 96x80x64 tiled matmul."""
    mod, func, ref = tiled_matmul(96, 80, 64)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(tmp_path_factory.mktemp("artifacts")))
        builder = LocalBuilder(max_workers=1)
        try:
            (res,) = builder.build([BuilderInput(mod, "llvm")])
        finally:
            builder.close()
    assert res.error_msg is None, res.error_msg
    return res.artifact_path, ArgInfo.from_prim_func(func), ref


# -- customization hooks (module level: the worker imports them by name) --------------------
def ones_alloc(device, args_info, alloc_repeat):
    """Every input is all ones, outputs zero; args_info arrives as JSON."""
    assert str(device) == "cpu(0)"
    out = []
    for _ in range(alloc_repeat):
        arrays = [np.ones(shape, dtype) for _, dtype, shape in args_info]
        arrays[-1][...] = 0
        out.append(arrays)
    return out


def checking_evaluator(rt_mod, device, evaluator_config, repeated_args):
    """Runs the entry function once per argument set and reports what it computed."""
    for args in repeated_args:
        rt_mod[rt_mod.entry](*args)
    a, b, c = repeated_args[0]
    ok = np.allclose(c, a @ b)
    return [1.0 if ok else -1.0, float(len(repeated_args)), float(evaluator_config.number)]


def cleanup_marker():
    path = os.environ["ONNXTUNE_TEST_CLEANUP_MARKER"]
    with open(path, "a") as f:
        f.write(f"cleaned {time.time()}\n")


# -- tests ---------------------------------------------------------------------------------
def test_runs_a_scheduled_matmul_with_plausible_times(matmul_artifact):
    path, info, _ = matmul_artifact
    runner = LocalRunner(timeout_sec=30, evaluator_config=FAST, alloc_repeat=2)
    try:
        (fut,) = runner.run([RunnerInput(path, "cpu", info)])
        res = fut.result()
    finally:
        runner.close()
    assert fut.done()
    assert res.error_msg is None, res.error_msg
    assert len(res.run_secs) == 6  # alloc_repeat x repeat
    flops = 2 * 96 * 80 * 64
    for s in res.run_secs:
        assert s > 0
        # slower than 10 TFLOP/s (2 cores cannot do more) and faster than 1 MFLOP/s
        assert flops / 1e13 < s < flops / 1e6


def test_cache_flush_and_json_args_info(matmul_artifact):
    path, info, _ = matmul_artifact
    cfg = EvaluatorConfig(number=1, repeat=3, min_repeat_ms=0, enable_cpu_cache_flush=True)
    runner = LocalRunner(timeout_sec=30, evaluator_config=cfg)
    try:
        (res,) = [f.result() for f in runner.run([RunnerInput(path, "cpu",
                                                              [a.as_json() for a in info])])]
    finally:
        runner.close()
    assert res.error_msg is None, res.error_msg
    assert len(res.run_secs) == 3 and all(s > 0 for s in res.run_secs)


def test_custom_alloc_run_evaluator_and_cleanup(matmul_artifact, tmp_path, monkeypatch):
    path, info, _ = matmul_artifact
    marker = tmp_path / "cleanup.txt"
    monkeypatch.setenv("ONNXTUNE_TEST_CLEANUP_MARKER", str(marker))
    runner = LocalRunner(
        timeout_sec=30, evaluator_config=EvaluatorConfig(number=7), alloc_repeat=3,
        f_alloc_argument=ones_alloc, f_run_evaluator=f"{__name__}:checking_evaluator",
        f_cleanup=cleanup_marker, cooldown_sec=0.3,
    )
    try:
        res = [f.result() for f in runner.run([RunnerInput(path, "cpu", info)] * 2)]
    finally:
        runner.close()
    for r in res:
        assert r.error_msg is None, r.error_msg
        assert r.run_secs == [1.0, 3.0, 7.0]  # correct result, 3 arg sets, config passed
    lines = marker.read_text().split()
    assert lines[0::2] == ["cleaned", "cleaned"]
    # the second candidate started at least cooldown_sec after the first one ended
    assert float(lines[3]) - float(lines[1]) >= 0.3


def test_inputs_it_cannot_run_are_error_results(matmul_artifact, tmp_path):
    path, info, _ = matmul_artifact
    wrong = [ArgInfo.from_json(["TENSOR", "float32", [5, 5]])] * 3
    runner = LocalRunner(timeout_sec=30, evaluator_config=FAST)
    try:
        futs = runner.run([
            RunnerInput(path, "cuda", info),
            RunnerInput(str(tmp_path / "missing.o"), "cpu", info),
            RunnerInput(path, "cpu", wrong),
            RunnerInput(path, "cpu", info),
        ])
        res = [f.result() for f in futs]
    finally:
        runner.close()
    assert "device_type 'cuda' is not supported" in res[0].error_msg
    assert "missing.json" in res[1].error_msg
    assert "has shape (5, 5), expected (96, 64)" in res[2].error_msg
    assert res[3].error_msg is None and res[3].run_secs


def test_evaluator_config_defaults_and_validation():
    assert EvaluatorConfig() == (3, 1, 100, False)
    cfg = EvaluatorConfig.normalize({"number": 5})
    assert cfg.number == 5 and cfg.repeat == 1 and cfg.min_repeat_ms == 100
    assert EvaluatorConfig.from_json(json.loads(json.dumps(cfg.as_json()))) == cfg
    assert EvaluatorConfig.normalize(EvaluatorConfig(None, None, None, None)) == EvaluatorConfig()
    with pytest.raises(ValueError, match="must be at least 1"):
        EvaluatorConfig.normalize(EvaluatorConfig(number=0))
    with pytest.raises(ValueError, match="unknown fields"):
        EvaluatorConfig.normalize({"numbr": 3})


def test_create_kinds_and_futures():
    r = Runner.create("local", timeout_sec=5)
    assert isinstance(r, LocalRunner) and r.timeout_sec == 5
    r.close()
    with pytest.raises(NotImplementedError, match="RPC runner"):
        Runner.create("rpc")
    ready = LocalRunnerFuture([1e-3])
    assert ready.done() and ready.result().run_secs == [1e-3]
    with pytest.raises(ValueError, match="timeout_sec"):
        LocalRunner(timeout_sec=0)


def test_argument_allocation_and_cache_flush_helpers():
    info = [["TENSOR", "float32", [3, 4]], ["TENSOR", "int8", [5]], ["TENSOR", "bool", [2]],
            ["TENSOR", "float16", []]]
    sets = default_alloc_argument(None, info, 2)
    assert len(sets) == 2
    a, b, c, d = sets[0]
    assert a.shape == (3, 4) and a.dtype == np.float32 and np.all(np.abs(a) <= 1)
    assert b.dtype == np.int8 and c.dtype == np.bool_ and d.dtype == np.float16
    assert isinstance(d, np.ndarray) and d.shape == ()
    assert not np.array_equal(sets[0][0], sets[1][0])  # independent sets
    again = alloc_argument_common(info, 2)
    np.testing.assert_array_equal(again[1][0], sets[1][0])  # reproducible (fixed seed)
    x = np.arange(100000, dtype=np.float32)
    cpu_cache_flush([x, np.empty(0, np.float32), np.ones(3, np.int8)])
    assert x[12345] == 12345  # flushing keeps the data

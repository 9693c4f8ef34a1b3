"""tune_tir / tune_tasks / compile_tir: the tuning loop end to end on small matmuls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tuning_standins import FnSpace, InProcessBuilder, InProcessRunner, TileScoreModel

from onnxtune.compile import build
from onnxtune.tir import testing
from onnxtune.tuner.builder import Builder, BuilderResult
from onnxtune.tuner.database import JSONDatabase, MemoryDatabase
from onnxtune.tuner.search_strategy import EvolutionarySearch, ReplayTrace
from onnxtune.tuner.search_strategy.search_strategy import module_key
from onnxtune.tuner.tir_integration import compile_tir, tune_tir
from onnxtune.tuner.tune import tune_tasks
from onnxtune.tuner.tune_context import TuneContext

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _evo():
    return EvolutionarySearch(population_size=24, init_min_unmeasured=4, genetic_num_iters=2)


def _tune(work_dir, func, trials, *, builder=None, strategy=None, database="json", seed=1):
    return tune_tir(func, "llvm", str(work_dir), trials, num_trials_per_iter=4,
                    builder=builder or InProcessBuilder(), runner=InProcessRunner(),
                    database=database, cost_model=TileScoreModel(), space=FnSpace(),
                    strategy=strategy or _evo(), seed=seed, task_scheduler="round-robin")


def _check(sch, func, ref):
    args = testing.make_args(func, seed=4)
    build(sch.mod)["main"](*args)
    np.testing.assert_allclose(args[-1], ref(*args[:-1]), rtol=1e-4, atol=1e-4)


def test_tune_tir_records_best_schedule_and_logs(tmp_path):
    func, ref = testing.matmul(64, 64, 64)
    db = _tune(tmp_path, func, 8)
    assert isinstance(db, JSONDatabase) and len(db) == 8
    recs = db.get_all_tuning_records()
    assert all(r.is_valid() for r in recs)
    assert len({module_key(r.schedule().mod) for r in recs}) == 8  # nothing measured twice
    for name in ("database_workload.json", "database_tuning_record.json"):
        assert os.path.getsize(tmp_path / name) > 0
    assert os.path.exists(tmp_path / "logs" / "task_0_main.log")
    assert "round done" in (tmp_path / "logs" / "task_0_main.log").read_text()
    assert "Total trials: 8" in (tmp_path / "logs" / "tuning_statistics.txt").read_text()
    sch = compile_tir(db, func, "llvm")
    best = min(recs, key=lambda r: r.mean_secs())
    assert module_key(sch.mod) == module_key(best.schedule().mod)
    _check(sch, func, ref)


def test_compile_tir_from_a_fresh_process_and_resume(tmp_path):
    func, ref = testing.matmul(32, 48, 16)
    db = _tune(tmp_path, func, 6)
    want = module_key(compile_tir(db, func, "llvm").mod)
    code = textwrap.dedent(f"""
        import json
        from onnxtune.tir import testing
        from onnxtune.tuner.database import JSONDatabase
        from onnxtune.tuner.search_strategy.search_strategy import module_key
        from onnxtune.tuner.tir_integration import compile_tir
        db = JSONDatabase(work_dir={str(tmp_path)!r})
        sch = compile_tir(db, testing.matmul(32, 48, 16)[0], "llvm")
        print(json.dumps([len(db), module_key(sch.mod)]))
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    n, key = json.loads(out.stdout.strip().splitlines()[-1])
    assert (n, key) == (6, want)
    # a rerun on the same work_dir continues: 6 more trials, none measured again
    db2 = _tune(tmp_path, func, 12, seed=1)
    recs = db2.get_all_tuning_records()
    assert len(recs) == 12
    assert len({module_key(r.schedule().mod) for r in recs}) == 12
    _check(compile_tir(db2, func, "llvm"), func, ref)


def test_compile_tir_without_records_is_none():
    func, _ = testing.matmul(16, 16, 16)
    assert compile_tir(MemoryDatabase(), func, "llvm") is None
    with pytest.raises(TypeError, match="database must be a Database"):
        compile_tir("db", func, "llvm")


class _FailFor(Builder):
    """Builds normally except for modules whose first argument has ``shape``."""

    def __init__(self, shape):
        self.shape, self.inner = shape, InProcessBuilder()

    def build(self, build_inputs):
        out = []
        for inp in build_inputs:
            shape = inp.mod["main"].params[0].static_shape()
            if tuple(shape) == self.shape:
                out.append(BuilderResult(None, "segmentation fault (injected)"))
            else:
                out.append(self.inner.build([inp])[0])
        return out


def test_a_task_whose_candidates_all_fail_still_spends_its_budget(tmp_path):
    good, ref = testing.matmul(32, 32, 32)
    bad, _ = testing.matmul(16, 16, 16)
    tasks = [TuneContext(f, target="llvm", space_generator=FnSpace(), search_strategy=s,
                         task_name=n, rand_state=3)
             for f, s, n in ((good, _evo(), "good"), (bad, ReplayTrace(), "bad"))]
    db = tune_tasks(tasks=tasks, task_weights=[1.0, 1.0], work_dir=str(tmp_path),
                    max_trials_global=12, max_trials_per_task=6, num_trials_per_iter=3,
                    builder=_FailFor((16, 16)), runner=InProcessRunner(), database="memory",
                    cost_model=TileScoreModel(), task_scheduler="round-robin")
    recs = db.get_all_tuning_records()
    assert len(recs) == 12
    failed = [r for r in recs if not r.is_valid()]
    assert len(failed) == 6 and all("segmentation fault" in r.error_msg for r in failed)
    assert compile_tir(db, bad, "llvm") is None
    _check(compile_tir(db, good, "llvm"), good, ref)
    assert "build error" in (tmp_path / "logs" / "task_1_bad.log").read_text()


def test_tune_tasks_checks_its_arguments(tmp_path):
    func, _ = testing.matmul(16, 16, 16)
    ctx = TuneContext(func, target="llvm", space_generator=FnSpace(), search_strategy=_evo())
    common = {"work_dir": str(tmp_path), "max_trials_global": 4,
              "builder": InProcessBuilder(), "runner": InProcessRunner()}
    with pytest.raises(ValueError, match="no tasks"):
        tune_tasks(tasks=[], task_weights=[], **common)
    with pytest.raises(ValueError, match="1 tasks but 2 weights"):
        tune_tasks(tasks=[ctx], task_weights=[1.0, 2.0], **common)
    with pytest.raises(TypeError, match="database must be a Database"):
        tune_tasks(tasks=[ctx], task_weights=[1.0], database=42, cost_model=None, **common)
    with pytest.raises(ValueError, match="has no search_strategy"):
        tune_tasks(tasks=[TuneContext(func, target="llvm", space_generator=FnSpace())],
                   task_weights=[1.0], **common)
    with pytest.raises(ValueError, match="special_space names"):
        tune_tir(func, "llvm", str(tmp_path), 4, special_space={"nope": FnSpace()})


_DEFAULT_PARTS = ("builder.local_builder", "runner.local_runner", "cost_model.xgb_model",
                  "space_generator.post_order_apply", "schedule_rule.multi_level_tiling",
                  "postproc.rewrite_parallel_vectorize_unroll", "mutator.mutate_tile_size")


def _have_default_parts() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(f"onnxtune.tuner.{m}") is not None
               for m in _DEFAULT_PARTS)


@pytest.mark.skipif(not _have_default_parts(), reason="the default tuner parts are not built")
def test_tune_tir_end_to_end_with_the_default_parts(tmp_path):
    """post-order-apply space, evolutionary search, XGB model, local builder and runner."""
    from onnxtune.tuner.runner.config import EvaluatorConfig
    from onnxtune.tuner.runner.local_runner import LocalRunner

    func, ref = testing.matmul(128, 128, 128)

    def run(trials):
        return tune_tir(
            func, "llvm", str(tmp_path), trials, num_trials_per_iter=4,
            runner=LocalRunner(evaluator_config=EvaluatorConfig(number=2, repeat=1,
                                                                min_repeat_ms=0)),
            strategy=EvolutionarySearch(population_size=24, init_min_unmeasured=4,
                                        genetic_num_iters=1),
            seed=0)

    db = run(8)
    recs = db.get_all_tuning_records()
    assert len(recs) == 8 and any(r.is_valid() for r in recs)
    _check(compile_tir(db, func, "llvm"), func, ref)
    db = run(12)  # a restart on the same work_dir continues from the 8 records
    recs = db.get_all_tuning_records()
    assert len(recs) == 12
    assert len({module_key(r.schedule().mod) for r in recs}) == 12


# -- module-level hooks: LocalBuilder / LocalRunner workers import them by name -------------
def crashing_evaluator(rt_mod, device, evaluator_config, repeated_args):
    """Segfaults on 24-row problems, never returns on 40-row ones, else times normally."""
    import signal
    import time

    from onnxtune.tuner.runner.local_runner import default_run_evaluator

    rows = repeated_args[0][0].shape[0]
    if rows == 24:
        os.kill(os.getpid(), signal.SIGSEGV)
    if rows == 40:
        time.sleep(3600)
    return default_run_evaluator(rt_mod, device, evaluator_config, repeated_args)


def failing_build(mod, target, params=None):
    """Fails to build 56-row problems."""
    from onnxtune.tuner.builder.local_builder import default_build

    if mod["main"].params[0].static_shape()[0] == 56:
        raise RuntimeError("injected build failure")
    return default_build(mod, target, params)


@pytest.mark.skipif(not _have_default_parts(), reason="the default tuner parts are not built")
def test_segfault_hang_and_build_failure_tasks_finish_their_budgets(tmp_path, monkeypatch):
    from onnxtune.tuner.builder.local_builder import LocalBuilder
    from onnxtune.tuner.runner.config import EvaluatorConfig
    from onnxtune.tuner.runner.local_runner import LocalRunner

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    sizes = {"ok": 32, "segfault": 24, "hang": 40, "build": 56}
    funcs = {name: testing.matmul(m, 16, 16) for name, m in sizes.items()}
    tasks = [TuneContext(funcs[name][0], target="llvm", space_generator=FnSpace(),
                         search_strategy=ReplayTrace(), task_name=name, rand_state=2)
             for name in sizes]
    builder = LocalBuilder(max_workers=1, f_build=f"{__name__}:failing_build")
    runner = LocalRunner(timeout_sec=8, f_run_evaluator=f"{__name__}:crashing_evaluator",
                         evaluator_config=EvaluatorConfig(number=1, repeat=1, min_repeat_ms=0))
    try:
        db = tune_tasks(tasks=tasks, task_weights=[1.0] * 4, work_dir=str(tmp_path),
                        max_trials_global=4, max_trials_per_task=1, num_trials_per_iter=1,
                        builder=builder, runner=runner, database="json", cost_model=None,
                        task_scheduler="round-robin")
    finally:
        for part in (builder, runner):
            getattr(part, "close", lambda: None)()
    for name, (func, ref) in funcs.items():
        wl = db.commit_workload(func)
        recs = db.records_of(wl)
        assert len(recs) == 1, name
        if name == "ok":
            assert all(r.is_valid() for r in recs)
            _check(compile_tir(db, func, "llvm"), func, ref)
        else:
            assert not any(r.is_valid() for r in recs) and all(r.error_msg for r in recs)
            assert compile_tir(db, func, "llvm") is None
    # the errors are on disk too: a fresh database reads 4 records, 3 with an error
    again = JSONDatabase(work_dir=str(tmp_path))
    assert len(again) == 4
    assert sum(1 for r in again.get_all_tuning_records() if r.error_msg) == 3

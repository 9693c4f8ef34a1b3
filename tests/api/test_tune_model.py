"""``tune_model`` end to end on a tiny model: the report, resume after SIGKILL, Ctrl-C, and a
database line cut short by a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnxtune
from onnxtune.tuner.database.json_database import RECORD_FILE
from onnxtune.tuning import onnxruntime_session

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUDGET = 6
PER_ITER = 2
# a small evolutionary population: the search is Python and this model needs no more
KWARGS = {"num_trials_per_iter": PER_ITER, "seed": 0, "progress": False, "benchmark": False,
          "population_size": 16}


def _tiny_model() -> onnx.ModelProto:
    """Conv + Relu + GlobalAveragePool + Flatten + MatMul on a 1×3×12×12 input."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3],
                           rng.standard_normal(216).astype(np.float32))
    fc = helper.make_tensor("fc", TensorProto.FLOAT, [8, 5],
                            rng.standard_normal(40).astype(np.float32))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], [w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    onnx.save(_tiny_model(), str(path))
    return str(path)


@pytest.fixture(scope="module")
def tuned(model_path, tmp_path_factory):
    """One tuning run with the full budget, shared by the tests that only read it."""
    work = str(tmp_path_factory.mktemp("tuned") / "work")
    return onnxtune.tune_model(model_path, work_dir=work, max_trials_global=BUDGET, **KWARGS)


def _record_lines(work_dir: str) -> list[str]:
    with open(os.path.join(work_dir, RECORD_FILE), encoding="utf-8") as f:
        return f.read().splitlines()


def _valid_records(work_dir: str) -> int:
    n = 0
    for line in _record_lines(work_dir):
        try:
            json.loads(line)
            n += 1
        except json.JSONDecodeError:
            pass
    return n


def _trials(work_dir: str) -> int:
    """Distinct (workload, schedule) pairs on record: the verification's re-measurements
    of a schedule are not trials."""
    seen = set()
    for line in _record_lines(work_dir):
        try:
            wl, rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        seen.add((wl, json.dumps(rec[0])))
    return len(seen)


def _assert_matches_onnxruntime(executable, model_path: str) -> None:
    """Our executable and onnxruntime agree on a random input (independent of the report)."""
    sess = onnxtune.InferenceSession(executable)
    x = np.random.default_rng(7).standard_normal((1, 3, 12, 12)).astype(np.float32)
    (ours,) = sess.run(None, {"x": x})
    (ref,) = onnxruntime_session(onnx.load(model_path), 2).run(None, {"x": x})
    diff = float(np.max(np.abs(ours - ref)))
    assert diff <= 1e-4 * float(np.max(np.abs(ref))) + 1e-5, diff


# -- (a) the result and its report ---------------------------------------------------------
def test_result_and_report_files(tuned, model_path):
    res = tuned
    assert isinstance(res, onnxtune.TuneResult)
    rep = res.report
    assert not rep.interrupted and rep.trials == BUDGET
    ver = rep.verification
    assert ver is not None and ver["tasks"] == len(res.tasks) and ver["schedules"] >= ver["tasks"]
    assert _trials(rep.work_dir) == BUDGET
    assert len(res.database) == BUDGET + ver["records"] == _valid_records(rep.work_dir)
    # one row per extracted task, in order, with the trials shared out over them
    assert len(res.tasks) >= 2 and len(rep.tasks) == len(res.tasks)
    assert [t.name for t in rep.tasks] == [t.task_name for t in res.tasks]
    assert sum(t.trials for t in rep.tasks) == BUDGET
    for row in rep.tasks:
        assert row.weight >= 1 and row.flop >= 0
        if row.trials:
            assert row.best_latency_us is not None and row.best_latency_us > 0
            assert row.gflops is not None and row.curve
    assert rep.schedules.get("tuned", 0) >= 1
    assert rep.accuracy is not None and rep.accuracy["ok"], rep.accuracy
    _assert_matches_onnxruntime(res.executable, model_path)
    # the report files
    with open(os.path.join(rep.work_dir, "report.json")) as f:
        data = json.load(f)
    assert data["trials"] == BUDGET and data["accuracy"]["ok"] and not data["interrupted"]
    assert [t["name"] for t in data["tasks"]] == [t.name for t in rep.tasks]
    with open(os.path.join(rep.work_dir, "report.txt")) as f:
        text = f.read()
    assert text.startswith("onnxtune report") and "accuracy vs onnxruntime: OK" in text
    assert f"of {len(res.tasks)} tasks re-measured side by side" in text
    model = ver["model"]  # then each task's choice timed in the model against its default
    assert model is not None and model["tasks"] == len(res.tasks)
    assert 0 <= model["switched"] <= model["tasks"] and model["tuned_ms"] > 0
    assert f"of {len(res.tasks)} tasks took their default schedule" in text
    assert data["verification"]["records"] == ver["records"]
    with open(os.path.join(rep.work_dir, "report.html")) as f:
        page = f.read()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert all(t.name in page for t in rep.tasks)


# -- (b) resume after SIGKILL --------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import onnxtune
    onnxtune.tune_model({model!r}, work_dir={work!r}, max_trials_global={budget},
                        num_trials_per_iter={per_iter}, seed=0, progress=False,
                        validate=False, benchmark=False, population_size=16)
""")


def test_resume_after_sigkill(model_path, tmp_path):
    work = str(tmp_path / "work")
    records = os.path.join(work, RECORD_FILE)
    code = CHILD.format(root=ROOT, model=model_path, work=work, budget=BUDGET,
                        per_iter=PER_ITER)
    # its own session, so that its worker processes can be cleaned up after the test
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            if os.path.exists(records) and len(_record_lines(work)) >= 2:
                break
            if proc.poll() is not None:
                pytest.fail(f"the tuning subprocess exited ({proc.returncode}) before writing "
                            f"2 records:\n{proc.stderr.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the tuning subprocess wrote no 2 records within 240 s")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:  # the builder / runner workers it left behind
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    with open(records, encoding="utf-8") as f:
        before = f.read()
    complete = before[: before.rfind("\n") + 1]  # a line cut by the kill may follow
    n_before = _valid_records(work)
    assert 2 <= n_before < BUDGET, f"the kill came too late to test resuming ({n_before})"

    res = onnxtune.tune_model(model_path, work_dir=work, max_trials_global=BUDGET, **KWARGS)
    with open(records, encoding="utf-8") as f:
        after = f.read()
    assert after.startswith(complete), "records written before the kill were changed"
    assert _trials(work) == BUDGET == res.report.trials
    n_ver = res.report.verification["records"]
    assert _valid_records(work) == BUDGET + n_ver == len(res.database)
    assert sum(t.trials for t in res.report.tasks) == BUDGET
    assert not res.report.interrupted
    assert res.report.accuracy is not None and res.report.accuracy["ok"], res.report.accuracy
    _assert_matches_onnxruntime(res.executable, model_path)


# -- (c) Ctrl-C ----------------------------------------------------------------------------
def test_keyboard_interrupt_keeps_records_and_compiles(model_path, tmp_path, monkeypatch):
    from onnxtune.tuner.task_scheduler.task_scheduler import TaskScheduler

    real = TaskScheduler._tune_one_round
    rounds = []

    def ctrl_c_after_first_batch(self, task_id):
        rounds.append(task_id)
        if len(rounds) > 1:
            raise KeyboardInterrupt  # Ctrl-C while the second batch is being measured
        real(self, task_id)

    monkeypatch.setattr(TaskScheduler, "_tune_one_round", ctrl_c_after_first_batch)
    work = str(tmp_path / "work")
    res = onnxtune.tune_model(model_path, work_dir=work, max_trials_global=BUDGET, **KWARGS)
    assert len(rounds) == 2
    rep = res.report
    assert rep.interrupted
    # one default-schedule measurement per task, then the first round's batch
    assert len(res.database) == len(res.tasks) + PER_ITER == _valid_records(work) == rep.trials
    assert rep.schedules.get("tuned", 0) + rep.schedules.get("anchor", 0) >= 1
    assert rep.accuracy is not None and rep.accuracy["ok"], rep.accuracy
    _assert_matches_onnxruntime(res.executable, model_path)
    with open(os.path.join(work, "report.json")) as f:
        assert json.load(f)["interrupted"] is True
    with open(os.path.join(work, "report.txt")) as f:
        assert "(interrupted)" in f.read()


# -- (d) a truncated last line -------------------------------------------------------------
def test_truncated_last_record_is_skipped_on_resume(tuned, model_path, tmp_path):
    work = str(tmp_path / "work")
    shutil.copytree(tuned.report.work_dir, work)
    path = os.path.join(work, RECORD_FILE)
    lines = _record_lines(work)[:BUDGET]  # the trials, without the verification's records
    assert _trials(tuned.report.work_dir) == BUDGET
    cut = lines[-1][: len(lines[-1]) // 2]  # killed in the middle of writing the last line
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:-1]) + "\n" + cut)
    with pytest.warns(UserWarning, match=r"database_tuning_record\.json:6: skipping a "
                                         r"malformed line"):
        res = onnxtune.tune_model(model_path, work_dir=work, max_trials_global=BUDGET,
                                  **KWARGS)
    # the cut line was skipped (not counted), one trial topped the budget up again, and the
    # new record went on a line of its own after the cut one
    new_lines = _record_lines(work)
    assert new_lines[: BUDGET - 1] == lines[:-1] and new_lines[BUDGET - 1] == cut
    assert json.loads(new_lines[BUDGET])
    assert _trials(work) == BUDGET == res.report.trials
    assert len(new_lines) == BUDGET + 1 + res.report.verification["records"]
    assert res.report.accuracy is not None and res.report.accuracy["ok"]
    _assert_matches_onnxruntime(res.executable, model_path)


# -- the default schedule is every task's first candidate ----------------------------------
def test_default_schedules_are_measured_first(model_path):
    from onnxtune.frontend import from_onnx
    from onnxtune.tuner.database import MemoryDatabase
    from onnxtune.tuner.relax_integration import extract_tasks
    from onnxtune.tuning import measure_default_schedules

    tasks = extract_tasks(from_onnx(model_path), "llvm", module_equality="anchor-block")
    db = MemoryDatabase(module_equality="anchor-block")
    assert measure_default_schedules(tasks, db, "llvm") == len(tasks)
    for t in tasks:
        rec = db.query_tuning_record(t.mod, "llvm")
        assert rec is not None and rec.is_valid() and rec.run_secs[0] > 0
    assert measure_default_schedules(tasks, db, "llvm") == 0  # already measured


def test_a_cache_flushing_evaluator_times_cold_single_runs(model_path, tmp_path):
    """evaluator_config reaches every runner: with the cache flush, each trial's record
    holds ``repeat`` samples of one cold run each (the default config records one average
    of 3 runs); the result still matches onnxruntime."""
    from onnxtune.tuner.database import JSONDatabase
    from onnxtune.tuner.runner import EvaluatorConfig
    from onnxtune.tuning import _evaluator_config

    cfg = _evaluator_config({"enable_cpu_cache_flush": True, "repeat": 3})
    assert cfg == EvaluatorConfig(number=1, repeat=3, min_repeat_ms=0,
                                  enable_cpu_cache_flush=True)
    assert _evaluator_config(None) is None
    assert _evaluator_config({"number": 2}).min_repeat_ms == 100  # no flush: as given
    work = str(tmp_path / "work")
    res = onnxtune.tune_model(model_path, work_dir=work, max_trials_global=4,
                              evaluator_config={"enable_cpu_cache_flush": True, "repeat": 3},
                              verify_top_k=1, **KWARGS)
    db = JSONDatabase(work_dir=work, module_equality="anchor-block")
    recs = db.get_all_tuning_records()
    trials = [len(r.run_secs) for r in recs if r.run_secs and r.verified is None]
    assert trials and all(n == 3 for n in trials)  # the defaults' and the search's
    verified = [len(r.run_secs) for r in recs if r.run_secs and r.verified is not None]
    assert any(n % 3 == 0 and n > 3 for n in verified)  # rounds of 3 cold samples
    _assert_matches_onnxruntime(res.executable, model_path)


# -- (g) the graph options a work_dir was tuned with ----------------------------------------
def _chain_model(k: int = 1) -> onnx.ModelProto:
    """Two 16-channel k x k convolutions (padded to keep the size): blocked (NCHW16c) by
    default, NCHW with ONNXTUNE_NCHWC=0."""
    rng = np.random.default_rng(1)
    inits = [helper.make_tensor(n, TensorProto.FLOAT, [16, 16, k, k],
                                (rng.standard_normal(256 * k * k) * 0.25 / k).astype(np.float32))
             for n in ("w1", "w2")]
    pads = [k // 2] * 4
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=pads),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"], pads=pads)]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 9, 9])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_work_dir_keeps_the_graph_options_it_was_tuned_with(tmp_path, monkeypatch):
    """Tuned with the blocked layout off, a work_dir says so in its config; compiling from
    it (and resuming it) with the layout back on in the environment uses the NCHW tasks
    its records were measured for. A work_dir from before the options were written down
    is NCHW."""
    model = _chain_model()
    work = str(tmp_path / "work")
    monkeypatch.setenv("ONNXTUNE_NCHWC", "0")
    res = onnxtune.tune_model(model, work_dir=work, max_trials_global=4, validate=False,
                              verify_top_k=0, **KWARGS)
    assert not any("nchwc" in t.task_name for t in res.tasks)
    with open(os.path.join(work, "onnxtune_config.json")) as f:
        assert json.load(f)["graph"] == {"nchwc": False, "pointwise_as_matmul": True,
                                         "nchwc_every_chain": True, "winograd": True}
    monkeypatch.delenv("ONNXTUNE_NCHWC")
    stats: dict[str, int] = {}
    onnxtune.compile_model(model, database=work, stats=stats)
    assert stats.get("tuned", 0) >= 1  # the records' NCHW tasks, found
    from onnxtune.frontend import from_onnx
    from onnxtune.tuner.relax_integration import extract_tasks

    # (without the work_dir the environment's default applies: blocked tasks)
    assert any("nchwc" in t.task_name for t in extract_tasks(from_onnx(model), "llvm"))
    again = onnxtune.tune_model(model, work_dir=work, max_trials_global=4, validate=False,
                                verify_top_k=0, **KWARGS)
    assert [t.task_name for t in again.tasks] == [t.task_name for t in res.tasks]
    with open(os.path.join(work, "onnxtune_config.json")) as f:
        config = json.load(f)
    del config["graph"]  # as an older onnxtune wrote it
    with open(os.path.join(work, "onnxtune_config.json"), "w") as f:
        json.dump(config, f)
    legacy: dict[str, int] = {}
    onnxtune.compile_model(model, database=work, stats=legacy)
    assert legacy.get("tuned", 0) >= 1


def test_a_work_dir_from_before_every_chain_was_blocked_keeps_its_3x3_chains_nchw(
        tmp_path, monkeypatch):
    """A chain of 3x3 convolutions runs blocked by default; tuned with
    ONNXTUNE_NCHWC_EVERY_CHAIN=0 (or by an onnxtune that recorded only ``nchwc`` and
    ``pointwise_as_matmul``: it blocked only chains at least half 1x1) it stays NCHW, and
    compiling from that work_dir finds the NCHW tasks its records were measured for."""
    from onnxtune.frontend import from_onnx
    from onnxtune.tuner.relax_integration import extract_tasks

    model = _chain_model(3)
    monkeypatch.setenv("ONNXTUNE_WINOGRAD", "0")  # (its 3x3s would run as Winograd)
    assert any("nchwc" in t.task_name for t in extract_tasks(from_onnx(model), "llvm"))
    work = str(tmp_path / "work")
    monkeypatch.setenv("ONNXTUNE_NCHWC_EVERY_CHAIN", "0")
    res = onnxtune.tune_model(model, work_dir=work, max_trials_global=4, validate=False,
                              verify_top_k=0, **KWARGS)
    assert not any("nchwc" in t.task_name for t in res.tasks)
    monkeypatch.delenv("ONNXTUNE_NCHWC_EVERY_CHAIN")
    config_path = os.path.join(work, "onnxtune_config.json")
    with open(config_path) as f:
        config = json.load(f)
    assert config["graph"]["nchwc_every_chain"] is False
    config["graph"] = {"nchwc": True, "pointwise_as_matmul": True}  # as the last version
    with open(config_path, "w") as f:
        json.dump(config, f)
    stats: dict[str, int] = {}
    ex = onnxtune.compile_model(model, database=work, stats=stats)
    assert stats.get("tuned", 0) >= 1, stats  # (blocked tasks would find no record)
    x = np.random.default_rng(2).standard_normal((1, 16, 9, 9)).astype(np.float32)
    ref = onnxruntime_session(model, 1).run(None, {"x": x})[0]
    np.testing.assert_allclose(onnxtune.InferenceSession(ex).run(None, {"x": x})[0], ref,
                               rtol=1e-4, atol=1e-4)

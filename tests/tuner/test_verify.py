"""The database ranks a schedule by its latest measurement, and verify_best_records
re-measures the leading schedules so that one lucky measurement cannot win."""

from __future__ import annotations

import json

import numpy as np
import pytest

from onnxtune.tir import te
from onnxtune.tir.function import IRModule
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.arg_info import ArgInfo
from onnxtune.tuner.database import JSONDatabase, MemoryDatabase, TuningRecord
from onnxtune.tuner.verify import verify_best_records


def _matmul(n: int = 128) -> IRModule:
    a = te.placeholder((n, n), "float32", name="A")
    b = te.placeholder((n, n), "float32", name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return IRModule({"main": te.create_prim_func([a, b, c])})


def _naive(mod: IRModule) -> Schedule:
    return Schedule(mod)  # the unscheduled triple loop: i, j, k with a strided B load


def _tiled(mod: IRModule, width: int = 16) -> Schedule:
    s = Schedule(mod)
    blk = s.get_block("C")
    i, j, k = s.get_loops(blk)
    jo, ji = s.split(j, [None, width])
    s.reorder(i, jo, k, ji)
    s.vectorize(ji)
    s.decompose_reduction(blk, k)
    return s


def _record(sch: Schedule, wl, secs):
    return TuningRecord(sch.trace, wl, secs, None, ArgInfo.from_entry_func(sch.mod))


def test_a_later_measurement_of_the_same_schedule_supersedes_the_earlier():
    mod = _matmul(16)
    db = MemoryDatabase()
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    db.commit_tuning_record(_record(slow, wl, [1e-6]))
    db.commit_tuning_record(_record(fast, wl, [2e-6]))
    assert db.get_top_k(wl, 1)[0].run_secs == [1e-6]
    db.commit_tuning_record(_record(slow, wl, [3e-6, 3e-6]))  # re-measured: slower
    top = db.get_top_k(wl, 5)
    assert [r.run_secs for r in top] == [[2e-6], [3e-6, 3e-6]]
    db.commit_tuning_record(_record(fast, wl, None))  # re-measured: it failed this time
    assert [r.run_secs for r in db.get_top_k(wl, 5)] == [[3e-6, 3e-6]]
    assert len(db) == 4  # every record is kept


def test_the_latest_measurement_wins_after_reloading_a_json_database(tmp_path):
    mod = _matmul(16)
    db = JSONDatabase(work_dir=str(tmp_path))
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    db.commit_tuning_record(_record(slow, wl, [1e-6]))
    db.commit_tuning_record(_record(fast, wl, [2e-6]))
    db.commit_tuning_record(_record(slow, wl, [5e-6]))
    again = JSONDatabase(work_dir=str(tmp_path))
    top = again.get_top_k(again.commit_workload(mod), 2)
    assert [r.run_secs for r in top] == [[2e-6], [5e-6]]


def test_verification_replaces_a_lucky_measurement_and_keeps_the_faster_schedule(tmp_path):
    mod = _matmul(128)
    db = JSONDatabase(work_dir=str(tmp_path))
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    # the naive loop (strided loads, no vectors) was "measured" absurdly fast once
    db.commit_tuning_record(_record(slow, wl, [1e-9]))
    db.commit_tuning_record(_record(fast, wl, [1.0]))
    assert db.query_tuning_record(mod).run_secs == [1e-9]
    (res,) = verify_best_records(db, [mod], "llvm", top_k=2, rounds=3, min_repeat_ms=5)
    assert res.measured == 2 and res.changed
    assert res.before_secs == pytest.approx(1e-9)
    best = db.query_tuning_record(mod)
    assert len(best.run_secs) == 3 and all(0 < s < 1.0 for s in best.run_secs)
    assert best.trace.as_json() == fast.trace.as_json()
    assert res.after_secs == pytest.approx(np.mean(best.run_secs))
    # the new measurements are on disk: a fresh process compiles the same choice
    again = JSONDatabase(work_dir=str(tmp_path))
    assert again.query_tuning_record(mod).trace.as_json() == fast.trace.as_json()


def test_extra_schedules_are_measured_and_can_win(tmp_path):
    mod = _matmul(128)
    db = MemoryDatabase()
    wl = db.commit_workload(mod)
    db.commit_tuning_record(_record(_naive(mod), wl, [1e-9]))
    (res,) = verify_best_records(db, [wl], "llvm", top_k=1, rounds=2, min_repeat_ms=5,
                                 extra={0: [_tiled(mod)]})
    assert res.measured == 2
    assert db.query_tuning_record(mod).trace.as_json() == _tiled(mod).trace.as_json()


def test_verified_schedules_rank_first_until_the_next_verification(tmp_path):
    mod = _matmul(128)
    db = JSONDatabase(work_dir=str(tmp_path))
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod, 8)
    db.commit_tuning_record(_record(slow, wl, [1e-9]))
    (res,) = verify_best_records(db, [wl], "llvm", top_k=1, rounds=2, min_repeat_ms=5)
    assert res.measured == 1 and not res.changed
    verified = db.get_top_k(wl, 1)[0]
    assert verified.verified is not None and len(verified.run_secs) == 2
    # a later tuning run measures a schedule once, luckily: it ranks after the verified
    # one (its time is not comparable), though top_measured ranks it first
    db.commit_tuning_record(_record(fast, wl, [1e-9]))
    assert db.get_top_k(wl, 1)[0].trace.as_json() == slow.trace.as_json()
    assert db.top_measured(wl, 1)[0].trace.as_json() == fast.trace.as_json()
    # the next verification races it against the leader, side by side
    (res,) = verify_best_records(db, [wl], "llvm", top_k=1, rounds=2, min_repeat_ms=5)
    assert res.measured == 2 and res.changed
    best = db.get_top_k(wl, 1)[0]
    assert best.trace.as_json() == fast.trace.as_json() and best.verified > verified.verified
    # the stamps survive a reload
    again = JSONDatabase(work_dir=str(tmp_path))
    top = again.get_top_k(again.commit_workload(mod), 2)
    assert [r.verified for r in top] == [best.verified, best.verified]
    assert top[0].trace.as_json() == fast.trace.as_json()


def test_record_json_keeps_errors_and_stamps():
    mod = _matmul(16)
    wl = MemoryDatabase().commit_workload(mod)
    sch = _tiled(mod)
    for err, stamp in [(None, None), ("boom", None), (None, 7), ("boom", 7)]:
        rec = TuningRecord(sch.trace, wl, None if err else [1e-3], None, None, err, stamp)
        back = TuningRecord.from_json(json.loads(json.dumps(rec.as_json())), wl)
        assert (back.error_msg, back.verified, back.run_secs) == (err, stamp, rec.run_secs)
    bad = rec.as_json()
    bad[4] = {"verified": "yesterday"}
    with pytest.raises(ValueError, match="'verified' must be an integer"):
        TuningRecord.from_json(bad, wl)


def test_verification_checks_its_arguments():
    with pytest.raises(ValueError, match="top_k"):
        verify_best_records(MemoryDatabase(), [], "llvm", top_k=0)


# -- in the model: tuned or default, task by task ----------------------------------------
def test_select_in_model_switches_a_task_whose_record_is_slower_in_the_model():
    """A task whose leading record is the unscheduled loop nest (recorded absurdly fast):
    timed in the model against its default schedule it loses, the task switches, both get
    a record under a new stamp, and compiling again uses the default schedule. A task
    whose leader is its default schedule stays as it is."""
    from onnx import TensorProto, helper, numpy_helper

    from onnxtune.compile.default_schedule import default_schedule_of
    from onnxtune.frontend.onnx import from_onnx
    from onnxtune.tuner.database.memory_database import schedule_key
    from onnxtune.tuner.relax_integration import compile_relax, extract_tasks
    from onnxtune.tuner.verify import select_in_model

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((32, 16, 3, 3)) * 0.2).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Sigmoid", ["r"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 24, 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 24, 24])],
        [numpy_helper.from_array(w, "w")])
    mod = from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    # one thread: under a loaded machine (the suite runs on two workers) a parallel kernel
    # waits at its barrier for a descheduled thread and can lose to a serial one; serial
    # against serial, the scalar loop nest is 10-30x slower than the vectorized tile
    target = "llvm -num-cores=1"
    tasks = extract_tasks(mod, target, module_equality="anchor-block")
    assert len(tasks) == 1
    db = MemoryDatabase(module_equality="anchor-block")
    wl = db.commit_workload(tasks[0].mod)
    naive = Schedule(tasks[0].mod)
    db.commit_tuning_record(_record(naive, wl, [1e-9]))
    sel = select_in_model(db, mod, tasks, target, rounds=5)
    assert sel is not None and sel.tasks == 1 and sel.switched == 1
    assert sel.default_ms < sel.tuned_ms and sel.chosen_ms < sel.tuned_ms
    assert len(db) == 3
    top = db.get_top_k(wl, 2)
    dflt = default_schedule_of(tasks[0].mod["main"], target)
    assert schedule_key(top[0].trace) == schedule_key(dflt.trace)
    assert schedule_key(top[1].trace) == schedule_key(naive.trace)
    assert top[0].verified is not None and top[0].verified == top[1].verified
    # compiled again from the database: the default schedule, the same outputs
    x = rng.standard_normal((1, 16, 24, 24)).astype(np.float32)
    from onnxtune.compile.executable import VirtualMachine

    got = VirtualMachine(compile_relax(db, mod, target))["main"](x)
    want = VirtualMachine(compile_relax(None, mod, target))["main"](x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # run again: the leader is the default schedule now, nothing more to switch
    again = select_in_model(db, mod, tasks, target, rounds=3)
    assert again is not None and again.switched == 0 and len(db) == 3

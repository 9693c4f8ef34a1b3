"""relax_integration: task extraction under each module_equality, compile_relax from a database."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from onnxtune import models
from onnxtune.compile import VirtualMachine
from onnxtune.frontend import from_onnx
from onnxtune.tir import Schedule
from onnxtune.tuner.database import MemoryDatabase, TuningRecord
from onnxtune.tuner.relax_integration import (
    compile_relax,
    extract_tasks,
    extracted_tasks_to_tune_contexts,
)


@pytest.fixture(scope="module")
def model():
    return models.get_model("resnet18_small")


@pytest.fixture(scope="module")
def mod(model):
    return from_onnx(model)


def test_modes_group_functions(mod):
    counts = {}
    for mode in ("structural", "ignore-tensor", "anchor-block"):
        tasks = extract_tasks(mod, "llvm", module_equality=mode)
        counts[mode] = len(tasks)
        # every call of every kernel is counted once, whatever the grouping (20
        # convolutions, two pools, flatten, dense, and the layout transform out of the
        # blocked convolutions; the 4 unit-stride 3x3s of the 16x16 stage run as
        # Winograd: three kernels each)
        assert sum(t.weight for t in tasks) == 24 + 2 * 4
        assert all(len(t.dispatched) == len(t.func_names) >= 1 for t in tasks)
    assert counts["anchor-block"] < counts["structural"]
    with pytest.raises(ValueError, match="module_equality"):
        extract_tasks(mod, "llvm", module_equality="nope")


def test_weights_are_constant_params(mod):
    tasks = extract_tasks(mod, "llvm")
    conv = next(t for t in tasks if t.task_name.startswith("fused_conv2d"))
    free = conv.mod["main"].attrs["layout_free_buffers"]
    assert 1 in free and 0 not in free  # the weight, not the activation


def test_tune_contexts_carry_weights(mod):
    tasks = extract_tasks(mod, "llvm", module_equality="anchor-block")
    contexts, weights = extracted_tasks_to_tune_contexts(tasks, "unused", seed=1)
    assert [c.task_name for c in contexts] == [t.task_name for t in tasks]
    assert weights == [float(t.weight) for t in tasks]


def _tile(sch: Schedule) -> None:
    from onnxtune.tir.schedule.tree import index

    conv = next(n for n in index(sch.func).order if n.startswith("conv2d"))
    b = sch.get_block(conv)
    loops = sch.get_loops(b)
    fo, fi = sch.split(loops[1], [None, 8])
    sch.parallel(fo)


def test_compile_relax_uses_records_and_anchor_traces(model, mod):
    tasks = extract_tasks(mod, "llvm", module_equality="anchor-block")
    shared = next(t for t in tasks if len(t.dispatched) >= 2 and "conv2d" in t.task_name)
    db = MemoryDatabase(module_equality="anchor-block")
    sch = Schedule(shared.mod)
    _tile(sch)
    db.commit_tuning_record(TuningRecord(sch.trace, db.commit_workload(shared.mod), [1e-3]))
    stats: dict[str, int] = {}
    ex = compile_relax(db, mod, "llvm", stats=stats)
    assert stats["tuned"] == 1 and stats["anchor"] == len(shared.dispatched) - 1
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    out = VirtualMachine(ex)["main"](x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_a_shared_anchors_default_schedule_gives_each_kernel_its_own_default(model, mod):
    from onnxtune.compile.default_schedule import default_schedule_of

    tasks = extract_tasks(mod, "llvm", module_equality="anchor-block")
    shared = next(t for t in tasks if len(t.dispatched) >= 2)
    db = MemoryDatabase(module_equality="anchor-block")
    sch = default_schedule_of(shared.mod["main"], "llvm")
    db.commit_tuning_record(TuningRecord(sch.trace, db.commit_workload(shared.mod), [1e-3]))
    stats: dict[str, int] = {}
    ex = compile_relax(db, mod, "llvm", stats=stats)
    # the other kernels of the task got their own default schedules
    assert stats["tuned"] == 1 and "anchor" not in stats
    assert stats["default"] >= len(shared.dispatched) - 1
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    out = VirtualMachine(ex)["main"](x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_layout_rewritten_weights_are_repacked_at_compile_time(model, mod):
    from onnxtune.tir.transform.layout_rewrite import split_layout_rewrite_preproc
    from onnxtune.tuner import TuneContext

    tasks = extract_tasks(mod, "llvm", module_equality="anchor-block")
    task = next(t for t in tasks if t.task_name.startswith("fused_conv2d"))
    ctx = TuneContext(task.mod, target="llvm", space_generator="post-order-apply",
                      search_strategy="replay-trace", task_name=task.task_name, rand_state=3)
    db = MemoryDatabase(module_equality="anchor-block")
    for space in ctx.generate_design_space():
        for _ in range(20):
            sch = Schedule(task.mod, seed=ctx.rand_state)
            space.trace.apply_to_schedule(sch, remove_postproc=True,
                                          decision_provider=lambda *a: None)
            if all(p.apply(sch) for p in ctx.space_generator.postprocs):
                if split_layout_rewrite_preproc(sch.func)[0] is not None:
                    db.commit_tuning_record(TuningRecord(sch.trace, db.commit_workload(
                        task.mod), [1e-3]))
                    break
        if len(db):
            break
    assert len(db), "no sampled schedule had a layout rewrite"
    stats: dict[str, int] = {}
    ex = compile_relax(db, mod, "llvm", stats=stats)
    assert stats["tuned"] == 1
    assert any(s.endswith("_packed") for s in ex.const_slots)
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    out = VirtualMachine(ex)["main"](x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())

"""ApplyCustomRule and ScheduleRule.create: user rules by annotation, the llvm defaults."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from onnxtune.compile import build
from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.schedule_rule import (
    AddRFactor,
    ApplyCustomRule,
    AutoInline,
    MultiLevelTiling,
    ParallelizeVectorizeUnroll,
    RandomComputeLocation,
    ReuseType,
    ScheduleRule,
    register_rule,
    unregister_rule,
)
from onnxtune.tuner.space_generator.post_order_apply import PostOrderApply


@pytest.fixture
def my_rule():
    calls = []

    @register_rule("test_split_j")
    def split_j(sch, block):
        calls.append(sch.get(block).name_hint)
        _, j, _ = sch.get_loops(block)
        sch.split(j, [None, 4])
        return [sch, sch.copy()]

    yield calls
    unregister_rule("test_split_j")


def _annotated_matmul(name: str) -> Schedule:
    func, _ = testing.matmul(8, 12, 6)
    sch = Schedule(func)
    sch.annotate(sch.get_block("C"), "schedule_rule", name)
    return sch


def test_annotated_block_gets_only_the_custom_rule(my_rule):
    sch = _annotated_matmul("test_split_j")
    gen = PostOrderApply(sch_rules=ScheduleRule.create("llvm"), postprocs=[],
                         mutator_probs={})
    spaces = gen.generate_design_space(sch.mod)
    assert my_rule == ["C"] and len(spaces) == 2
    for s in spaces:
        names = [i.kind.name for i in s.trace.insts]
        assert "Split" in names and "SamplePerfectTile" not in names  # no MultiLevelTiling
        assert "meta_schedule.parallel" in s.func.body.block.annotations  # root still done
    func, ref = testing.matmul(8, 12, 6)
    args = testing.make_args(func, seed=1)
    out = [a.copy() for a in args]
    build(spaces[0].mod)["main"](*out)
    np.testing.assert_allclose(out[-1], ref(*args[:-1]), rtol=1e-5)


def test_unknown_rule_warns_and_none_means_no_rule(caplog):
    sch = _annotated_matmul("no_such_rule")
    with caplog.at_level(logging.WARNING):
        assert ApplyCustomRule().apply(sch, sch.get_block("C")) == [sch]
    assert "no_such_rule" in caplog.text
    sch = _annotated_matmul("None")
    spaces = PostOrderApply(sch_rules=ScheduleRule.create("llvm"), postprocs=[],
                            mutator_probs={}).generate_design_space(sch.mod)
    assert len(spaces) == 1
    assert "SamplePerfectTile" not in [i.kind.name for i in spaces[0].trace.insts]


def test_target_keys_and_registration_errors(my_rule):
    @register_rule("test_keyed", target_key="gpu")
    def gpu_only(sch, block):
        raise AssertionError("must not run on a cpu target")

    try:
        sch = _annotated_matmul("test_keyed")
        rule = ApplyCustomRule()
        assert rule.target_keys == ("cpu",)
        assert rule.apply(sch, sch.get_block("C")) == [sch]
        with pytest.raises(ValueError, match="already registered"):
            register_rule("test_keyed", target_key="gpu")(lambda s, b: None)
    finally:
        unregister_rule("test_keyed", "gpu")
    with pytest.raises(ValueError, match="non-empty"):
        register_rule("")

    @register_rule("test_bad_return")
    def bad(sch, block):
        return 42

    try:
        sch = _annotated_matmul("test_bad_return")
        with pytest.raises(TypeError, match="custom rule 'test_bad_return' must return"):
            ApplyCustomRule().apply(sch, sch.get_block("C"))
    finally:
        unregister_rule("test_bad_return")


def test_create_llvm_has_tvm_defaults():
    rules = ScheduleRule.create("llvm")
    assert [type(r) for r in rules] == [ApplyCustomRule, AutoInline, AddRFactor,
                                        MultiLevelTiling, ParallelizeVectorizeUnroll,
                                        RandomComputeLocation]
    _, inline, rf, mlt, pvu, _ = rules
    assert (inline.into_producer, inline.into_consumer, inline.inline_const_tensor,
            inline.disallow_if_then_else, inline.require_injective,
            inline.require_ordered, inline.disallow_op) == (
        False, True, True, True, True, True, ["tir.exp"])
    assert (rf.max_jobs_per_core, rf.max_innermost_factor) == (16, 64)
    assert (mlt.structure, mlt.tile_binds, mlt.max_innermost_factor,
            mlt.vector_load_lens) == ("SSRSRS", None, 64, None)
    assert mlt.reuse_read.req == "no"
    assert mlt.reuse_write == ReuseType(req="may", levels=[1, 2], scope="global")
    assert (pvu.max_jobs_per_core, pvu.max_vectorize_extent, pvu.unroll_max_steps,
            pvu.unroll_explicit) == (16, 64, [0, 16, 64, 512], True)
    clone = rules[3].clone()
    assert clone is not rules[3] and clone.structure == "SSRSRS"


def test_create_other_kinds():
    for kind in ("cuda", "cuda-tensorcore", "hexagon"):
        with pytest.raises(NotImplementedError, match="not built yet"):
            ScheduleRule.create(kind)
    with pytest.raises(ValueError, match="unknown ScheduleRule kind"):
        ScheduleRule.create("metal")

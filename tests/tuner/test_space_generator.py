"""Space generators: PostOrderApply with the llvm rules makes design spaces whose every
random sample computes what numpy computes; ScheduleFn; SpaceGeneratorUnion; traces of
design spaces survive JSON."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from onnxtune.compile import build
from onnxtune.tir import te, testing
from onnxtune.tir.schedule import Schedule, Trace
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tir.structural import assert_structural_equal
from onnxtune.tuner import TuneContext
from onnxtune.tuner.schedule_rule import ScheduleRule
from onnxtune.tuner.space_generator import SpaceGenerator
from onnxtune.tuner.space_generator.post_order_apply import PostOrderApply
from onnxtune.tuner.space_generator.schedule_fn import ScheduleFn
from onnxtune.tuner.space_generator.space_generator_union import SpaceGeneratorUnion

#: random programs drawn per workload (each is lowered, built and compared with numpy);
#: the workloads beyond the issue's six get a quarter of them
SAMPLES = int(os.environ.get("ONNXTUNE_SPACE_SAMPLES", "30"))
MAIN_WORKLOADS = {"matmul", "conv2d", "conv2d_bias_relu", "softmax", "layer_norm",
                  "max_pool2d"}

WORKLOADS = {
    "matmul": lambda: testing.matmul(30, 17, 24),
    "conv2d": lambda: testing.conv2d_nchw(1, 8, 10, 10, 16, 3, 3, padding=1),
    "conv2d_bias_relu": lambda: testing.conv2d_bias_relu(1, 4, 9, 9, 8, 3, 3, padding=1),
    "softmax": lambda: testing.softmax(4, 50),
    "layer_norm": lambda: testing.layer_norm(6, 40),
    "max_pool2d": lambda: testing.max_pool2d(1, 4, 11, 11, kernel=3, stride=2, padding=1),
    "avg_pool2d": lambda: testing.avg_pool2d(1, 4, 11, 11, kernel=3, stride=2, padding=1),
    "dense": lambda: testing.dense(5, 33, 16),
    "batch_matmul": lambda: testing.batch_matmul(2, 7, 12, 9),
}


def design_spaces(func, seed: int = 1) -> list[Schedule]:
    gen = PostOrderApply(sch_rules=ScheduleRule.create("llvm"), postprocs=[],
                         mutator_probs={})
    gen._rand = RandState(seed)
    return gen.generate_design_space(func)


def postprocs() -> list:
    from onnxtune.tuner.postproc import Postproc

    return Postproc.create("llvm")


def _cap_unroll(inst, inputs, attrs, decision):
    """Re-sample everything, but keep explicit unrolling at most 64 steps (512 makes LLVM
    builds 20x slower; one test below covers it)."""
    if inst.kind.name == "SampleCategorical":
        return len([c for c in attrs[0] if c <= 64]) - 1 if 512 in attrs[0] else None
    return None


def sample(space: Schedule, func, seed: int, provider=_cap_unroll) -> Schedule:
    """A random program of the design space: its trace replayed without decisions."""
    sch = Schedule(func, seed=seed * 2654435761 % (2**31 - 1))  # spread small seeds
    Trace(space.trace.insts, {}).apply_to_schedule(sch, remove_postproc=True,
                                                  decision_provider=provider)
    return sch


def finish(sch: Schedule) -> bool:
    """Apply the llvm postprocs (parallel / vectorize / unroll, reduction init, ...)."""
    sch.enter_postproc()
    return all(p.apply(sch) for p in postprocs())


def run(func_or_mod, args) -> np.ndarray:
    out = [a.copy() for a in args]
    build(func_or_mod, target="llvm -opt-level=0")["main"](*out)
    return out[-1]


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_random_samples_match_numpy(name):
    func, ref = WORKLOADS[name]()
    spaces = design_spaces(func)
    args = testing.make_args(func, seed=7)
    expect = ref(*args[:-1])
    rejected = 0
    n = SAMPLES if name in MAIN_WORKLOADS else max(1, SAMPLES // 4)
    for k in range(n):
        sch = sample(spaces[k % len(spaces)], func, seed=1000 + k)
        if not finish(sch):
            rejected += 1
            continue
        got = run(sch.mod, args)
        np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name} sample {k}:\n{sch.trace}")
    assert rejected <= n // 10, f"{name}: postprocs rejected {rejected} samples"


def test_unroll_512_sample_matches_numpy():
    func, ref = testing.matmul(12, 10, 16)
    space = design_spaces(func)[2]

    def unroll_512(inst, inputs, attrs, decision):
        return 3 if inst.kind.name == "SampleCategorical" else None

    sch = sample(space, func, seed=5, provider=unroll_512)
    assert finish(sch)
    args = testing.make_args(func, seed=3)
    np.testing.assert_allclose(run(sch.mod, args), ref(*args[:-1]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_design_space_traces_json_round_trip(name):
    func, _ = WORKLOADS[name]()
    for space in design_spaces(func, seed=3):
        text = json.dumps(space.trace.as_json())
        sch = Schedule(func)
        Trace.from_json(json.loads(text)).apply_to_schedule(sch)
        assert_structural_equal(sch.mod, space.mod)
        # and a re-sampled program round-trips too
        s2 = sample(space, func, seed=11)
        s3 = Schedule(func)
        Trace.from_json(json.loads(json.dumps(s2.trace.as_json()))).apply_to_schedule(s3)
        assert_structural_equal(s3.mod, s2.mod)


def test_design_space_is_deterministic_for_a_seed():
    func, _ = testing.conv2d_bias_relu(1, 4, 9, 9, 8, 3, 3, padding=1)
    a = [json.dumps(s.trace.as_json()) for s in design_spaces(func, seed=9)]
    b = [json.dumps(s.trace.as_json()) for s in design_spaces(func, seed=9)]
    assert a == b


class _Recorder(ScheduleRule):
    def __init__(self):
        self.seen: list[str] = []

    def apply(self, sch, block):
        self.seen.append(sch.get(block).name_hint)
        return [sch]


class _Inliner(ScheduleRule):
    """Inlines every block named T_add (a rule that removes a block)."""

    def apply(self, sch, block):
        if sch.get(block).name_hint == "T_add":
            sch.compute_inline(block)
        return [sch]


def test_post_order_visits_consumers_first_and_skips_removed_blocks():
    func, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 2, 3, 3, padding=1)
    rec1, rec2 = _Recorder(), _Recorder()
    gen = PostOrderApply(sch_rules=[rec1, _Inliner(), rec2], postprocs=[], mutator_probs={})
    (sch,) = gen.generate_design_space(func)
    assert rec1.seen == ["root", "T_relu", "T_add", "conv2d_nchw", "pad_temp"]
    assert rec2.seen == ["root", "T_relu", "conv2d_nchw", "pad_temp"]  # T_add is gone
    assert "T_add" not in sch.func.script()


def test_block_filter_and_forks_multiply():
    func, _ = testing.softmax(2, 9)

    class Fork(ScheduleRule):
        def apply(self, sch, block):
            return [sch, sch.copy()]

    gen = PostOrderApply(f_block_filter=lambda b: b.name_hint.endswith("norm"),
                         sch_rules=[Fork(), Fork()], postprocs=[], mutator_probs={})
    assert len(gen.generate_design_space(func)) == 4
    gen = PostOrderApply(f_block_filter=lambda b: b.name_hint != "root",
                         sch_rules=[Fork()], postprocs=[], mutator_probs={})
    assert len(gen.generate_design_space(func)) == 2 ** 4


def test_default_rules_without_context():
    func, _ = testing.matmul(8, 8, 8)
    spaces = PostOrderApply().generate_design_space(func)
    assert len(spaces) == 3


def test_tune_context_initializes_rules_postprocs_and_mutators():
    func, _ = testing.matmul(16, 16, 16)
    ctx = TuneContext(func, target="llvm -num-cores=4", space_generator="post-order-apply",
                      rand_state=5)
    gen = ctx.space_generator
    assert isinstance(gen, PostOrderApply)
    assert [type(r).__name__ for r in gen.sch_rules][:2] == ["ApplyCustomRule", "AutoInline"]
    assert gen.postprocs and gen.mutator_probs
    spaces = ctx.generate_design_space()
    assert len(spaces) == 3
    anns = spaces[0].func.body.block.annotations
    assert anns["meta_schedule.parallel"] == 4 * 16
    again = TuneContext(func, target="llvm -num-cores=4", space_generator="post-order-apply",
                        rand_state=5).generate_design_space()
    assert [str(s.trace) for s in spaces] == [str(s.trace) for s in again]


def _tile_fn(sch: Schedule):
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    fs = sch.sample_perfect_tile(j, 2, 8)
    sch.split(j, fs)


def test_schedule_fn_returns_none_schedule_or_list():
    func, ref = testing.matmul(8, 12, 4)
    (s,) = ScheduleFn(_tile_fn).generate_design_space(func)
    assert [i.kind.name for i in s.trace.insts].count("SamplePerfectTile") == 1
    args = testing.make_args(func)
    np.testing.assert_allclose(run(s.mod, args), ref(*args[:-1]), rtol=1e-5)

    def two(sch):
        return [sch, sch.copy()]

    assert len(ScheduleFn(two).generate_design_space(func)) == 2
    assert len(ScheduleFn(lambda sch: sch).generate_design_space(func)) == 1
    with pytest.raises(TypeError, match="must return None, a Schedule or a list"):
        ScheduleFn(lambda sch: 3).generate_design_space(func)
    with pytest.raises(TypeError, match="callable"):
        ScheduleFn(42)


def test_create_kinds_and_union():
    func, _ = testing.matmul(8, 8, 8)
    assert isinstance(SpaceGenerator.create("post-order-apply"), PostOrderApply)
    assert isinstance(SpaceGenerator.create(_tile_fn), ScheduleFn)
    union = SpaceGenerator.create("union", [ScheduleFn(_tile_fn), PostOrderApply()])
    assert isinstance(union, SpaceGeneratorUnion)
    spaces = union.generate_design_space(func)
    assert len(spaces) == 1 + 3
    with pytest.raises(ValueError, match="unknown SpaceGenerator kind"):
        SpaceGenerator.create("nope")
    with pytest.raises(TypeError, match="not a SpaceGenerator"):
        SpaceGeneratorUnion([_tile_fn])


def test_union_initializes_members_with_context():
    func, _ = testing.matmul(8, 8, 8)
    union = SpaceGeneratorUnion([PostOrderApply(), ScheduleFn(_tile_fn)])
    ctx = TuneContext(func, target="llvm -num-cores=3", space_generator=union, rand_state=1)
    spaces = ctx.generate_design_space()
    assert len(spaces) == 4
    assert spaces[0].func.body.block.annotations["meta_schedule.parallel"] == 48


def test_elementwise_only_function_gets_a_space():
    a = te.placeholder((16, 24), name="A")
    b = te.compute((16, 24), lambda i, j: a[i, j] * 2.0, name="B")
    c = te.compute((16, 24), lambda i, j: b[i, j] + 1.0, name="C")
    func = te.create_prim_func([a, c])
    (space,) = design_spaces(func)
    names = [i.kind.name for i in space.trace.insts]
    assert "ComputeInline" in names and "SampleCategorical" not in names  # spatial: no unroll
    sch = sample(space, func, 3)
    assert finish(sch)
    args = testing.make_args(func)
    np.testing.assert_allclose(run(sch.mod, args), args[0] * 2 + 1, rtol=1e-6)

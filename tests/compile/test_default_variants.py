"""compile.default_schedule knobs and variants: ``knobs=None`` (or every knob at its
default) is exactly the default schedule; unknown or ill-typed knobs are refused; every
variant over the knob grid is distinct and computes what numpy computes — built as is and
after the tuner's replay (fresh decisions) + postprocessors — on small and edge shapes
(channels 3 and 17, spatial 1, 7, 13, strided, padded, fused epilogues)."""

from __future__ import annotations

import pytest

from onnxtune.compile import build, runtime
from onnxtune.compile import default_schedule as ds
from onnxtune.compile import default_variants as dv
from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.structural import module_hash

TARGET = "llvm -num-cores=2"


@pytest.fixture(autouse=True)
def _two_threads():
    runtime.set_num_threads(2)
    yield
    runtime.set_num_threads(None)


def _free(make):
    """The workload with its weight (parameter 1) layout-free, as in a model."""
    def go():
        func, ref = make()
        return func.with_attr("layout_free_buffers", [1]), ref
    return go


CASES = {
    "conv1x1_14": _free(lambda: testing.conv2d_nchw(1, 32, 14, 14, 32, 1, 1)),
    "conv3x3_13": _free(lambda: testing.conv2d_nchw(1, 16, 13, 13, 32, 3, 3, padding=1)),
    "conv_in3_stride2": _free(lambda: testing.conv2d_nchw(1, 3, 13, 13, 16, 3, 3, stride=2,
                                                          padding=1)),
    "conv_17ch_7": _free(lambda: testing.conv2d_nchw(1, 17, 7, 7, 17, 3, 3, padding=1)),
    "conv_spatial1": _free(lambda: testing.conv2d_nchw(1, 32, 1, 1, 16, 1, 1)),
    "conv_bias_relu_7": _free(lambda: testing.conv2d_bias_relu(1, 16, 7, 7, 32, 3, 3,
                                                               padding=1)),
    "conv1x1_s2_odd": _free(lambda: testing.conv2d_nchw(1, 20, 13, 11, 32, 1, 1, stride=2)),
    "dense": _free(lambda: testing.dense(4, 64, 48)),
    "matmul": lambda: testing.matmul(32, 48, 40),
    "max_pool": lambda: testing.max_pool2d(1, 16, 13, 13, kernel=3, stride=2, padding=1),
    "depthwise": _free(lambda: testing.depthwise_conv2d_nchw(1, 16, 13, 13, 3, 3, padding=1)),
}


def _check(func, ref, what: str) -> None:
    tol = 1e-4 if func.params[-1].dtype == "float32" else None
    try:
        testing.check_workload(func, ref, run=lambda f, *a: build(f)["main"](*a), seed=3,
                               rtol=tol, atol=tol)
    except AssertionError as err:
        raise AssertionError(f"{what}: {err}") from None


def test_no_knobs_is_the_default_schedule():
    for name in ("conv1x1_14", "conv_bias_relu_7", "dense", "max_pool"):
        func, _ = CASES[name]()
        base = ds.default_schedule_of(func, TARGET)
        for knobs in (None, {}, ds.resolve_knobs()):
            sch = ds.default_schedule_of(func, TARGET, knobs)
            assert str(sch.mod) == str(base.mod), (name, knobs)
        assert str(ds.default_schedule(func, TARGET)) == str(base.func)


def test_knobs_are_checked():
    func, _ = CASES["matmul"]()
    with pytest.raises(ValueError, match="unknown knob 'REGISTERS'"):
        ds.default_schedule_of(func, TARGET, {"REGISTERS": 8})
    with pytest.raises(ValueError, match="STAGE_INPUT must be bool"):
        ds.default_schedule_of(func, TARGET, {"STAGE_INPUT": 1})
    with pytest.raises(ValueError, match="REGISTER_BUDGET must be int"):
        ds.default_schedule_of(func, TARGET, {"REGISTER_BUDGET": True})
    with pytest.raises(ValueError, match="CHUNKS_PER_THREAD must be >= 1"):
        ds.default_schedule_of(func, TARGET, {"CHUNKS_PER_THREAD": 0})
    with pytest.raises(ValueError, match="limit"):
        dv.default_schedule_variants(func, TARGET, limit=0)
    for name in dv.VARIANT_KNOBS:  # the grid only names known knobs, well typed
        ds.resolve_knobs(name)


def test_knobs_change_the_tile():
    """A 1x1 convolution's packed tile: the whole 14-point row (POINTWISE_WIDE) or, with
    that off, a tile that follows the register budget and the half-tile rule; another loop
    order gives another program. The variant grid turns POINTWISE_WIDE off wherever it
    resizes tiles, so its settings still reach a 14x14 pointwise convolution."""
    func, _ = CASES["conv1x1_14"]()
    half = {"POINTWISE_WIDE": False}
    settings = (None, half, {**half, "POINTWISE_HALF_TILE": False},
                {**half, "CHANNELS_INNER": True})
    hashes = {module_hash(ds.default_schedule_of(func, TARGET, k).mod) for k in settings}
    assert len(hashes) == 4
    grid = {module_hash(v.mod) for v in dv.default_schedule_variants(
        func, TARGET, grid=[{"POINTWISE_HALF_TILE": False}, {"CHANNELS_INNER": True}, half])}
    assert grid == hashes


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_variant_matches_numpy(name):
    from onnxtune.tuner.postproc import Postproc
    from onnxtune.tuner.search_strategy.search_strategy import (
        apply_postprocs,
        design_space_trace,
        is_fixed_trace,
        replay_trace,
    )

    func, ref = CASES[name]()
    variants = dv.default_schedule_variants(func, TARGET, limit=16)
    assert variants and str(variants[0].mod) == str(ds.default_schedule_of(func, TARGET).mod)
    keys = [module_hash(v.mod) for v in variants]
    assert len(set(keys)) == len(keys)  # distinct
    for k, v in enumerate(variants):
        _check(v.func, ref, f"{name} variant {k}")
        # what the evolutionary search measures: the trace replayed with fresh decisions
        # (it has none to draw) and post-processed — the same program, or a correct one
        trace = design_space_trace(v)
        assert is_fixed_trace(trace)
        sch = replay_trace(func, trace, seed=k + 1, resample=True)
        assert module_hash(sch.mod) == keys[k]
        assert apply_postprocs(sch, Postproc.create("llvm")), f"{name} variant {k} rejected"
        if module_hash(sch.mod) != keys[k]:
            _check(sch.func, ref, f"{name} variant {k} post-processed")
        again = Schedule(func)  # as compilation replays the record: postprocs included
        sch.trace.apply_to_schedule(again, remove_postproc=False)
        assert module_hash(again.mod) == module_hash(sch.mod)


def test_packed_variants_survive_the_postprocessors_unchanged():
    """A packed convolution's weight is already rewritten and its reductions decomposed:
    RewriteLayout and RewriteReductionBlock leave every variant as it is."""
    from onnxtune.tuner.postproc import Postproc
    from onnxtune.tuner.search_strategy.search_strategy import (
        apply_postprocs,
        design_space_trace,
        replay_trace,
    )

    for name in ("conv1x1_14", "conv3x3_13", "conv_bias_relu_7"):
        func, _ = CASES[name]()
        for v in dv.default_schedule_variants(func, TARGET):
            sch = replay_trace(func, design_space_trace(v), seed=5, resample=True)
            assert apply_postprocs(sch, Postproc.create("llvm"))
            assert str(sch.mod) == str(v.mod), name


def test_variant_limit_and_custom_grid():
    func, _ = CASES["conv1x1_14"]()
    assert len(dv.default_schedule_variants(func, TARGET, limit=2)) == 2
    only = dv.default_schedule_variants(func, TARGET, grid=[{"CHANNELS_INNER": True},
                                                            {"CHANNELS_INNER": True}])
    assert len(only) == 2  # the default and one distinct variant


#: values a knob takes in the random settings below (extremes included)
KNOB_VALUES = {
    "REGISTER_BUDGET": [3, 8, 16, 30, 40],
    "WEIGHT_BLOCK_BYTES": [0, 1024, 16 * 1024],
    "CHUNKS_PER_THREAD": [1, 4, 64],
    "STAGE_INPUT": [True, False],
    "DEINTERLEAVE": [True, False],
    "CHANNEL_CHUNKS": [0, 1, 3],
    "VECTOR_EPILOGUE": [True, False],
    "POINTWISE_HALF_TILE": [True, False],
    "PACKED_VECTORS_MAX": [1, 2, 4],
    "TILE_VECTORS_MAX": [1, 2, 5],
    "CHANNELS_INNER": [None, True, False],
    "PACKED_WIDTH_MAX": [None, 1, 3, 7],
    "PACKED_VECTORS": [None, 1, 2, 3],
    "SMALL_WEIGHT_BYTES": [1024, 1024 * 1024],
    "LARGE_INPUT_BYTES": [1024, 1024 * 1024],
    "MIN_PARALLEL_WORK": [1, 32768],
    "MIN_PARALLEL_ELEMENTS": [1, 4096],
}


@pytest.mark.parametrize("name", ["conv1x1_s2_odd", "conv_bias_relu_7", "conv_in3_stride2",
                                  "conv_17ch_7"])
def test_random_knob_settings_match_numpy(name):
    """Random settings of every knob at once (extremes included: a 3-register budget,
    1-point-wide tiles, no weight block, a chunk per channel block, tiny cache limits)
    never change results."""
    import random

    values = {k: KNOB_VALUES.get(k, [True, False] if types == (bool,) else None)
              for k, types in ds.KNOBS.items()}
    values = {k: v for k, v in values.items() if v is not None}
    func, ref = CASES[name]()
    rng = random.Random(name)
    seen: set[int] = set()
    for _ in range(6):
        knobs = {k: rng.choice(v) for k, v in sorted(values.items())}
        sch = ds.default_schedule_of(func, TARGET, knobs)
        h = module_hash(sch.mod)
        if h not in seen:
            seen.add(h)
            _check(sch.func, ref, f"{name} {knobs}")

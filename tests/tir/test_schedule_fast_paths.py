"""The shortcuts of the tuner's hot paths agree with the slow definitions they replace:
compute_at / compute_inline legality checked without transforming, the per-node free
variable cache, the analyzer's reused simplifier, linear stride coefficients, and the
scrambled seeding of the random engine."""

from __future__ import annotations

import pytest

from onnxtune import tir
from onnxtune.tir import testing
from onnxtune.tir.arith import Analyzer
from onnxtune.tir.expr import FloorDiv, FloorMod, IntImm, Range, Var
from onnxtune.tir.functor import collect_vars, substitute
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives.compute_at import (
    compute_at,
    compute_location_candidates,
    reverse_compute_at,
)
from onnxtune.tir.schedule.primitives.compute_inline import can_compute_inline, compute_inline
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tir.schedule.tree import free_vars, index
from onnxtune.tuner.postproc.rewrite_parallel_vectorize_unroll import _linear_coefs, _stride


def _c(v: int) -> IntImm:
    return IntImm(v, "int32")


def _reference_candidates(func, block, monkeypatch):
    """compute_location_candidates the slow way: a trial compute_at per loop and one walk
    per loop for its iter type."""
    from onnxtune.tir.schedule.primitives import compute_at as ca

    def trial_checker(func, block, consumers):
        def legal(loop):
            try:
                compute_at(func, block, loop, True)
            except ScheduleError:
                return False
            return True
        return legal

    with monkeypatch.context() as m:
        m.setattr(ca, "_compute_at_checker", trial_checker)
        m.setattr(ca, "_loop_iter_types", lambda chain: [ca._loop_iter_type(f) for f in chain])
        return compute_location_candidates(func, block)


def _scheduled_funcs():
    """Programs sampled from the llvm design space of small workloads (several seeds)."""
    from onnxtune.tuner.tune_context import TuneContext

    works = [testing.conv2d_bias_relu(1, 8, 10, 10, 8, 3, 3, padding=1),
             testing.depthwise_conv2d_nchw(1, 4, 9, 9, 3, 3, stride=2, padding=1),
             testing.softmax(4, 13)]
    for f, _ in works:
        ctx = TuneContext(tir.IRModule({"main": f}), target="llvm",
                          space_generator="post-order-apply")
        for k, space in enumerate(ctx.generate_design_space()):
            for seed in range(3):
                sch = tir.Schedule(f, seed=seed * 7 + k)
                space.trace.apply_to_schedule(sch, remove_postproc=True,
                                              decision_provider=lambda *a: None)
                yield f, sch.func


def test_compute_location_candidates_match_trial_compute_at(monkeypatch):
    n_loops = 0
    for orig, func in _scheduled_funcs():
        for f in (orig, func):
            for name in index(f).order[1:]:
                fast = compute_location_candidates(f, name)
                assert fast == _reference_candidates(f, name, monkeypatch), name
                n_loops += sum(isinstance(c, Var) for c in fast)
    assert n_loops > 20


def test_can_compute_inline_matches_a_trial_inline():
    for orig, func in _scheduled_funcs():
        for f in (orig, func):
            for name in index(f).order[1:]:
                try:
                    compute_inline(f, name)
                    ok = True
                except ScheduleError:
                    ok = False
                assert can_compute_inline(f, name) == ok, name


def test_free_vars_is_collect_vars_and_cached():
    i, j = Var("i"), Var("j")
    e = FloorDiv(i * 4 + j, _c(3)) + FloorMod(j, _c(5))
    assert free_vars(e) == collect_vars(e)
    assert free_vars(e) is free_vars(e)
    assert free_vars(i) == {i} and free_vars(IntImm(3, "int32")) == frozenset()


def test_analyzer_rebinding_starts_a_new_simplifier():
    x = Var("x")
    an = Analyzer()
    an.bind(x, Range(IntImm(0, "int32"), IntImm(4, "int32")))
    e = FloorDiv(x, _c(4))
    assert isinstance(an.simplify(e), IntImm)  # x < 4: x // 4 is 0
    an.bind(x, Range(IntImm(0, "int32"), IntImm(9, "int32")))
    assert not isinstance(an.simplify(e), IntImm)  # the old fact must not stick
    an.bind(x, Range(IntImm(2, "int32"), IntImm(1, "int32")))  # extent 1: x is 2
    assert an.simplify(x + 1).value == 3


@pytest.mark.parametrize("make", [
    lambda i, j, k: i * 16 + j * 4 + k,
    lambda i, j, k: (i - j) * 3 + k * 2 - i,
    lambda i, j, k: FloorDiv(i * 4 + j, _c(4)) + k,
    lambda i, j, k: FloorMod(i * 8 + j, _c(8)) * 2 + k * k,
    lambda i, j, k: 7 + k - k,
])
def test_linear_coefficients_match_the_simplifier(make):
    i, j, k, v = Var("i"), Var("j"), Var("k"), Var("v")
    binding = {v: i * 2 + j}
    e = make(v, j, k)
    coefs, nonlinear = _linear_coefs(e, binding)
    an = Analyzer()
    for var in (i, j, k):
        slow = _stride(substitute(e, binding), var, an)
        fast = slow if var in nonlinear else coefs.get(var, 0)
        assert fast == slow, var.name


def test_small_seeds_draw_independently():
    firsts = [RandState(s).sample_int(0, 6) for s in range(12)]
    seconds = []
    for s in range(12):
        r = RandState(s)
        r.sample_int(0, 6)
        seconds.append(r.sample_int(0, 6))
    assert len(set(firsts)) > 2 and len(set(seconds)) > 2
    assert RandState(0).next() != RandState(1).next()
    assert [RandState(5).next() for _ in range(2)] == [RandState(5).next()] * 2


def _moves(func):
    """(primitive, block, loop) of every compute_at / reverse_compute_at to try on func."""
    ix = index(func)
    for name in ix.order[1:]:
        for lv in list(ix.loops)[:12]:
            yield compute_at, name, lv
            yield reverse_compute_at, name, lv


def _try(prim, func, name, lv):
    try:
        return prim(func, name, lv, True)
    except ScheduleError as err:
        return str(err)


def test_identity_inverse_matches_the_iterator_map(monkeypatch):
    """compute_at's shortcut for a provided point ``B[v0, v1, ...]`` gives the same program
    (and the same errors) as detecting and inverting the iterator map."""
    from onnxtune.tir.schedule.primitives import compute_at as ca

    n_fast = 0
    real = ca._identity_inverse

    def counting(*args):
        nonlocal n_fast
        out = real(*args)
        n_fast += out is not None
        return out

    for orig, func in list(_scheduled_funcs())[::3]:
        for f in (orig, func):
            for prim, name, lv in _moves(f):
                with monkeypatch.context() as m:
                    m.setattr(ca, "_identity_inverse", counting)
                    fast = _try(prim, f, name, lv)
                with monkeypatch.context() as m:
                    m.setattr(ca, "_identity_inverse", lambda *a: None)
                    slow = _try(prim, f, name, lv)
                if isinstance(fast, str) or isinstance(slow, str):
                    assert fast == slow, (prim.__name__, name, lv.name)
                else:
                    assert tir.structural.structural_equal(fast, slow), (name, lv.name)
    assert n_fast > 10


def _fused_funcs():
    """The scheduled programs above, and the same with their outer loops fused (the
    bindings ``f // c % e`` that the digit shortcut of is_affine_binding reads)."""
    for _, func in _scheduled_funcs():
        yield func
        sch = tir.Schedule(func)
        for name in index(func).order[1:]:
            try:
                loops = sch.get_loops(sch.get_block(name))
                if len(loops) >= 2:
                    sch.fuse(*loops[:3] if len(loops) > 3 else loops[:2])
            except ScheduleError:
                continue
        yield sch.func


def test_affine_digits_agree_with_the_iterator_map():
    from onnxtune.tir.arith import detect_iter_map
    from onnxtune.tir.schedule.primitives import loop_checks as lc

    n_fast = 0
    for func in _fused_funcs():
        for loc in index(func).blocks.values():
            realize = loc.stmt
            if not loc.ancestors or not realize.iter_values:
                continue
            loops = [f for f in loc.loops() if f.loop_var in set().union(
                *(free_vars(v) for v in realize.iter_values))]
            if not loops or not all(isinstance(f.extent, IntImm) for f in loops):
                continue
            ext = {f.loop_var: f.extent.value for f in loops}
            if lc._affine_digits(realize.iter_values, ext):
                n_fast += 1
                res = detect_iter_map(realize.iter_values, lc.loop_ranges(loops),
                                      realize.predicate, "surjective")
                assert res is not None, realize.block.name_hint
                assert all(not s.splits or min(abs(sp.scale) for sp in s.splits) == 1
                           for s in res.indices)
    assert n_fast > 20


def test_affine_digits_reject_overlaps_and_strides():
    from onnxtune.tir.schedule.primitives.loop_checks import _affine_digits

    f, g = Var("f"), Var("g")
    ext = {f: 448, g: 4}
    ok = (FloorDiv(f, _c(56)) * 4 + g, FloorMod(FloorDiv(f, _c(2)), _c(28)),
          FloorMod(f, _c(2)))
    assert _affine_digits(ok, ext)
    assert _affine_digits((FloorDiv(f, _c(2)), FloorMod(f, _c(4))), ext) is None  # overlap
    assert _affine_digits((FloorMod(f, _c(2)) * 2,), ext) is None  # strided
    assert _affine_digits((FloorDiv(f, _c(3)),), ext) is None  # 448 % 3 != 0
    assert _affine_digits((f + g * 448,), ext)  # g is the digit above f
    assert _affine_digits((f * 4 + g, FloorMod(f, _c(2))), ext) is None  # f used twice


def test_fast_init_keeps_the_dataclass_constructor():
    """The IR nodes' generated constructors: same parameters, defaults and default
    factories as the dataclass's own, and the nodes stay frozen."""
    import dataclasses
    import inspect

    from onnxtune.tir.expr import Add, Reduce
    from onnxtune.tir.stmt import Block, For, ForKind

    i = Var("i")
    f = For(i, _c(0), _c(4), ForKind.SERIAL, None)
    assert f.thread_binding == "" and f.annotations == {}
    assert For(i, _c(0), _c(4), ForKind.SERIAL, None).annotations is not f.annotations
    g = For(loop_var=i, min=_c(0), extent=_c(4), kind=ForKind.PARALLEL, body=None,
            annotations={"a": 1})
    assert g.kind == ForKind.PARALLEL and g.annotations == {"a": 1}
    assert dataclasses.replace(g, kind=ForKind.SERIAL).annotations == {"a": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.body = None
    with pytest.raises(TypeError):
        For(i, _c(0))
    b = Block((), (), (), "b", None)
    assert b.init is None and b.alloc_buffers == () and b.annotations == {}
    assert [p.name for p in inspect.signature(Reduce).parameters.values()] == [
        f.name for f in dataclasses.fields(Reduce)]
    a = Add(i, _c(1))
    assert a.a is i and a.b.value == 1 and a.dtype == "int32"

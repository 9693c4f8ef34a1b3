"""The replay shortcuts agree with what they replace: the block/loop index of a
function (parents kept, blocks and loops located on demand; derived from the input's
index for primitives that only copy statements), cache_write's constant relaxation,
fuse's shared linear forms, the simplifier's memo of its canonical forms, and
compute_at's identity inverse without a second simplifier."""

from __future__ import annotations

import random

import pytest
from schedule_workloads import WORKLOADS
from test_schedule_random import random_schedule

from onnxtune import tir
from onnxtune.tir.arith import Analyzer
from onnxtune.tir.arith.simplify import Simplifier
from onnxtune.tir.expr import FloorDiv, FloorMod, IntImm, Var
from onnxtune.tir.schedule import tree
from onnxtune.tir.stmt import BlockRealize, For, SeqStmt
from onnxtune.tir.structural import assert_structural_equal


def _same_index(ix: tree.FuncIndex, func: tir.PrimFunc) -> None:
    """``ix`` answers every question as a fresh build of ``func`` (and an explicit walk)."""
    full = tree.FuncIndex(func)
    assert ix.func is func
    assert ix._blocks == full._blocks and ix._loops == full._loops
    assert ix._par == full._par
    assert ix.order == full.order
    walked = {loc.stmt.block.name_hint: loc for loc in tree.walk(func)
              if type(loc.stmt) is BlockRealize}
    for name in full.order:
        assert ix.block(name) == full.block(name) == walked[name]
    loops = {loc.stmt.loop_var: loc for loc in tree.walk(func) if type(loc.stmt) is For}
    assert list(ix.loops) == list(loops)
    for v, loc in loops.items():
        assert ix.loop(v) == loc


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_index_after_every_primitive_equals_a_fresh_build(name, monkeypatch):
    """Random schedules (the property test's generator): after every primitive the index
    of the new function (derived from the last one's, or built) equals a full build."""
    derived = []
    orig_derive = tree._derive_index

    def spy(func, out, pairs):
        orig_derive(func, out, pairs)
        ix = tree._INDEX_CACHE.get(id(out))
        if ix is not None and ix.func is out:
            derived.append(ix)

    orig_update = tir.Schedule._update

    def update(self, func, prim):
        orig_update(self, func, prim)
        _same_index(tree.index(func), func)

    monkeypatch.setattr(tree, "_derive_index", spy)
    monkeypatch.setattr(tir.Schedule, "_update", update)
    f, _ = WORKLOADS[name]()
    for seed in range(4):
        random_schedule(f, seed)
    for ix in derived:
        _same_index(ix, ix.func)
    _DERIVED[name] = len(derived)


_DERIVED: dict[str, int] = {}


def test_some_indexes_were_derived():
    if len(_DERIVED) < len(WORKLOADS):
        pytest.skip("needs the per-workload index tests in the same process")
    assert sum(_DERIVED.values()) > 0


def test_derived_index_of_annotations_and_loop_kinds():
    """Copies with the same children (short paths) get a derived index; every index
    equals a full build, derived or not."""
    f, _ = WORKLOADS["conv2d_bias_relu"]()
    sch = tir.Schedule(f)
    names = [n for n in tree.index(f).order if n != "root"]
    derived = 0
    steps = [lambda: sch.annotate(sch.get_block("root"), "root_key", 2),
             lambda: sch.annotate(sch.get_block(names[0]), "key", 1),
             lambda: sch.parallel(sch.get_loops(sch.get_block(names[-1]))[0]),
             lambda: sch.unroll(sch.get_loops(sch.get_block(names[0]))[-1])]
    for step in steps:
        step()
        ix = tree._INDEX_CACHE.get(id(sch.func))
        if ix is not None and ix.func is sch.func:
            derived += 1
            _same_index(ix, sch.func)
        _same_index(tree.index(sch.func), sch.func)
    assert derived >= 1  # the root annotation at least: a path of two statements


def test_index_of_a_statement_at_two_places_is_explicit():
    """One loop object at two places (ill-formed): blocks keep their first place in
    pre-order and loops their last, as located by a walk."""
    f, _ = WORKLOADS["matmul"]()
    root = tree.index(f).block("root").stmt
    body = root.block.body
    loop = body.seq[-1] if isinstance(body, SeqStmt) else body
    twice = f.with_body(BlockRealize(root.iter_values, root.predicate, tree.with_child(
        root.block, root.block.body, SeqStmt((loop, loop)))))
    ix = tree.FuncIndex(twice)
    assert not ix._par  # the explicit form
    walked = list(tree.walk(twice))
    first = next(x for x in walked if type(x.stmt) is BlockRealize
                 and x.stmt.block.name_hint == "C")
    last = [x for x in walked if type(x.stmt) is For and x.stmt is loop][-1]
    assert ix.block("C") == first
    assert ix.loop(loop.loop_var) == last


@pytest.mark.parametrize("name", ["matmul", "conv2d", "conv2d_bias_relu"])
def test_cache_write_constant_relaxation_matches_the_general_path(name, monkeypatch):
    from onnxtune.tir.schedule.primitives import cache

    f, _ = WORKLOADS[name]()
    for seed in range(8):
        rng = random.Random(seed)
        sch = tir.Schedule(f, seed=seed)
        names = [n for n in tree.index(f).order if n != "root"]
        blk = sch.get_block(names[-1])
        for lp in sch.get_loops(blk):
            if rng.random() < 0.6:
                sch.split(lp, sch.sample_perfect_tile(lp, 2))
        fast = sch.copy()
        fast.cache_write(blk, 0, "global")
        with monkeypatch.context() as m:
            m.setattr(cache, "_const_relax", lambda reg, dom: None)
            slow = sch.copy()
            slow.cache_write(blk, 0, "global")
        assert fast.func.script() == slow.func.script()


@pytest.mark.parametrize("name", ["conv2d", "conv2d_bias_relu", "max_pool"])
def test_fuse_with_shared_linear_forms_matches_separate_simplifiers(name, monkeypatch):
    from onnxtune.tir.schedule.primitives import loop_ops

    f, _ = WORKLOADS[name]()
    for seed in range(6):
        sch = random_schedule(f, seed)
        loops = sch.get_loops(sch.get_block(tree.index(sch.func).order[-1]))
        for n in range(2, min(4, len(loops)) + 1):
            fast = sch.copy()
            try:
                fast.fuse(*loops[:n])
            except tir.schedule.ScheduleError:
                continue
            with monkeypatch.context() as m:
                m.setattr(loop_ops.BindingRewriter, "share_values", lambda self: None)
                slow = sch.copy()
                slow.fuse(*loops[:n])
            assert fast.func.script() == slow.func.script()
            assert_structural_equal(fast.func, slow.func)


def _i(v: int) -> IntImm:
    return IntImm(v, "int32")


def test_simplifier_memo_of_canonical_forms():
    x, y = Var("x"), Var("y")
    simp = Simplifier({x: (0, 15), y: (0, 3)}, {})
    exprs = [x * 4 + y - 3, (x * 4 + y) // 4 * 4 + (x * 4 + y) % 4, x + x * 2 - 7,
             FloorMod(x + 16, _i(4)) + FloorDiv(y, _i(4)), x * 4 - y * 8 + 1]
    for e in exprs:
        r = simp.visit(e)
        assert simp.visit(r) is r
        fresh = Simplifier({x: (0, 15), y: (0, 3)}, {}).visit(r)
        assert_structural_equal(fresh, r)


def test_identity_inverse_skips_only_what_a_plain_simplifier_keeps():
    from onnxtune.tir.schedule.primitives.compute_at import _inv_simplify, _plain_linear

    a, b, c = Var("a"), Var("b"), Var("c")
    an = Analyzer()
    an.bind(a, tir.Range(IntImm(0, "int32"), IntImm(8, "int32")))
    an.bind(c, tir.Range(IntImm(3, "int32"), IntImm(1, "int32")))  # c is 3
    for raw in [a * 8 + b * 4, a * 8 - b + 5, b, (a * 8 + b) // 4, a + c * 2, b * 3 - 2]:
        e = an.simplify(raw)
        got = _inv_simplify(e, {}, Analyzer())
        assert_structural_equal(got, Analyzer().simplify(e))
        if _plain_linear(e):
            assert got is e
    u = Var("u")
    e = an.simplify(a * 8 + u)
    assert_structural_equal(_inv_simplify(e, {u: IntImm(0, "int32")}, Analyzer()),
                            Analyzer().simplify(a * 8))

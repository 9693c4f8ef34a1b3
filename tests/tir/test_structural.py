"""Structural equality and hashing: renaming, each kind of difference, module equality modes."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_samples import block, constants, elementwise, loop, lowered, matmul, point, root, two_stage

from onnxtune import tir
from onnxtune.tir import (
    Add,
    BufferStore,
    FloorDiv,
    ForKind,
    IntImm,
    IRModule,
    Min,
    Mul,
    PrimFunc,
    Sub,
    Var,
    const,
    decl_buffer,
)
from onnxtune.tir.module_equality import find_anchor_block, module_equal, module_hash
from onnxtune.tir.stmt import seq
from onnxtune.tir.structural import (
    assert_structural_equal,
    structural_equal,
    structural_hash,
)


def _same(a, b, map_free_vars=True):
    assert structural_equal(a, b, map_free_vars)
    assert_structural_equal(a, b, map_free_vars)
    assert structural_hash(a, map_free_vars) == structural_hash(b, map_free_vars)


def test_renamed_copies_are_equal_and_hash_alike():
    for make in (matmul, elementwise, two_stage, lowered, constants):
        a, b = make(), make(sfx="_renamed")
        _same(a, b)
        _same(a, b, map_free_vars=False)  # every variable is defined inside
        assert structural_hash(a) == structural_hash(a)


DIFFERENT = {
    "loop extent": dict(loop_ext={"j": 95}),
    "dtype": dict(dtype="float16"),
    "op": dict(red_op="max"),
    "constant value": dict(init_value=1.0),
    "buffer shape": dict(b_shape=(64, 97)),
    "loop kind": dict(kinds={"j": ForKind.PARALLEL}),
    "annotation value": dict(ann={"i": {"pragma_auto_unroll_max_step": 64}}),
}


@pytest.mark.parametrize("what", sorted(DIFFERENT))
def test_each_kind_of_difference_is_seen(what):
    base = matmul(ann={"i": {"pragma_auto_unroll_max_step": 16}})
    kw = {"ann": {"i": {"pragma_auto_unroll_max_step": 16}}, **DIFFERENT[what]}
    other = matmul(sfx="_o", **kw)
    assert not structural_equal(base, other)
    assert structural_hash(base) != structural_hash(other)
    with pytest.raises(ValueError, match="structural mismatch at <root>"):
        assert_structural_equal(base, other)


def test_loop_order_and_index_binding_differences():
    sq = matmul(64, 64, 64)
    swapped_loops = matmul(64, 64, 64, sfx="_s", order=("j", "i", "k"))
    transposed_access = matmul(64, 64, 64, sfx="_t", swap_a=True)  # A[vk, vi] for A[vi, vk]
    for other in (swapped_loops, transposed_access):
        assert not structural_equal(sq, other)
        assert structural_hash(sq) != structural_hash(other)
    with pytest.raises(ValueError, match=r"iter_values\[0\]"):
        assert_structural_equal(sq, swapped_loops)


def test_mismatch_message_names_path_and_both_sides():
    with pytest.raises(ValueError) as info:
        assert_structural_equal(matmul(), matmul(b_shape=(64, 97)))
    msg = str(info.value)
    assert "<root>.params[1].shape[1]" in msg
    assert "lhs: 96" in msg and "rhs: 97" in msg
    assert 'B: T.Buffer((64, 96), "float32")' in msg and 'B: T.Buffer((64, 97), "float32")' in msg
    with pytest.raises(ValueError, match=r"node types differ: Add vs Max"):
        assert_structural_equal(matmul(), matmul(red_op="max"))


def test_names_are_ignored_but_other_attrs_count():
    a, b = matmul(name="C"), matmul(name="matmul_block")
    _same(a, b)
    _same(a.with_attr("global_symbol", "f"), b.with_attr("global_symbol", "g"))
    assert not structural_equal(a.with_attr("tir.noalias", True), b)
    assert not structural_equal(a.with_attr("k", 1), b.with_attr("k", 2))
    assert structural_hash(a.with_attr("k", 1)) != structural_hash(b.with_attr("k", 2))


def test_free_variables_and_bijection():
    x, y = Var("x"), Var("y")
    _same(x + 1, y + 1)
    assert not structural_equal(x + 1, y + 1, map_free_vars=False)
    assert structural_equal(x + 1, x + 1, map_free_vars=False)
    assert not structural_equal(x + y, x + x)
    assert not structural_equal(x + x, x + y)
    _same(x + y, y + x)  # x<->y is a consistent renaming
    assert not structural_equal(x + 1, Var("x", "int64") + IntImm(1, "int64"))
    assert structural_hash(x + y) != structural_hash(x + x)
    # a free loop extent vs parameter shape variables (defined by the signature)
    n, m = Var("n"), Var("m")
    i, j = Var("i"), Var("j")
    fa = PrimFunc((decl_buffer((n,), "float32", "A"),), loop(i, 4, tir.Evaluate(i)))
    fb = PrimFunc((decl_buffer((m,), "float32", "A"),), loop(j, 4, tir.Evaluate(j)))
    _same(fa, fb, map_free_vars=False)
    ga = PrimFunc((), tir.For(i, const(0), n, ForKind.SERIAL, tir.Evaluate(i)))
    gb = PrimFunc((), tir.For(j, const(0), m, ForKind.SERIAL, tir.Evaluate(j)))
    assert structural_equal(ga, gb)
    assert not structural_equal(ga, gb, map_free_vars=False)


def test_buffers_map_one_to_one():
    a, b, c = (decl_buffer((4,), "float32", s) for s in "ABC")
    i = Var("i")
    copy_ab = loop(i, 4, BufferStore(a, b[i], (i,)))
    copy_aa = loop(i, 4, BufferStore(a, a[i], (i,)))
    copy_cb = loop(i, 4, BufferStore(c, b[i], (i,)))
    assert not structural_equal(copy_ab, copy_aa)
    assert not structural_equal(copy_aa, copy_ab)
    _same(copy_ab, copy_cb)
    scoped = decl_buffer((4,), "float32", "A", "shared")
    assert not structural_equal(copy_ab, loop(i, 4, BufferStore(scoped, b[i], (i,))))


def test_containers_and_annotation_values():
    x, y = Var("x"), Var("y")
    _same([x + 1, (x, 2.5)], (y + 1, [y, 2.5]))
    _same({"a": x, "b": [1, {"c": "d"}]}, {"b": [1, {"c": "d"}], "a": y})
    assert not structural_equal({"a": 1}, {"a": 1.0})
    assert not structural_equal({"a": 1}, {"b": 1})
    assert not structural_equal({"a": True}, {"a": 1})
    assert structural_equal({"a": float("nan")}, {"a": float("nan")})
    assert structural_hash({"a": float("nan")}) == structural_hash({"a": float("nan")})
    assert structural_equal(const(float("nan")), const(float("nan")))
    assert not structural_equal(np.arange(3), np.arange(1, 4))
    _same(np.arange(3), np.arange(3))
    # an IR node inside an annotation is mapped like any other use
    i, j, k = Var("i"), Var("j"), Var("k")
    la = loop(i, 4, tir.Evaluate(i), ann={"ref": i})
    lb = loop(j, 4, tir.Evaluate(j), ann={"ref": j})
    lc = loop(j, 4, tir.Evaluate(j), ann={"ref": k})
    _same(la, lb)
    assert not structural_equal(la, lc)


def test_deep_trees_do_not_hit_the_recursion_limit():
    def chain(v):
        e = v
        for n in range(20000):
            e = Add(e, IntImm(n))
        return e

    a, b = chain(Var("x")), chain(Var("y"))
    _same(a, b)


def _canon(e, names):
    """Oracle: the expression tree with variables numbered by first occurrence."""
    if isinstance(e, Var):
        return ("v", names.setdefault(e, len(names)))
    if isinstance(e, IntImm):
        return ("c", e.value)
    return (type(e).__name__, _canon(e.a, names), _canon(e.b, names))


def _random_expr(rng, pool, depth):
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(pool) if rng.random() < 0.6 else IntImm(rng.randint(0, 2))
    op = rng.choice([Add, Sub, Mul, FloorDiv, Min])
    return op(_random_expr(rng, pool, depth - 1), _random_expr(rng, pool, depth - 1))


def test_random_expressions_match_oracle():
    rng = random.Random(7)
    pool_a = [Var("x"), Var("y"), Var("z")]
    pool_b = [Var("p"), Var("q"), Var("r")]
    exprs = [_random_expr(rng, pool_a if n % 2 else pool_b, 3) for n in range(160)]
    canon = [_canon(e, {}) for e in exprs]
    hashes = [structural_hash(e) for e in exprs]
    n_equal = 0
    for a in range(len(exprs)):
        for b in range(a, len(exprs)):
            want = canon[a] == canon[b]
            assert structural_equal(exprs[a], exprs[b]) == want
            assert (hashes[a] == hashes[b]) == want
            n_equal += want and a != b
    assert n_equal > 10  # the grammar is small enough that equal pairs occur


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.text(alphabet="abcxyz_0123456789", min_size=1, max_size=6))
def test_hash_is_invariant_under_random_renaming(sfx):
    assert structural_hash(matmul(sfx=sfx)) == structural_hash(matmul())
    assert structural_hash(two_stage(sfx=sfx)) == structural_hash(two_stage())


def test_distinct_variants_hash_distinctly():
    variants = [matmul(**kw) for kw in DIFFERENT.values()]
    variants += [matmul(), matmul(64, 64, 64), matmul(64, 64, 64, order=("j", "i", "k")),
                 matmul(64, 64, 64, swap_a=True), matmul(kinds={"i": ForKind.VECTORIZED}),
                 matmul(kinds={"i": ForKind.UNROLLED}), matmul(dtype="float64"),
                 matmul(1, 1, 1), matmul(7, 13, 3), matmul(13, 7, 3)]
    variants += [elementwise(), elementwise(fn=tir.sigmoid), elementwise((8, 4)),
                 elementwise(dtype="float16"), two_stage(), two_stage(scope="shared"),
                 two_stage(vec_ann=8), lowered(), lowered(11), constants()]
    hashes = {structural_hash(v) for v in variants}
    assert len(hashes) == len(variants)
    for a in range(len(variants)):
        for b in range(a + 1, len(variants)):
            assert not structural_equal(variants[a], variants[b])


def test_hash_is_stable_across_processes():
    code = ("import sys; sys.path.insert(0, 'tests/tir'); from ir_samples import matmul; "
            "from onnxtune.tir.structural import structural_hash; "
            "print(structural_hash(matmul()))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    root_dir = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root_dir, check=True,
                         capture_output=True, text=True).stdout
    assert int(out) == structural_hash(matmul())
    assert 0 <= structural_hash(matmul()) < 2**64


# ----------------------------------------------------------------------------------------
# module equality modes


def _matmul_epilogue(epi="relu", sfx="", n=16):
    """D = epi(A @ B) with the product in an intermediate buffer."""
    a, b = decl_buffer((n, n), "float32", "A" + sfx), decl_buffer((n, n), "float32", "B" + sfx)
    d = decl_buffer((n, n), "float32", "D" + sfx)
    c = decl_buffer((n, n), "float32", "C" + sfx)
    i, j, kk, vi, vj, vk = (Var(s + sfx) for s in ("i", "j", "k", "vi", "vj", "vk"))
    mm = block("C", [(vi, n, False), (vj, n, False), (vk, n, True)], [i, j, kk],
               BufferStore(c, c[vi, vj] + a[vi, vk] * b[vk, vj], (vi, vj)),
               reads=(point(a, (vi, vk)), point(b, (vk, vj))), writes=(point(c, (vi, vj)),),
               init=BufferStore(c, const(0.0), (vi, vj)))
    i2, j2, wi, wj = (Var(s + sfx) for s in ("i", "j", "vi", "vj"))
    val = tir.max(c[wi, wj], const(0.0)) if epi == "relu" else c[wi, wj] + const(1.0)
    ep = block("D", [(wi, n, False), (wj, n, False)], [i2, j2], BufferStore(d, val, (wi, wj)),
               reads=(point(c, (wi, wj)),), writes=(point(d, (wi, wj)),))
    body = seq(loop(i, n, loop(j, n, loop(kk, n, mm))), loop(i2, n, loop(j2, n, ep)))
    return PrimFunc((a, b, d), root(body, allocs=(c,)))


def test_module_equal_structural_mode():
    a, b = IRModule({"main": matmul()}), IRModule({"main": matmul(sfx="_x")})
    assert module_equal(a, b, "structural")
    assert module_hash(a, "structural") == module_hash(b, "structural")
    assert module_equal(matmul(), b)  # a PrimFunc stands for {"main": func}
    assert not module_equal(a, IRModule({"other": matmul()}))
    assert not module_equal(a, IRModule({"main": matmul(), "x": elementwise()}))
    with pytest.raises(ValueError, match="anchor-block"):
        module_equal(a, b, "approximate")
    with pytest.raises(ValueError, match="ignore-tensor"):
        module_hash(a, "bogus")


def test_module_equal_ignore_tensor_mode():
    f = matmul()
    a = f.with_attr("constants", np.arange(6, dtype="float32")).with_attr("n_iter", 3)
    b = matmul(sfx="_b").with_attr("constants", np.ones(6, "float32")).with_attr("n_iter", 4)
    assert not module_equal(a, b, "structural")
    assert module_hash(a, "structural") != module_hash(b, "structural")
    assert module_equal(a, b, "ignore-tensor")
    assert module_hash(a, "ignore-tensor") == module_hash(b, "ignore-tensor")
    # tensor values inside annotations are ignored too, but not their shape or dtype
    ka = matmul(ann={"i": {"w": np.zeros((2, 3))}})
    kb = matmul(ann={"i": {"w": np.ones((2, 3))}})
    kc = matmul(ann={"i": {"w": np.ones((3, 2))}})
    assert not module_equal(ka, kb, "structural")
    assert module_equal(ka, kb, "ignore-tensor")
    assert module_hash(ka, "ignore-tensor") == module_hash(kb, "ignore-tensor")
    assert not module_equal(ka, kc, "ignore-tensor")
    # numbers in attrs are ignored only as values: a float is still not an int
    assert not module_equal(f.with_attr("n", 1), f.with_attr("n", 1.0), "ignore-tensor")
    assert module_equal(f.with_attr("n", IntImm(3)), f.with_attr("n", IntImm(5)),
                        "ignore-tensor")
    # the IR itself still counts
    assert not module_equal(matmul(), matmul(init_value=2.0), "ignore-tensor")


def test_find_anchor_block_rule():
    assert find_anchor_block(_matmul_epilogue()).name_hint == "C"
    assert find_anchor_block(matmul()).name_hint == "C"
    assert find_anchor_block(elementwise()).name_hint == "B"
    # without reductions: the most FLOPs wins, the last block on a tie
    assert find_anchor_block(two_stage()).name_hint == "B"
    assert find_anchor_block(lowered()) is None  # no blocks left after lowering
    # two reductions: the bigger one
    mod = IRModule({"a": matmul(4, 4, 4, name="small"), "b": matmul(8, 8, 8, name="big")})
    assert find_anchor_block(mod).name_hint == "big"


def test_module_equal_anchor_block_mode():
    relu, bias = _matmul_epilogue("relu"), _matmul_epilogue("bias", sfx="_b")
    assert not module_equal(relu, bias, "structural")
    assert not module_equal(relu, bias, "ignore-tensor")
    assert module_equal(relu, bias, "anchor-block")
    assert module_hash(relu, "anchor-block") == module_hash(bias, "anchor-block")
    bigger = _matmul_epilogue("relu", n=32)
    assert not module_equal(relu, bigger, "anchor-block")
    assert module_hash(relu, "anchor-block") != module_hash(bigger, "anchor-block")
    # no blocks: the whole module is compared
    assert module_equal(lowered(), lowered(sfx="_x"), "anchor-block")
    assert not module_equal(lowered(), lowered(11), "anchor-block")
    assert module_hash(lowered(), "anchor-block") == module_hash(lowered(sfx="_y"),
                                                                 "anchor-block")

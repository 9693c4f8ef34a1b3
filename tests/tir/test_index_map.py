"""IndexMap: construction from callables, mapping indices / ranges / shapes, the inverse
of bijective affine maps (checked point by point), JSON and equivalence."""

from __future__ import annotations

import itertools
import json

import pytest

from onnxtune.tir import IntImm, Range, Var, const
from onnxtune.tir.schedule import IndexMap


def _ints(exprs):
    assert all(isinstance(e, IntImm) for e in exprs), exprs
    return [e.value for e in exprs]


def test_from_func_names_and_arity():
    m = IndexMap.from_func(lambda i, j: (j // 4, i, j % 4))
    assert [v.name for v in m.initial_indices] == ["i", "j"]
    assert len(m.final_indices) == 3
    star = IndexMap.from_func(lambda *idx: tuple(reversed(idx)), ndim=3)
    assert [v.name for v in star.initial_indices] == ["i0", "i1", "i2"]
    single = IndexMap.from_func(lambda i: i * 2)
    assert len(single.final_indices) == 1
    with pytest.raises(ValueError, match="takes 2 index arguments but the buffer has 3"):
        IndexMap.from_func(lambda i, j: (i, j), ndim=3)
    with pytest.raises(ValueError, match="pass ndim"):
        IndexMap.from_func(lambda *i: i)


def test_constructor_rejects_free_variables():
    i, z = Var("i"), Var("z")
    with pytest.raises(ValueError, match=r"use \['z'\], which are not initial indices"):
        IndexMap((i,), (i + z,))


def test_map_indices_and_shape():
    m = IndexMap.from_func(lambda i, j: (j // 4, i, j % 4))
    assert _ints(m.map_indices([3, 9])) == [2, 3, 1]
    assert _ints(m.map_shape([5, 12])) == [3, 5, 4]
    assert _ints(m.map_shape([5, 10])) == [3, 5, 4]  # non-divisible: padded last block
    r = m.map_ranges([Range(const(1), const(2)), Range(const(4), const(4))])
    assert [(_ints([x.min])[0], _ints([x.extent])[0]) for x in r] == [(1, 1), (1, 2), (0, 4)]
    with pytest.raises(ValueError, match="can be negative"):
        IndexMap.from_func(lambda i: (i - 3,)).map_shape([8])


@pytest.mark.parametrize("fn, shape", [
    (lambda i, j: (j, i), (3, 5)),
    (lambda i, j: (j // 4, i, j % 4), (3, 8)),
    (lambda i, j: ((i * 8 + j) // 4, (i * 8 + j) % 4), (3, 8)),
    (lambda i, j, k: (i * 6 + j * 3 + k,), (2, 2, 3)),
    (lambda n, c, h: (n, c // 2, h, c % 2), (2, 4, 3)),
    (lambda i: (i + 2,), (5,)),
])
def test_inverse_round_trip(fn, shape):
    m = IndexMap.from_func(fn)
    inv = m.inverse(shape)
    assert len(inv.initial_indices) == len(m.final_indices)
    for point in itertools.product(*(range(s) for s in shape)):
        out = _ints(m.map_indices(list(point)))
        assert _ints(inv.map_indices(out)) == list(point)


def test_inverse_of_a_non_bijective_map():
    with pytest.raises(ValueError, match="is not bijective over shape"):
        IndexMap.from_func(lambda i, j: (i + j,)).inverse([3, 4])
    with pytest.raises(ValueError, match="is not bijective"):
        IndexMap.from_func(lambda i, j: (i,)).inverse([3, 4])


def test_json_round_trip_and_equivalence():
    m = IndexMap.from_func(lambda i, j: (j // 4, i, j % 4))
    back = IndexMap.from_json(json.loads(json.dumps(m.as_json())))
    assert back.is_equivalent_to(m)
    assert [v.name for v in back.initial_indices] == ["i", "j"]
    assert m.is_equivalent_to(IndexMap.from_func(lambda a, b: (b // 4, a, b % 4)))
    assert not m.is_equivalent_to(IndexMap.from_func(lambda a, b: (b // 2, a, b % 4)))
    assert not m.is_equivalent_to(IndexMap.from_func(lambda a, b: (a, b)))
    assert repr(m) == "IndexMap(lambda i, j: (j // 4, i, j % 4))"
    with pytest.raises(ValueError, match="expected {'index_map': ...}"):
        IndexMap.from_json({"x": 1})

"""IndexMap: a map from buffer indices to new indices (transform_layout), with its inverse."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..arith import Analyzer
from ..arith.iter_map import IterMapResult, detect_iter_map, normalize_iter_map
from ..arith.utils import substitute_expr
from ..expr import FloorDiv, FloorMod, IntImm, PrimExpr, Range, Var, convert
from ..functor import collect_vars, substitute


@dataclass(frozen=True, slots=True, eq=False)
class IndexMap:
    """``(i0, i1, ...) -> (f0(i...), f1(i...), ...)``, e.g. ``lambda i, j: (j // 4, i, j % 4)``.

    ``initial_indices`` are fresh variables, ``final_indices`` expressions of them.
    Compare maps with :meth:`is_equivalent_to` (nodes compare by identity).
    """

    initial_indices: tuple[Var, ...]
    final_indices: tuple[PrimExpr, ...]

    def __post_init__(self) -> None:
        ini = tuple(self.initial_indices)
        fin = tuple(convert(e) for e in self.final_indices)
        for v in ini:
            if not isinstance(v, Var):
                raise TypeError(f"IndexMap: initial indices must be Vars, got {v!r}")
        free = set()
        for e in fin:
            free |= collect_vars(e)
        extra = free - set(ini)
        if extra:
            raise ValueError(
                f"IndexMap: the final indices use {sorted(v.name for v in extra)}, which are "
                f"not initial indices {[v.name for v in ini]}"
            )
        object.__setattr__(self, "initial_indices", ini)
        object.__setattr__(self, "final_indices", fin)

    # -- construction ---------------------------------------------------------------------
    @staticmethod
    def from_func(fn: Callable[..., Any], ndim: int | None = None,
                  index_dtype: str = "int32") -> IndexMap:
        """The map computed by the Python callable ``fn`` on ``ndim`` index variables
        (named after ``fn``'s parameters; ``ndim`` defaults to their count)."""
        names: list[str] = []
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
        var_args = any(p.kind == p.VAR_POSITIONAL for p in params)
        if ndim is None:
            if var_args:
                raise ValueError("IndexMap.from_func: pass ndim for a function taking *args")
            ndim = len(names)
        if len(names) > ndim or (len(names) < ndim and not var_args):
            raise ValueError(
                f"IndexMap.from_func: the function takes {len(names)} index arguments but the "
                f"buffer has {ndim} dimensions"
            )
        names += [f"i{k}" for k in range(len(names), ndim)]
        ivars = tuple(Var(n, index_dtype) for n in names)
        out = fn(*ivars)
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return IndexMap(ivars, tuple(convert(e) for e in out))

    # -- application ----------------------------------------------------------------------
    def map_indices(self, indices: Sequence[Any], analyzer: Analyzer | None = None
                    ) -> list[PrimExpr]:
        """The final indices with the initial indices replaced by ``indices``."""
        if len(indices) != len(self.initial_indices):
            raise ValueError(f"IndexMap.map_indices: {len(indices)} indices for a map of "
                             f"{len(self.initial_indices)} inputs")
        an = analyzer or Analyzer()
        sub = {v: convert(i) for v, i in zip(self.initial_indices, indices, strict=True)}
        return [an.simplify(substitute(e, sub)) for e in self.final_indices]

    def map_ranges(self, ranges: Sequence[Range], analyzer: Analyzer | None = None
                   ) -> list[Range]:
        """The box the final indices cover while each initial index ranges over ``ranges``."""
        if len(ranges) != len(self.initial_indices):
            raise ValueError(f"IndexMap.map_ranges: {len(ranges)} ranges for a map of "
                             f"{len(self.initial_indices)} inputs")
        an = analyzer.copy() if analyzer is not None else Analyzer()
        dom = dict(zip(self.initial_indices, ranges, strict=True))
        out = []
        for k, e in enumerate(self.final_indices):
            s = an.int_set(e, dom)
            if s.min is None or s.max is None:
                raise ValueError(f"IndexMap: final index {k} ({e!r}) is unbounded over the "
                                 "given ranges")
            out.append(Range(s.min, an.simplify(s.max - s.min + 1)))
        return out

    def map_shape(self, shape: Sequence[Any], analyzer: Analyzer | None = None
                  ) -> list[PrimExpr]:
        """The shape of the transformed buffer: ``max + 1`` of each final index."""
        ranges = [Range(IntImm(0, convert(s).dtype), convert(s)) for s in shape]
        an = analyzer or Analyzer()
        out = []
        for k, r in enumerate(self.map_ranges(ranges, an)):
            if not an.can_prove(r.min >= 0):
                raise ValueError(f"IndexMap: final index {k} ({self.final_indices[k]!r}) can be "
                                 "negative over the buffer's shape")
            out.append(an.simplify(r.min + r.extent))
        return out

    def inverse(self, shape: Sequence[Any]) -> IndexMap:
        """The inverse map, for a map that is bijective over ``shape`` (raises ValueError
        saying why otherwise)."""
        doms = {v: Range(IntImm(0, convert(s).dtype), convert(s))
                for v, s in zip(self.initial_indices, shape, strict=True)}
        try:
            res = normalize_iter_map(self.final_indices, doms, True, "bijective")
        except ValueError as err:
            raise ValueError(f"IndexMap.inverse: the map {self} is not bijective over shape "
                             f"{[str(s) for s in shape]}: {err}") from None
        outs = tuple(Var(f"o{k}", e.dtype) for k, e in enumerate(self.final_indices))
        inv = inverse_affine(res, outs, doms)
        return IndexMap(outs, tuple(inv[v] for v in self.initial_indices))

    def is_equivalent_to(self, other: IndexMap) -> bool:
        """Same arity and provably equal final indices."""
        if not isinstance(other, IndexMap):
            return False
        if len(self.initial_indices) != len(other.initial_indices):
            return False
        if len(self.final_indices) != len(other.final_indices):
            return False
        mine = self.final_indices
        theirs = other.map_indices(self.initial_indices)
        an = Analyzer()
        return all(an.can_prove_equal(a, b) for a, b in zip(mine, theirs, strict=True))

    # -- serialization --------------------------------------------------------------------
    def as_json(self) -> dict[str, Any]:
        """A JSON-able dict (see :meth:`from_json`)."""
        from ..serialize import to_json_obj

        return {"index_map": to_json_obj([list(self.initial_indices),
                                          list(self.final_indices)])}

    @staticmethod
    def from_json(obj: Mapping[str, Any]) -> IndexMap:
        from ..serialize import from_json_obj

        if not isinstance(obj, Mapping) or "index_map" not in obj:
            raise ValueError(f"IndexMap.from_json: expected {{'index_map': ...}}, got {obj!r:.80}")
        ini, fin = from_json_obj(obj["index_map"])
        return IndexMap(tuple(ini), tuple(fin))

    def __repr__(self) -> str:
        from .instruction import index_map_python

        return f"IndexMap({index_map_python(self)})"


def inverse_affine(res: IterMapResult, outputs: Sequence[PrimExpr],
                   doms: Mapping[Var, Range], analyzer: Analyzer | None = None
                   ) -> dict[Var, PrimExpr]:
    """The input iterators of a (bijective) iterator map given the values of its indices
    (TVM's InverseAffineIterMap). Iterators of extent 1 map to their minimum; iterators
    the indices do not use are absent from the result. ``analyzer`` (without bindings)
    may be shared by several calls so that they share its simplification memo."""
    an = Analyzer() if analyzer is None else analyzer
    acc: dict[int, list] = {}  # id(mark) -> [mark, value]

    def add(mark, value: PrimExpr) -> None:
        ent = acc.get(id(mark))
        if ent is None:
            acc[id(mark)] = [mark, value]
        else:
            ent[1] = ent[1] + value

    for s, out in zip(res.indices, outputs, strict=True):
        rest = convert(out) - s.base
        order = sorted(s.splits, key=lambda x: abs(x.scale))
        for k, sp in enumerate(order):
            d = rest if sp.scale == 1 else FloorDiv(rest, IntImm(sp.scale, rest.dtype))
            if k + 1 < len(order):
                d = FloorMod(d, IntImm(sp.extent, rest.dtype))
            add(sp.mark, d if sp.lower_factor == 1 else d * sp.lower_factor)
    # expand fused marks once every contribution to them is known (users first)
    users: dict[int, int] = {}
    seen: dict[int, Any] = {}
    stack = [ent[0] for ent in acc.values()]
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen[id(m)] = m
        for p in m.parts:
            users[id(p.mark)] = users.get(id(p.mark), 0) + 1
            stack.append(p.mark)
    ready = [m for m in seen.values() if m.parts and users.get(id(m), 0) == 0]
    while ready:
        m = ready.pop()
        ent = acc.get(id(m))
        if ent is not None:
            v = ent[1]
            scale = 1
            for k, p in enumerate(m.parts):  # inner first
                d = v if scale == 1 else FloorDiv(v, IntImm(scale, v.dtype))
                if k + 1 < len(m.parts):
                    d = FloorMod(d, IntImm(p.extent, v.dtype))
                add(p.mark, d if p.lower_factor == 1 else d * p.lower_factor)
                scale *= p.extent
        for p in m.parts:
            users[id(p.mark)] -= 1
            if users[id(p.mark)] == 0 and p.mark.parts:
                ready.append(p.mark)
    unit = {v: r.min for v, r in doms.items()
            if isinstance(r.extent, IntImm) and r.extent.value == 1}
    out: dict[Var, PrimExpr] = {}
    for v, mark in res.input_marks.items():
        ent = acc.get(id(mark))
        if ent is None:
            continue
        offset = an.simplify(v - mark.source)
        out[v] = an.simplify(substitute_expr(ent[1] + offset, unit))
    for v, m in unit.items():
        out.setdefault(v, m)
    return out


def detect_bijective(indices: Sequence[PrimExpr], doms: Mapping[Var, Range]
                     ) -> IterMapResult | None:
    """The bijective iterator map of ``indices`` over ``doms`` (None if there is none)."""
    return detect_iter_map(indices, doms, True, "bijective")

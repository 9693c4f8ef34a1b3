"""Ops outside the usual families: topk, einsum, cumsum."""

from __future__ import annotations

from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast, const

from . import OpPattern, register_op
from ._util import broadcast_shape, norm_axis, shape_of


@register_op("topk", OpPattern.OPAQUE, num_outputs=2)
def topk(x: te.Tensor, k: int, axis: int = -1, largest: bool = True,
         sorted: bool = True) -> tuple[te.Tensor, te.Tensor]:  # noqa: A002 - ONNX's name
    """The ``k`` largest (or smallest) elements along ``axis`` and their int64 indices, in
    order (ties: the smaller index first, as ONNX). Computed by ranking: each element's rank
    is the number of elements ordered before it; output ``p`` takes the element of rank
    ``p``. Quadratic in the axis length, which suits classifier-sized axes."""
    shp = shape_of(x)
    ax = norm_axis(axis, len(shp), "topk")
    n = shp[ax]
    k = int(k)
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is outside [0, {n}] for axis {ax} of {shp}")

    def at(i: tuple, v: Any) -> tuple:
        return tuple(v if j == ax else i[j] for j in range(len(shp)))

    def frank(*i: PrimExpr) -> PrimExpr:
        r = te.reduce_axis((0, n), name="r")
        me, other = x[i], x[at(i, r)]
        better = other > me if largest else other < me
        before = tir_op.any(better, tir_op.all(other == me, r < i[ax]))
        return te.sum(cast("int32", before), axis=r)

    rank = te.compute(shp, frank, name="topk_rank")
    out = tuple(k if j == ax else s for j, s in enumerate(shp))

    def fidx(*i: PrimExpr) -> PrimExpr:
        r = te.reduce_axis((0, n), name="r")
        return te.sum(
            tir_op.select(rank[at(i, r)] == i[ax], cast("int64", r), const(0, "int64")), axis=r
        )

    idx = te.compute(out, fidx, name="topk_indices")
    val = te.compute(out, lambda *i: x[at(i, cast("int32", idx[i]))], name="topk_values")
    return val, idx


def _parse_einsum(subscripts: str, ranks: list[int]) -> tuple[list[str], str]:
    s = subscripts.replace(" ", "")
    lhs, arrow, rhs = s.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got "
                         f"{len(ranks)}")
    used = set(c for c in s if c.isalpha())
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    ell_rank = max((r - len(t.replace("...", "")) for t, r in zip(terms, ranks, strict=True)
                    if "..." in t), default=0)
    ell = "".join(spare[:ell_rank])
    out_terms = []
    for t, r in zip(terms, ranks, strict=True):
        if "..." in t:
            n_ell = r - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_rank - n_ell:])
        if len(t) != r or (t and not t.isalpha()):
            raise ValueError(f"einsum: term {t!r} does not match an operand of rank {r}")
        out_terms.append(t)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts: dict[str, int] = {}
        for t in out_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, m in counts.items() if m == 1 and c not in ell))
    if not out.isalpha() and out:
        raise ValueError(f"einsum: bad output term in {subscripts!r}")
    return out_terms, out


@register_op("einsum", OpPattern.OUT_EWISE_FUSABLE)
def einsum(*inputs: te.Tensor, subscripts: str) -> te.Tensor:
    """numpy.einsum over static shapes (with ``...`` broadcasting): one block, a reduction
    over the letters missing from the output."""
    shapes = [shape_of(t) for t in inputs]
    terms, out = _parse_einsum(subscripts, [len(s) for s in shapes])
    size: dict[str, int] = {}
    for t, shp in zip(terms, shapes, strict=True):
        for c, e in zip(t, shp, strict=True):
            if c in size and size[c] != e and 1 not in (size[c], e):
                raise ValueError(f"einsum: {c!r} has sizes {size[c]} and {e} in {subscripts!r}")
            size[c] = max(size.get(c, 1), e) if c in size else e
    for c in out:
        if c not in size:
            raise ValueError(f"einsum: output letter {c!r} is in no input of {subscripts!r}")
    red = [c for c in size if c not in out]
    dtype = inputs[0].dtype
    for t in inputs[1:]:
        dtype = dt.promote(dtype, t.dtype)

    def f(*i: PrimExpr) -> PrimExpr:
        env: dict[str, Any] = dict(zip(out, i, strict=True))
        rs = [te.reduce_axis((0, size[c]), name=c) for c in red]
        env.update(zip(red, rs, strict=True))
        prod_e = None
        for t, x, shp in zip(terms, inputs, shapes, strict=True):
            v = cast(dtype, x[tuple(0 if shp[j] == 1 and size[c] != 1 else env[c]
                                    for j, c in enumerate(t))])
            prod_e = v if prod_e is None else prod_e * v
        return te.sum(prod_e, axis=rs) if rs else prod_e

    broadcast_shape([[size[c] for c in out]], "einsum")
    return te.compute(tuple(size[c] for c in out), f, name="einsum")


@register_op("cumsum", OpPattern.OPAQUE)
def cumsum(x: te.Tensor, axis: int = 0, exclusive: bool = False,
           reverse: bool = False) -> te.Tensor:
    """Running sum along ``axis`` (ONNX CumSum): one reduction masked to the prefix."""
    shp = shape_of(x)
    ax = norm_axis(axis, len(shp), "cumsum")
    n = shp[ax]

    def f(*i: PrimExpr) -> PrimExpr:
        r = te.reduce_axis((0, n), name="k")
        me = i[ax]
        if reverse:
            cond = r > me if exclusive else r >= me
        else:
            cond = r < me if exclusive else r <= me
        src = tuple(r if j == ax else i[j] for j in range(len(shp)))
        return te.sum(x[src], axis=r, where=cond)

    return te.compute(shp, f, name="cumsum")

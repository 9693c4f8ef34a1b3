"""Winograd convolution F(m x m, 3 x 3) in three ops: input transform, batched matmul,
output transform.

For a 3x3, unit-stride, undilated convolution the output splits into ``m x m`` tiles;
each tile is computed from an ``a x a`` input tile (``a = m + 2``) as

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A

with ``g`` the 3x3 filter of an (output, input) channel pair and ``d`` the input tile.
Summed over the input channels, the elementwise product becomes, for each of the ``a²``
tile positions ``t``, a matrix product over the channels:
``M[t, p, k] = sum_c V[t, p, c] U[t, c, k]``, with ``V = B^T d B`` per tile ``p`` and
input channel, and ``U = G g G^T`` per channel pair (computed once, from the constant
weight, by the graph pass :mod:`..transform.winograd`). The matrix product is an ordinary
``matmul`` (tuned like any other); this module holds the two transforms:

* ``nn.winograd_input`` (data ``NCHW{b}c``, ``B`` (a, a)) → ``V`` (a², P, C/b, b), P =
  N x tiles down x tiles across. Two reductions of ``a`` terms each (``d B``, then
  ``B^T (d B)``), not one of ``a²`` terms.
* ``nn.winograd_output`` (``M`` (a², P, K/b, b), ``A`` (a, m)) → (N, K/b, OH, OW, b): the same
  two steps with ``A``; its epilogue (bias, residual add, activation) fuses into it as into
  the convolution it replaces.

The transform matrices are inputs (small constant tensors) rather than literals in the
expressions, so one task serves every convolution of a shape. :func:`winograd_matrices`
gives them (Lavin & Gray's interpolation points 0, ±1, ±2, ∞ for m = 4; 0, ±1, ∞ for
m = 2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr

from . import OpPattern, register_op
from ._util import ints, pad_stage, scalar, shape_of

#: tile sizes with matrices here
TILES = (2, 4)


def winograd_matrices(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, G, A) of F(m x m, 3 x 3) as float64: ``B`` (a, a), ``G`` (a, 3), ``A`` (a, m),
    so that a tile's output is ``A^T [(G g G^T) ⊙ (B^T d B)] A`` (a cross-correlation,
    as ONNX's Conv)."""
    if m == 2:
        bt = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
        g = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        at = [[1, 1, 1, 0], [0, 1, -1, -1]]
    elif m == 4:
        bt = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
        g = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
             [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
        at = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]]
    else:
        raise ValueError(f"winograd: tile size m={m} has no matrices; expected one of {TILES}")
    return (np.array(bt, np.float64).T, np.array(g, np.float64), np.array(at, np.float64).T)


def transform_weight(w: np.ndarray, m: int) -> np.ndarray:
    """An OIHW 3x3 weight (K, C, 3, 3) as ``U`` (a², C, K): ``G g G^T`` per channel pair,
    the tile position first (computed in float64, stored as ``w``'s dtype)."""
    if w.ndim != 4 or w.shape[2:] != (3, 3):
        raise ValueError(f"winograd: the weight must be (K, C, 3, 3), got {w.shape}")
    _, g, _ = winograd_matrices(m)
    u = np.einsum("ai,kcij,bj->abck", g, w.astype(np.float64), g)
    a = m + 2
    return np.ascontiguousarray(u.reshape(a * a, w.shape[1], w.shape[0]).astype(w.dtype))


def tiles(size: int, m: int) -> int:
    """Tiles of ``m`` outputs that cover ``size`` outputs (the last one may stick out)."""
    return -(-size // m)


def _check_matrix(name: str, t: te.Tensor, shape: tuple[int, int]) -> None:
    if shape_of(t) != shape:
        raise ValueError(f"{name}: the transform matrix must be {shape}, got {shape_of(t)}")


@register_op("nn.winograd_input", OpPattern.OUT_EWISE_FUSABLE)
def winograd_input(data: te.Tensor, bmat: te.Tensor, tile: int = 4,
                   padding: Any = (1, 1, 1, 1)) -> te.Tensor:
    """The input transform ``V = B^T d B`` of every ``a x a`` input tile (stride ``tile``)
    of ``data`` ``NCHW{b}c`` (N, C/b, H, W, b) padded by ``padding`` (top, left, bottom,
    right; the bottom and right grow to whole tiles): V (a², P, C/b, b) with P = N x TH x
    TW tiles, row-major (the channels stay blocked, the lanes innermost at every stage: a
    reshape to (a², P, C) is a view)."""
    name = "nn.winograd_input"
    dshape = shape_of(data)
    if len(dshape) != 5:
        raise ValueError(f"{name}: data must be 5-d NCHW<b>c, got shape {dshape}")
    m = int(tile)
    a = m + 2
    _check_matrix(name, bmat, (a, a))
    n, cb, h, w, b = dshape
    pt, pl, pb, pr = ints(padding, 4, f"{name} padding")
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: a 3x3 window does not fit the padded input {dshape} "
                         f"+ {(pt, pl, pb, pr)}")
    th, tw = tiles(oh, m), tiles(ow, m)
    # rows and columns the tiles read past the padded input are zeros too
    pad = pad_stage(data, (0, 0, pt, pl, 0),
                    (0, 0, th * m + 2 - h - pt, tw * m + 2 - w - pl, 0),
                    scalar(0, data.dtype), name="data_pad")
    rj = te.reduce_axis((0, a), name="rj")
    ri = te.reduce_axis((0, a), name="ri")

    def rows(p: PrimExpr, i: PrimExpr, t2: PrimExpr, cc: PrimExpr, ci: PrimExpr) -> PrimExpr:
        nn, y, x = p // (th * tw), p // tw % th, p % tw
        return te.sum(pad[nn, cc, y * m + i, x * m + rj, ci] * bmat[rj, t2], axis=rj)

    db = te.compute((n * th * tw, a, a, cb, b), rows, name="winograd_dB")

    def f(t: PrimExpr, p: PrimExpr, cc: PrimExpr, ci: PrimExpr) -> PrimExpr:
        return te.sum(db[p, ri, t % a, cc, ci] * bmat[ri, t // a], axis=ri)

    return te.compute((a * a, n * th * tw, cb, b), f, name="winograd_input")


@register_op("nn.winograd_output", OpPattern.OUT_EWISE_FUSABLE)
def winograd_output(prod: te.Tensor, amat: te.Tensor, tile: int = 4,
                    batch: int = 1, out_size: Any = (1, 1)) -> te.Tensor:
    """The output transform ``Y = A^T M A`` of every tile of ``prod`` (a², P, K/b, b),
    the tiles of ``batch`` images of ``out_size`` (OH, OW) row-major, into ``NCHW{b}c``
    (N, K/b, OH, OW, b)."""
    name = "nn.winograd_output"
    m = int(tile)
    a = m + 2
    _check_matrix(name, amat, (a, m))
    oh, ow = ints(out_size, 2, f"{name} out_size")
    th, tw = tiles(oh, m), tiles(ow, m)
    n = int(batch)
    pshape = shape_of(prod)
    if len(pshape) != 4 or pshape[:2] != (a * a, n * th * tw):
        raise ValueError(f"{name}: the product must be ({a * a}, {n * th * tw}, K/b, b) for "
                         f"{n} image(s) of {oh}x{ow} in {m}x{m} tiles, got {pshape}")
    kb, b = pshape[2:]
    rj = te.reduce_axis((0, a), name="rj")
    ri = te.reduce_axis((0, a), name="ri")

    def cols(p: PrimExpr, i: PrimExpr, x: PrimExpr, kk: PrimExpr, ki: PrimExpr) -> PrimExpr:
        return te.sum(prod[i * a + rj, p, kk, ki] * amat[rj, x], axis=rj)

    ma = te.compute((n * th * tw, a, m, kb, b), cols, name="winograd_MA")

    def f(nn: PrimExpr, kk: PrimExpr, y: PrimExpr, x: PrimExpr, ki: PrimExpr) -> PrimExpr:
        p = (nn * th + y // m) * tw + x // m
        return te.sum(ma[p, ri, x % m, kk, ki] * amat[ri, y % m], axis=ri)

    return te.compute((n, kb, oh, ow, b), f, name="winograd_output")

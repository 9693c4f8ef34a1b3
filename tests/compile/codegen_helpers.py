"""Hand-built PrimFuncs (TE and scheduled forms) for the code generator tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import onnxtune.tir.stmt  # noqa: F401
from onnxtune import tir
from onnxtune.tir import (
    Block,
    BlockRealize,
    BufferStore,
    For,
    ForKind,
    IterType,
    IterVar,
    PrimFunc,
    Range,
    Var,
    const,
)
from onnxtune.tir.stmt import true


def root(body, allocs: Sequence[tir.Buffer] = ()) -> BlockRealize:
    """The root block realize around ``body`` allocating ``allocs``."""
    return BlockRealize((), true(), Block((), (), (), "root", body, None, tuple(allocs)))


def block(name, iters, values, body, init=None, predicate=None, allocs=()) -> BlockRealize:
    """A block realize; ``iters`` are (var, extent, reduce?) triples."""
    ivs = tuple(
        IterVar(Range.from_min_extent(0, ext), v,
                IterType.COMM_REDUCE if red else IterType.DATA_PAR)
        for v, ext, red in iters
    )
    blk = Block(ivs, (), (), name, body, init, tuple(allocs))
    return BlockRealize(tuple(tir.convert(x) for x in values),
                        true() if predicate is None else predicate, blk)


def loop(var, extent, body, kind=ForKind.SERIAL, annotations=None) -> For:
    return For(var, const(0, var.dtype), const(extent, var.dtype), kind, body, "",
               annotations or {})


def _nest(name: str, n: int, vi: Var, body, vector: int):
    if not vector:
        i = Var("i")
        return loop(i, n, block(name, [(vi, n, False)], [i], body))
    io, ii = Var("io"), Var("ii")
    outer = (n + vector - 1) // vector
    pred = None if n % vector == 0 else io * vector + ii < n
    br = block(name, [(vi, n, False)], [io * vector + ii], body, predicate=pred)
    return loop(io, outer, loop(ii, vector, br, ForKind.VECTORIZED))


def elementwise(
    fns: dict[str, tuple[Callable, str]], in_dtypes: Sequence[str], n: int, vector: int = 0
) -> PrimFunc:
    """For each ``name: (fn, dtype)``: ``name[i] = fn(x0[i], x1[i], ...)``, one loop nest
    per output. With ``vector`` each loop is split by that factor (a predicate guards the
    tail) and the inner loop vectorized. Parameters: the inputs, then the outputs."""
    ins = [tir.decl_buffer((n,), d, f"x{k}") for k, d in enumerate(in_dtypes)]
    outs, nests = [], []
    for name, (fn, dtype) in fns.items():
        out = tir.decl_buffer((n,), dtype, name)
        vi = Var("vi")
        body = BufferStore(out, tir.convert(fn(*[b[vi] for b in ins])), (vi,))
        outs.append(out)
        nests.append(_nest(name, n, vi, body, vector))
    return PrimFunc((*ins, *outs), root(tir.stmt.seq(*nests)))


def matmul(m: int, n: int, k: int, dtype: str = "float32") -> PrimFunc:
    """C[i, j] = sum_k A[i, k] * B[k, j] in TE form (a reduction block with init)."""
    a = tir.decl_buffer((m, k), dtype, "A")
    b = tir.decl_buffer((k, n), dtype, "B")
    c = tir.decl_buffer((m, n), dtype, "C")
    i, j, r = Var("i"), Var("j"), Var("k")
    vi, vj, vk = Var("vi"), Var("vj"), Var("vk")
    body = BufferStore(c, c[vi, vj] + a[vi, vk] * b[vk, vj], (vi, vj))
    init = BufferStore(c, const(0, dtype), (vi, vj))
    br = block("C", [(vi, m, False), (vj, n, False), (vk, k, True)], [i, j, r], body, init)
    return PrimFunc((a, b, c), root(loop(i, m, loop(j, n, loop(r, k, br)))))


def conv2d_nchw(
    shape, f: int, kernel: int, pad: int = 0, stride: int = 1, dilation: int = 1,
    groups: int = 1, dtype: str = "float32",
) -> PrimFunc:
    """A TE-form grouped 2-D convolution: a padding block into an intermediate buffer,
    then a reduction block over (rc, ry, rx)."""
    n, c, h, w = shape
    cg, fg = c // groups, f // groups
    oh = (h + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    a = tir.decl_buffer(shape, dtype, "A")
    wt = tir.decl_buffer((f, cg, kernel, kernel), dtype, "W")
    out = tir.decl_buffer((n, f, oh, ow), dtype, "Out")
    ph, pw = h + 2 * pad, w + 2 * pad
    apad = tir.decl_buffer((n, c, ph, pw), dtype, "Apad")
    pv = [Var(x) for x in ("pn", "pc", "ph", "pw")]
    pl = [Var(x) for x in ("i0", "i1", "i2", "i3")]
    inside = tir.all(pv[2] >= pad, pv[2] < h + pad, pv[3] >= pad, pv[3] < w + pad)
    pad_val = tir.if_then_else(inside, a[pv[0], pv[1], pv[2] - pad, pv[3] - pad],
                               const(0, dtype))
    pad_blk = block("pad", list(zip(pv, (n, c, ph, pw), [False] * 4, strict=True)), pl,
                    BufferStore(apad, pad_val, tuple(pv)))
    pad_nest = pad_blk
    for v, e in reversed(list(zip(pl, (n, c, ph, pw), strict=True))):
        pad_nest = loop(v, e, pad_nest)
    cv = [Var(x) for x in ("vn", "vf", "vy", "vx", "vrc", "vry", "vrx")]
    cl = [Var(x) for x in ("n", "f", "y", "x", "rc", "ry", "rx")]
    vn, vf, vy, vx, vrc, vry, vrx = cv
    ic = (vf // fg) * cg + vrc
    prod = apad[vn, ic, vy * stride + vry * dilation, vx * stride + vrx * dilation] * wt[
        vf, vrc, vry, vrx]
    body = BufferStore(out, out[vn, vf, vy, vx] + prod, (vn, vf, vy, vx))
    init = BufferStore(out, const(0, dtype), (vn, vf, vy, vx))
    exts = (n, f, oh, ow, cg, kernel, kernel)
    conv = block("conv", list(zip(cv, exts, [False] * 4 + [True] * 3, strict=True)), cl, body,
                 init)
    for v, e in reversed(list(zip(cl, exts, strict=True))):
        conv = loop(v, e, conv)
    return PrimFunc((a, wt, out), root(tir.stmt.seq(pad_nest, conv), allocs=[apad]))


def conv2d_reference(x, wt, pad=0, stride=1, dilation=1, groups=1):
    """numpy grouped convolution (float64 accumulation)."""
    n, _, h, w = x.shape
    f, cg, k, _ = wt.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, f, oh, ow))
    fg = f // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = wt[g * fg:(g + 1) * fg].astype(np.float64)
        for ry in range(k):
            for rx in range(k):
                patch = xs[:, :, ry * dilation: ry * dilation + stride * (oh - 1) + 1: stride,
                           rx * dilation: rx * dilation + stride * (ow - 1) + 1: stride]
                out[:, g * fg:(g + 1) * fg] += np.einsum("nchw,fc->nfhw", patch, ws[:, :, ry, rx])
    return out

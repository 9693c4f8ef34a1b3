"""Accuracy (max ulp over millions of points) and speed of the generated fast math vs numpy.

    python benchmarks/bench_fast_math.py [--points 2000000]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from onnxtune import tir
from onnxtune.compile import build
from onnxtune.tir.stmt import true


def _unary_func(op, n: int, lanes: int = 16) -> tir.PrimFunc:
    """y[i] = op(x[i]) with the loop split by ``lanes`` and the inner loop vectorized."""
    x = tir.decl_buffer((n,), "float32", "x")
    y = tir.decl_buffer((n,), "float32", "y")
    io, ii, vi = tir.Var("io"), tir.Var("ii"), tir.Var("vi")
    blk = tir.Block((tir.IterVar(tir.Range.from_min_extent(0, n), vi),), (), (), "y",
                    tir.BufferStore(y, op(x[vi]), (vi,)))
    real = tir.BlockRealize((io * lanes + ii,), io * lanes + ii < n, blk)
    inner = tir.For(ii, tir.const(0), tir.const(lanes), tir.ForKind.VECTORIZED, real)
    outer = tir.For(io, tir.const(0), tir.const((n + lanes - 1) // lanes), tir.ForKind.PARALLEL,
                    inner)
    root = tir.BlockRealize((), true(), tir.Block((), (), (), "root", outer))
    return tir.PrimFunc((x, y), root)


def _erf(x):
    try:
        from scipy.special import erf

        return erf(x)
    except ImportError:
        return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


FUNCS = {
    "exp": (tir.exp, np.exp, (-110.0, 90.0)),
    "log": (tir.log, np.log, None),
    "tanh": (tir.tanh, np.tanh, (-12.0, 12.0)),
    "sigmoid": (tir.sigmoid, _sigmoid, (-110.0, 110.0)),
    "erf": (tir.erf, _erf, (-5.0, 5.0)),
}


def _points(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if name == "log":  # denormals to FLT_MAX, log-uniform
        x = np.exp2(rng.uniform(-149, 128, n))
    else:
        lo, hi = FUNCS[name][2]
        x = np.concatenate([rng.uniform(lo, hi, n // 2), rng.uniform(-1, 1, n - n // 2)])
    return np.resize(x, n).astype("float32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=2_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.points | 1
    print(f"{'func':8s} {'max ulp':>8s} {'ours ns/elem':>13s} {'numpy ns/elem':>14s} {'ratio':>6s}")
    for name, (op, ref, _) in FUNCS.items():
        x = _points(name, n, rng)
        mod = build(_unary_func(op, n))
        y = np.empty_like(x)
        mod["main"](x, y)
        t0 = time.perf_counter()
        for _ in range(5):
            mod["main"](x, y)
        ours = (time.perf_counter() - t0) / 5 / n * 1e9
        with np.errstate(all="ignore"):
            t0 = time.perf_counter()
            for _ in range(5):
                ref(x)
            theirs = (time.perf_counter() - t0) / 5 / n * 1e9
            want = ref(x.astype(np.float64))
            w32 = want.astype(np.float32)
        ok = np.isfinite(w32)
        spacing = np.maximum(np.spacing(np.abs(w32[ok])).astype(np.float64),
                             np.finfo(np.float32).smallest_subnormal)
        ulp = np.abs(y[ok].astype(np.float64) - want[ok]) / spacing
        print(f"{name:8s} {ulp.max():8.2f} {ours:13.2f} {theirs:14.2f} {theirs / ours:6.1f}")


if __name__ == "__main__":
    main()

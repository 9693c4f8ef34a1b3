"""1024×1024×1024 float32 matmul: a hand-written schedule vs numpy, GFLOPS in one run.

    python benchmarks/matmul.py [--n 1024] [--threads 2] [--repeat 15] [--show]
                                [--mr 8 --nr 32 --mc 64 --nc 128 --kc 256] [--no-pack]

The schedule uses only ``tir.Schedule`` primitives (BLIS-like):

* loops i, j, k tiled as ``j0 k0 i0 j1 i1 k1 i2 j2`` (``i2 × j2`` = an MR × NR register
  tile, ``k0`` blocks the reduction so the B panel a micro-kernel streams stays in L2);
* ``j0`` (the NC-wide column panels) is the parallel loop: each thread owns whole panels
  of C, so no two threads write the same cache lines and B is packed once per panel;
* B packed with ``cache_read`` computed at ``k0``: the KC × NC block of B each thread
  works on is copied once into a contiguous buffer (rows NC wide instead of N) and then
  reused by every row block ``i0`` (packing under ``i0`` instead re-copies B M/MC times,
  which costs more than it saves and made two threads slower than one);
* ``cache_write`` of C reverse-computed at ``j0``: the M × NC panel of C accumulates in
  a per-thread buffer, written back once;
* the init split off with ``decompose_reduction``; the NR loop vectorized by 16 (one zmm),
  MR and NR/16 unrolled so the MR × NR/16 accumulators stay in registers.

numpy's ``np.matmul`` (its BLAS, on the same number of threads) is timed in the same run,
interleaved with ours; medians are printed, with the ratio.
"""

from __future__ import annotations

import argparse
import os
import time


def schedule_matmul(func, mr: int = 8, nr: int = 32, mc: int = 64, nc: int = 128,
                    kc: int = 256, pack: bool = True, pack_a: bool = False):
    """The hand schedule of ``testing.matmul(n, n, n)`` (block "C")."""
    from onnxtune.tir import Schedule

    sch = Schedule(func)
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    i0, i1, i2 = sch.split(i, [None, mc // mr, mr])
    j0, j1, j2 = sch.split(j, [None, nc // nr, nr])
    k0, k1 = sch.split(k, [None, kc])
    sch.reorder(j0, k0, i0, j1, i1, k1, i2, j2)
    vec_blocks = []
    if pack:
        bb = sch.cache_read(c, 1, "global")
        sch.compute_at(bb, k0)
        vec_blocks.append(bb)
    if pack_a:
        ab = sch.cache_read(c, 0, "global")
        sch.compute_at(ab, i0)
    cl = sch.cache_write(c, 0, "global")
    sch.reverse_compute_at(cl, j0)
    j2o, j2i = sch.split(j2, [None, 16])
    sch.unroll(i2)
    sch.unroll(j2o)
    sch.vectorize(j2i)
    sch.parallel(j0)
    sch.decompose_reduction(c, k0)
    # the write-back, the init and the B packing vectorized along j
    for blk in [cl, sch.get_block("C_init"), *vec_blocks]:
        inner = sch.get_loops(blk)[-1]
        _, v = sch.split(inner, [None, 16])
        sch.vectorize(v)
    return sch


#: seconds to let OpenBLAS's worker threads fall asleep after a call: they busy-wait for
#: ~0.1 s, and on 2 cores would steal the CPU from our next timed run (measured: 90 instead
#: of 176 GFLOPS)
BLAS_SETTLE_S = 0.25


def build_checked(sch, n: int):
    """Build the scheduled ``n``³ matmul, run it once on random inputs and check it against
    numpy: (module, a, b, c, build seconds, max relative error); exits on a wrong result."""
    import numpy as np

    from onnxtune.compile import build

    t0 = time.perf_counter()
    mod = build(sch.mod["main"])
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    mod["main"](a, b, c)
    want = a @ b
    err = float(np.abs(c - want).max() / np.abs(want).max())
    if err > 1e-4:
        raise SystemExit(f"matmul: wrong result, max relative error {err:.2e}")
    return mod, a, b, c, build_s, err


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--mr", type=int, default=8)
    ap.add_argument("--nr", type=int, default=32)
    ap.add_argument("--mc", type=int, default=64)
    ap.add_argument("--nc", type=int, default=128)
    ap.add_argument("--kc", type=int, default=256)
    ap.add_argument("--no-pack", dest="pack", action="store_false",
                    help="read B in place instead of packing a panel per thread")
    ap.add_argument("--pack-a", action="store_true")
    ap.add_argument("--show", action="store_true", help="print the scheduled program")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import numpy as np  # after the thread count is in the environment (BLAS reads it once)

    from onnxtune.compile import runtime
    from onnxtune.tir import testing

    n = args.n
    runtime.set_num_threads(args.threads)
    func, _ = testing.matmul(n, n, n)
    sch = schedule_matmul(func, args.mr, args.nr, args.mc, args.nc, args.kc, args.pack,
                          args.pack_a)
    if args.show:
        sch.show()
    mod, a, b, c, build_s, err = build_checked(sch, n)
    ev = mod.time_evaluator("main", number=1, repeat=1)
    ours, theirs = [], []
    ref_out = np.empty_like(c)
    for _ in range(args.repeat):  # interleaved, so load from elsewhere hits both
        ours.append(ev(a, b, c).mean)
        theirs.append(_seconds(lambda: np.matmul(a, b, out=ref_out)))
        time.sleep(BLAS_SETTLE_S)
    flop = 2.0 * n ** 3
    g_ours = flop / float(np.median(ours)) / 1e9
    g_np = flop / float(np.median(theirs)) / 1e9
    print(f"matmul {n}x{n}x{n} float32, {args.threads} threads (build {build_s:.2f} s, "
          f"max rel. error {err:.1e})")
    print(f"  onnxtune hand schedule : {g_ours:8.1f} GFLOPS  ({np.median(ours) * 1e3:.2f} ms)")
    print(f"  numpy (BLAS)           : {g_np:8.1f} GFLOPS  ({np.median(theirs) * 1e3:.2f} ms)")
    print(f"  ratio ours / numpy     : {g_ours / g_np:8.2f}")


if __name__ == "__main__":
    main()

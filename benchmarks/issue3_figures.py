"""Every speed figure of issue 3 (schedule primitives and native code) in one run.

    python benchmarks/issue3_figures.py [--threads 2] [--quick]

(a) 1024³ float32 matmul with the hand schedule of ``benchmarks/matmul.py`` vs numpy's
    ``np.matmul`` on the same thread count, interleaved; GFLOPS (median) and the ratio
    (target ≥ 0.70).
(b) the launch overhead of an empty parallel region on 2 threads, launched back to back
    from a native loop (``benchmarks/parallel_overhead.py``'s kernel; target < 10 µs).
(c) 1 → 2 thread scaling of a compute-bound kernel (target ≥ 1.7×): the raw FMA-chain
    kernel of ``parallel_overhead.py`` and, as a scheduled-TIR cross-check, the matmul of
    (a) run on 1 and on 2 threads.
(d) ``sch.copy()`` + replay of the ~30-instruction conv2d trace of
    ``benchmarks/schedule_replay.py`` (target < 5 ms).

Timings on a shared machine are noisy: every section prints the load average (from
``os.getloadavg``, as ``uptime`` does) before it runs, and the medians and the best of the
repeats. With a load average above the core count, the parallel figures ((a) with 2
threads, (b), (c)) measure the other processes as much as ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str):
    """A sibling benchmark script as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", os.path.join(HERE,
                                                                                 f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load_line(label: str) -> str:
    one, five, fifteen = os.getloadavg()
    line = (f"[{label}] {time.strftime('%H:%M:%S')} load average: {one:.2f}, {five:.2f}, "
            f"{fifteen:.2f} on {os.cpu_count()} cores")
    print(line, flush=True)
    return line


def _cpu() -> float:
    """CPU seconds used by this process so far (all threads)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _stats(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    n = len(s)
    med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return med, s[0]


def matmul_figures(threads: int, repeat: int, n: int) -> dict:
    import numpy as np

    from onnxtune.compile import runtime
    from onnxtune.tir import testing

    bench = _load("matmul")
    func, _ = testing.matmul(n, n, n)
    sch = bench.schedule_matmul(func)
    runtime.set_num_threads(threads)
    mod, a, b, c, build_s, err = bench.build_checked(sch, n)
    ev = mod.time_evaluator("main", number=1, repeat=1)
    ref = np.empty_like(c)
    ours, theirs, ours1 = [], [], []
    for _ in range(repeat):  # interleaved: load from elsewhere hits every series alike
        runtime.set_num_threads(threads)
        ours.append(ev(a, b, c).mean)
        runtime.set_num_threads(1)
        ours1.append(ev(a, b, c).mean)
        t0 = time.perf_counter()
        np.matmul(a, b, out=ref)
        theirs.append(time.perf_counter() - t0)
        time.sleep(bench.BLAS_SETTLE_S)  # OpenBLAS's threads spin after a call
    runtime.set_num_threads(threads)
    flop = 2.0 * n ** 3
    (mo, bo), (mt, bt), (m1, b1) = _stats(ours), _stats(theirs), _stats(ours1)
    print(f"(a) matmul {n}x{n}x{n} float32, {threads} threads, {repeat} interleaved repeats "
          f"(build {build_s:.2f} s, max rel. error {err:.1e})")
    print(f"    onnxtune hand schedule : median {flop / mo / 1e9:7.1f} GFLOPS "
          f"({mo * 1e3:7.2f} ms), best {flop / bo / 1e9:7.1f}")
    print(f"    numpy np.matmul        : median {flop / mt / 1e9:7.1f} GFLOPS "
          f"({mt * 1e3:7.2f} ms), best {flop / bt / 1e9:7.1f}")
    print(f"    ratio ours / numpy     : median {mt / mo:5.2f}, best/best {bt / bo:5.2f}"
          f"  (target >= 0.70)")
    return {"ratio": mt / mo, "ratio_best": bt / bo, "mm_1": m1, "mm_1_best": b1,
            "mm_t": mo, "mm_t_best": bo}


def runtime_figures(threads: int, launches: int, iters: int, repeat: int) -> dict:
    import ctypes

    from onnxtune.compile import runtime
    from onnxtune.compile.llvm_engine import compile_ir
    from onnxtune.compile.target import Target

    po = _load("parallel_overhead")
    target = Target.host()
    code = compile_ir(po.build_ir(target.triple), target)
    launch = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int32)(
        code.get_function_address("launch_many"))
    kernel = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int32)(
        code.get_function_address("fma_kernel"))
    print(f"    runtime: {runtime.load()} (GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')})")
    _load_line("b")
    launch(100, threads)  # wake the pool
    per = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        launch(launches, threads)
        per.append((time.perf_counter() - t0) / launches * 1e6)
    med, best = _stats(per)
    print(f"(b) empty parallel region on {threads} threads, {launches} launches from a native "
          f"loop, {repeat} rounds")
    print(f"    overhead: median {med:.2f} us/launch, best {best:.2f} us  (target < 10 us)")

    _load_line("c")
    out = (ctypes.c_double * 64)()
    kernel(1000, out, 1)
    kernel(1000, out, threads)
    t1s, tns, cores1, coresn = [], [], [], []
    for _ in range(repeat):  # interleaved
        c0, t0 = _cpu(), time.perf_counter()
        kernel(iters, out, 1)
        t1s.append(time.perf_counter() - t0)
        cores1.append((_cpu() - c0) / t1s[-1])
        c0, t0 = _cpu(), time.perf_counter()
        kernel(iters, out, threads)
        tns.append(time.perf_counter() - t0)
        coresn.append((_cpu() - c0) / tns[-1])
    (m1, b1), (mn, bn) = _stats(t1s), _stats(tns)
    print(f"(c) compute-bound kernel ({iters:.1e} x {po.CHAINS} dependent double FMAs), "
          f"1 vs {threads} threads, {repeat} interleaved rounds")
    print(f"    1 thread  : median {m1 * 1e3:8.1f} ms, best {b1 * 1e3:8.1f} ms")
    print(f"    {threads} threads : median {mn * 1e3:8.1f} ms, best {bn * 1e3:8.1f} ms")
    print(f"    speed-up  : median/median {m1 / mn:.2f}x, best/best {b1 / bn:.2f}x  "
          f"(target >= 1.7x)")
    print(f"    cores the process got (CPU time / wall): {_stats(cores1)[0]:.2f} with 1 thread, "
          f"{_stats(coresn)[0]:.2f} with {threads}: a speed-up above that cannot show")
    code.close()
    return {"launch_us": med, "launch_us_best": best, "scale": m1 / mn, "scale_best": b1 / bn}


def replay_figures(repeat: int) -> dict:
    from onnxtune import tir

    sr = _load("schedule_replay")
    func = sr.conv2d_func()
    sch = tir.Schedule(func, seed=0)
    sr.schedule(sch)
    trace = sch.trace
    base = tir.Schedule(func, seed=0)
    for _ in range(10):
        trace.apply_to_schedule(base.copy(), remove_postproc=False)
    per, cpu = [], []
    batch = 10
    for _ in range(max(1, repeat // batch)):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(batch):
            s = base.copy()
            trace.apply_to_schedule(s, remove_postproc=False)
        cpu.append((time.thread_time() - c0) / batch)
        per.append((time.perf_counter() - t0) / batch)
    # the replay is the same program
    assert tir.structural.structural_equal(s.func, sch.func)
    med, best = _stats(per)
    cmed, cbest = _stats(cpu)
    print(f"(d) fork + replay of the conv2d trace ({len(trace)} instructions), "
          f"{len(per)} batches of {batch}")
    print(f"    per fork + replay: median {med * 1e3:.2f} ms, best {best * 1e3:.2f} ms  "
          f"(target < 5 ms)")
    print(f"    its thread CPU time (what the load does not add): median {cmed * 1e3:.2f} ms, "
          f"best {cbest * 1e3:.2f} ms")
    return {"replay_ms": med * 1e3, "replay_ms_best": best * 1e3, "n_insts": len(trace),
            "replay_cpu_ms": cmed * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=15, help="matmul / kernel repeats")
    ap.add_argument("--launches", type=int, default=10000)
    ap.add_argument("--iters", type=int, default=100_000_000)
    ap.add_argument("--replays", type=int, default=300)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.repeat, args.launches, args.iters, args.replays = 256, 3, 1000, 10**7, 20
    # BLAS and the OpenMP runtime read these once, at import
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    if importlib.util.find_spec("onnxtune") is None:
        sys.path.insert(0, os.path.dirname(HERE))

    from onnxtune.compile.target import Target

    print(f"issue 3 figures, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; "
          f"target: {Target.host().describe()}")
    loads = [_load_line("a")]
    mm = matmul_figures(args.threads, args.repeat, args.n)
    rt = runtime_figures(args.threads, args.launches, args.iters, args.repeat)
    loads.append(_load_line("d"))
    rp = replay_figures(args.replays)
    loads.append(_load_line("end"))
    mm_scale, mm_scale_best = mm["mm_1"] / mm["mm_t"], mm["mm_1_best"] / mm["mm_t_best"]
    print(f"(c') scheduled matmul of (a), 1 vs {args.threads} threads: median/median "
          f"{mm_scale:.2f}x, best/best {mm_scale_best:.2f}x")

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    print("\nsummary (median; best in brackets):")
    print(f"  matmul ratio vs numpy   {mm['ratio']:6.2f}  [{mm['ratio_best']:.2f}]  "
          f">= 0.70  {verdict(mm['ratio'] >= 0.7)}")
    print(f"  launch overhead (us)    {rt['launch_us']:6.2f}  [{rt['launch_us_best']:.2f}]  "
          f"< 10    {verdict(rt['launch_us'] < 10)}")
    print(f"  1->{args.threads} thread speed-up    {rt['scale']:6.2f}  [{rt['scale_best']:.2f}]  "
          f">= 1.7  {verdict(rt['scale'] >= 1.7)}   (scheduled matmul {mm_scale:.2f} "
          f"[{mm_scale_best:.2f}])")
    print(f"  fork + replay (ms)      {rp['replay_ms']:6.2f}  [{rp['replay_ms_best']:.2f}]  "
          f"< 5     {verdict(rp['replay_ms'] < 5)}   ({rp['n_insts']} instructions; CPU "
          f"time {rp['replay_cpu_ms']:.2f} ms)")
    top = max(float(x.split("load average: ")[1].split(",")[0]) for x in loads)
    if top > (os.cpu_count() or 1):
        print(f"  note: the 1-minute load average reached {top:.1f} on {os.cpu_count()} "
              "cores during this run; the multi-threaded figures are then lower bounds")


if __name__ == "__main__":
    main()

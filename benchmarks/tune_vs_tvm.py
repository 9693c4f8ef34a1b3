"""Tune the same workloads with onnxtune and with apache-tvm's MetaSchedule, same budget.

    python benchmarks/tune_vs_tvm.py [--trials 64] [--per-iter 16] [--population 512]
                                     [--workloads matmul,conv2d] [--tvm-python PATH]

Workloads: a 512×512×512 float32 matmul and a ResNet-50 3×3 conv2d stage (1×64×56×56,
64 filters 3×3, padding 1). onnxtune runs ``tune_tir`` in this process; TVM runs
``meta_schedule.tune_tir`` in a subprocess of a separate virtual environment (default
``/root/tvmvenv/bin/python``), created with::

    python -m venv /root/tvmvenv
    /root/tvmvenv/bin/pip install apache-tvm==0.27.0.post1 apache-tvm-ffi==0.1.14.post1 \
        psutil xgboost-cpu cloudpickle   # TVM's XGB model and process pool need these

Both target the host CPU with all its cores and use their defaults (post-order-apply
space, evolutionary search, XGB cost model, local builder and runner). The best schedule
of each is timed again at the end in its own process; the table shows best latency and
tuning wall time of both. tvm is never imported by onnxtune.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TVM_SCRIPT = textwrap.dedent(r'''
    import json, sys, time
    import numpy as np
    import tvm
    from tvm import te
    try:
        from tvm.s_tir import meta_schedule as ms
    except ImportError:
        from tvm import meta_schedule as ms

    cfg = json.loads(sys.argv[1])

    def workload(name):
        if name == "matmul":
            n = 512
            a = te.placeholder((n, n), name="A")
            b = te.placeholder((n, n), name="B")
            k = te.reduce_axis((0, n), name="k")
            c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
            return [a, b, c]
        x = te.placeholder((1, 64, 56, 56), name="A")
        w = te.placeholder((64, 64, 3, 3), name="W")
        tirx = getattr(tvm, "tirx", None) or tvm.tir  # renamed in newer TVM
        pad = te.compute((1, 64, 58, 58), lambda n, c, y, z: tirx.if_then_else(
            tirx.all(y >= 1, y < 57, z >= 1, z < 57), x[n, c, y - 1, z - 1], 0.0),
            name="pad")
        rc = te.reduce_axis((0, 64), name="rc")
        ry = te.reduce_axis((0, 3), name="ry")
        rx = te.reduce_axis((0, 3), name="rx")
        out = te.compute((1, 64, 56, 56), lambda n, f, y, z: te.sum(
            pad[n, rc, y + ry, z + rx] * w[f, rc, ry, rx], axis=[rc, ry, rx]), name="conv")
        return [x, w, out]

    tensors = workload(cfg["workload"])
    mod = tvm.IRModule({"main": te.create_prim_func(tensors)})
    target = tvm.target.Target(cfg["target"])
    t0 = time.perf_counter()
    if cfg.get("reuse"):  # time the best schedule of an earlier run of this script
        db = ms.database.JSONDatabase(work_dir=cfg["work_dir"])
        wall = float("nan")
    else:
        db = ms.tune_tir(mod, target, cfg["work_dir"], cfg["trials"],
                         num_trials_per_iter=cfg["per_iter"],
                         builder=ms.builder.LocalBuilder(timeout_sec=cfg["build_timeout"]))
        wall = time.perf_counter() - t0
    sch = ms.tir_integration.compile_tir(db, mod, target)
    build = getattr(tvm, "compile", None) or tvm.build
    lib = build(sch.mod, target=target)
    lib = getattr(lib, "jit", lambda: lib)()  # tvm.compile gives an Executable
    dev = tvm.cpu()
    rng = np.random.default_rng(0)
    shapes = [tuple(int(s) for s in t.shape) for t in tensors]
    host = [rng.random(s).astype("float32") for s in shapes]
    make = getattr(tvm.runtime, "tensor", None) or tvm.nd.array
    args = [make(h, dev) for h in host]
    f = lib.time_evaluator("main", dev, number=10, repeat=7, min_repeat_ms=50)
    res = f(*args)
    secs = sorted(res.results)[len(res.results) // 2]
    print(json.dumps({"wall": wall, "secs": secs, "version": tvm.__version__}))
''')


def _median_secs(fn, repeat: int = 7, min_secs: float = 0.05) -> float:
    fn()
    times = []
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_secs:
                break
        times.append(dt / n)
    return float(np.median(times))


def ours(name: str, trials: int, per_iter: int, population: int, work_dir: str,
         build_timeout: float) -> dict:
    from onnxtune.compile import build
    from onnxtune.tir import testing
    from onnxtune.tuner import compile_tir, tune_tir
    from onnxtune.tuner.builder.local_builder import LocalBuilder
    from onnxtune.tuner.search_strategy import EvolutionarySearch

    if name == "matmul":
        func, ref = testing.matmul(512, 512, 512)
    else:
        func, ref = testing.conv2d_nchw(1, 64, 56, 56, 64, 3, 3, padding=1)
    strategy = EvolutionarySearch(population_size=population,
                                  init_min_unmeasured=min(50, population))
    t0 = time.perf_counter()
    db = tune_tir(func, "llvm", work_dir, trials, num_trials_per_iter=per_iter,
                  strategy=strategy, seed=0, builder=LocalBuilder(timeout_sec=build_timeout))
    wall = time.perf_counter() - t0
    sch = compile_tir(db, func, "llvm")
    mod = build(sch.mod, "llvm")
    args = testing.make_args(func, seed=0)
    mod["main"](*args)
    if not np.allclose(args[-1], ref(*args[:-1]), rtol=1e-3, atol=1e-3):
        raise SystemExit(f"{name}: the tuned schedule gives wrong results")
    return {"wall": wall, "secs": _median_secs(lambda: mod["main"](*args))}


def theirs(python: str, name: str, trials: int, per_iter: int, work_dir: str,
           build_timeout: float) -> dict:
    from onnxtune.compile.target import Target

    tgt = Target("llvm")
    cfg = {"workload": name, "trials": trials, "per_iter": per_iter, "work_dir": work_dir,
           "build_timeout": build_timeout,
           "target": {"kind": "llvm", "mcpu": tgt.mcpu, "num-cores": tgt.num_cores}}
    out = subprocess.run([python, "-c", TVM_SCRIPT, json.dumps(cfg)], capture_output=True,
                         text=True, check=False, cwd=work_dir)
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-30:])
        raise SystemExit(f"TVM tuning of {name} failed:\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--per-iter", type=int, default=16)
    ap.add_argument("--population", type=int, default=512)
    ap.add_argument("--workloads", default="matmul,conv2d")
    ap.add_argument("--tvm-python", default="/root/tvmvenv/bin/python")
    ap.add_argument("--build-timeout", type=float, default=30.0,
                    help="seconds per candidate build, both tuners (their default: 30)")
    ap.add_argument("--skip-tvm", action="store_true")
    args = ap.parse_args()
    if not args.skip_tvm and not os.path.exists(args.tvm_python):
        raise SystemExit(f"{args.tvm_python} not found: create the TVM venv (see the docstring) "
                         "or pass --skip-tvm")
    flops = {"matmul": 2.0 * 512 ** 3, "conv2d": 2.0 * 64 * 56 * 56 * 64 * 9}
    rows = []
    for name in args.workloads.split(","):
        if name not in flops:
            raise SystemExit(f"unknown workload {name!r}; expected matmul or conv2d")
        a = ours(name, args.trials, args.per_iter, args.population,
                 tempfile.mkdtemp(prefix=f"onnxtune-{name}-"), args.build_timeout)
        b = None if args.skip_tvm else theirs(args.tvm_python, name, args.trials,
                                              args.per_iter,
                                              tempfile.mkdtemp(prefix=f"tvm-{name}-"),
                                              args.build_timeout)
        rows.append((name, a, b))
        print(f"{name}: onnxtune {a['secs'] * 1e3:.3f} ms in {a['wall']:.0f} s"
              + ("" if b is None else f"; TVM {b['version']} {b['secs'] * 1e3:.3f} ms in "
                                      f"{b['wall']:.0f} s"), flush=True)
    print(f"\n{args.trials} trials, {args.per_iter} per round, onnxtune population "
          f"{args.population}")
    print(f"{'workload':<8} | {'ours ms':>9} | {'ours GFLOPS':>11} | {'ours wall s':>11} | "
          f"{'TVM ms':>9} | {'TVM GFLOPS':>10} | {'TVM wall s':>10} | {'lat ratio':>9}")
    for name, a, b in rows:
        g = flops[name] / a["secs"] / 1e9
        line = f"{name:<8} | {a['secs'] * 1e3:>9.3f} | {g:>11.1f} | {a['wall']:>11.0f} | "
        if b is None:
            line += f"{'-':>9} | {'-':>10} | {'-':>10} | {'-':>9}"
        else:
            line += (f"{b['secs'] * 1e3:>9.3f} | {flops[name] / b['secs'] / 1e9:>10.1f} | "
                     f"{b['wall']:>10.0f} | {a['secs'] / b['secs']:>9.2f}")
        print(line)


if __name__ == "__main__":
    main()

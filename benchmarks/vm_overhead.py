"""Per-kernel overhead of the graph executable: a chain of N tiny kernels run through the
VirtualMachine (native driver: one native call per run; python driver: one ctypes call per
kernel), against the kernels alone called back to back in a native loop.

    python benchmarks/vm_overhead.py [--kernels 50] [--size 16]
    python benchmarks/vm_overhead.py --model squeezenet [--threads 1]   # a light model

Prints microseconds per run and the overhead per kernel (median of repeats, one run).
With ``--model``, the model's executable (untuned default schedules) is timed against the
sum of its kernels, each timed alone on its own arrays.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from onnxtune.compile.executable import Executable, Program, VirtualMachine  # noqa: E402
from onnxtune.tir import te  # noqa: E402


def _kernel(size: int):
    a = te.placeholder((size,), "float32", name="a")
    b = te.compute((size,), lambda i: a[i] * te.const(1.0001) + te.const(0.5), name="b")
    return te.create_prim_func([a, b])


def _median_us(fn, number: int, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times) * 1e6


def _program(n: int, size: int) -> Program:
    calls = [("k", ["x" if j == 0 else f"t{j - 1}", f"t{j}"]) for j in range(n)]
    return Program([("x", (size,), "float32")], {}, {"k": _kernel(size)}, calls,
                   [("y", f"t{n - 1}")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernels", type=int, default=50)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--number", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--model", default=None,
                    help="a light model of the onnx wheel (squeezenet, resnet50, ...)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for parallel kernels (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        from onnxtune.compile import runtime

        runtime.set_num_threads(args.threads)
    if args.model:
        model_overhead(args.model, args.repeat)
        return
    n, size = args.kernels, args.size
    t0 = time.perf_counter()
    ex = Executable.build(_program(n, size))
    build_ms = (time.perf_counter() - t0) * 1e3
    ex1 = Executable.build(_program(1, size))
    x = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    native = VirtualMachine(ex, driver="native")
    python = VirtualMachine(ex, driver="python")
    native1 = VirtualMachine(ex1, driver="native")
    python1 = VirtualMachine(ex1, driver="python")
    want = x.astype(np.float64)
    for _ in range(n):
        want = want * np.float32(1.0001) + 0.5
    np.testing.assert_allclose(native["main"](x), want, rtol=1e-4)
    np.testing.assert_allclose(python["main"](x), want, rtol=1e-4)

    # the kernel alone, run back to back in a native loop
    kernel = ex.module["k"]
    src, dst = np.ones(size, np.float32), np.empty(size, np.float32)
    kern_us = ex.module.time_evaluator("k", number=20000, repeat=args.repeat)(
        src, dst).median * 1e6

    rows = []
    for name, vm_n, vm_1, number in (
            ("VirtualMachine, native driver", native, native1, args.number),
            ("VirtualMachine, python driver", python, python1, args.number // 4)):
        t_n = _median_us(lambda vm=vm_n: vm["main"](x), number, args.repeat)
        t_1 = _median_us(lambda vm=vm_1: vm["main"](x), number, args.repeat)
        rows.append((name, t_n, t_1, (t_n - t_1) / (n - 1) - kern_us))
    call_us = _median_us(lambda: kernel(src, dst), args.number * 4, args.repeat)
    print(f"chain of {n} kernels on float32[{size}]; build {build_ms:.0f} ms; arena "
          f"{ex.plan.arena_bytes} B for {ex.plan.total_bytes} B of intermediates")
    print(f"one kernel alone (native loop): {kern_us:.3f} us")
    print(f"{'path':32s} {f'us/run ({n} kernels)':>20s} {'us/run (1 kernel)':>18s} "
          f"{'overhead us/kernel':>19s}")
    for name, t_n, t_1, per in rows:
        print(f"{name:32s} {t_n:20.2f} {t_1:18.2f} {per:19.3f}")
    print(f"{'Module[k](...), checked call':32s} {call_us * n:20.2f} {call_us:18.2f} "
          f"{call_us - kern_us:19.3f}")
    print(f"per-kernel overhead, python driver / native driver: "
          f"{rows[1][3] / max(rows[0][3], 1e-3):.0f}x")


def model_overhead(name: str, repeat: int) -> None:
    """VM time per run vs the sum of the kernels timed one by one."""
    import onnx

    from onnxtune.compile.executable import Alias
    from onnxtune.compile.graph_build import build_graph
    from onnxtune.frontend import from_onnx

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        f"light_{name}.onnx")
    t0 = time.perf_counter()
    ex = build_graph(from_onnx(path))
    build_s = time.perf_counter() - t0
    vm = VirtualMachine(ex)
    rng = np.random.default_rng(0)
    feed = [rng.standard_normal(shape).astype(dtype) for _, shape, dtype in ex.get_inputs()]
    kernel_us = 0.0
    n_calls = 0
    for c in ex.calls:
        if isinstance(c, Alias):
            continue
        n_calls += 1
        arrays = [np.zeros(ex.slots[s].shape, ex.slots[s].dtype) for s in c.args]
        t = ex.module.time_evaluator(c.kernel, number=1, repeat=repeat, min_repeat_ms=5)
        kernel_us += t(*arrays).median * 1e6
    vm_us = _median_us(lambda: vm["main"](*feed), 5, repeat)
    print(f"{name}: {n_calls} kernel calls, {len(ex.calls) - n_calls} aliases, build "
          f"{build_s:.1f} s; arena {ex.plan.arena_bytes / 1e6:.2f} MB for "
          f"{ex.plan.total_bytes / 1e6:.2f} MB of intermediates")
    print(f"VirtualMachine {vm_us:.0f} us/run; kernels alone {kernel_us:.0f} us; overhead "
          f"{(vm_us - kernel_us) / n_calls:.2f} us/kernel (noisy: kernels timed alone)")


if __name__ == "__main__":
    main()

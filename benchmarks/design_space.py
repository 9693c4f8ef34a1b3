"""Time of PostOrderApply.generate_design_space with the llvm rules, and of drawing one
random program from a design space (trace replayed without decisions, then the llvm
postprocs), for the workloads the search sees most (medians; CPU time alongside wall
time because the machine may be shared).

    python benchmarks/design_space.py [--repeat 7] [--candidates 30]

The second table is the evolutionary search's unit of work: one fresh candidate of the
conv2d_bias_relu design space (``TuneContext(..., space_generator="post-order-apply")``,
the trace replayed on ``Schedule(mod, seed=i)`` with ``remove_postproc=True`` and no
decisions, then every ``Postproc.create("llvm")``), as ms per candidate (wall and CPU)
and as Python function calls per candidate (cProfile), which a busy machine does not
distort.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

from onnxtune.tir import IRModule, testing
from onnxtune.tir.schedule import Schedule, Trace
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.schedule_rule import ScheduleRule
from onnxtune.tuner.space_generator.post_order_apply import PostOrderApply
from onnxtune.tuner.tune_context import TuneContext

WORKLOADS = {
    "conv2d_bias_relu 1x64x56x56 k3 (resnet stage)":
        lambda: testing.conv2d_bias_relu(1, 64, 56, 56, 64, 3, 3, padding=1),
    "conv2d 1x64x56x56 k3": lambda: testing.conv2d_nchw(1, 64, 56, 56, 64, 3, 3, padding=1),
    "matmul 512^3": lambda: testing.matmul(512, 512, 512),
    "softmax 128x1000": lambda: testing.softmax(128, 1000),
}


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--candidates", type=int, default=30,
                    help="fresh candidates for the per-candidate table (0: skip it)")
    args = ap.parse_args()
    posts = Postproc.create("llvm")
    print(f"{'workload':46} {'spaces':>6} {'generate ms':>12} {'sample ms':>10} "
          f"{'postproc ms':>11}  (wall, median of {args.repeat}; cpu in brackets)")
    for name, make in WORKLOADS.items():
        func, _ = make()
        gen_w, gen_c, smp_w, smp_c, pp_w, pp_c = [], [], [], [], [], []
        n_spaces = 0
        for k in range(args.repeat):
            gen = PostOrderApply(sch_rules=ScheduleRule.create("llvm"), postprocs=[],
                                 mutator_probs={})
            spaces, w, c = _timed(lambda g=gen, f=func: g.generate_design_space(f))
            gen_w.append(w)
            gen_c.append(c)
            n_spaces = len(spaces)
            space = spaces[k % len(spaces)]

            def draw(space=space, k=k, func=func):
                sch = Schedule(func, seed=k * 2654435761 % (2**31 - 1) + 1)
                Trace(space.trace.insts, {}).apply_to_schedule(sch, remove_postproc=True)
                return sch

            sch, w, c = _timed(draw)
            smp_w.append(w)
            smp_c.append(c)

            def post(sch=sch):
                sch.enter_postproc()
                return all(p.apply(sch) for p in posts)

            _, w, c = _timed(post)
            pp_w.append(w)
            pp_c.append(c)

        def ms(xs):
            return statistics.median(xs) * 1e3

        print(f"{name:46} {n_spaces:>6} {ms(gen_w):>7.1f} [{ms(gen_c):.0f}] "
              f"{ms(smp_w):>6.1f} [{ms(smp_c):.0f}] {ms(pp_w):>6.1f} [{ms(pp_c):.0f}]")

    if args.candidates > 0:
        per_candidate(args.candidates)


def per_candidate(n: int) -> None:
    """ms and function calls per fresh candidate (sample + postprocs) of the resnet conv."""
    func, _ = testing.conv2d_bias_relu(1, 64, 56, 56, 64, 3, 3, padding=1)
    ctx = TuneContext(IRModule({"main": func}), target="llvm",
                      space_generator="post-order-apply")
    spaces = ctx.generate_design_space()
    posts = Postproc.create("llvm")

    def candidate(i: int) -> tuple[bool, float, float]:
        sch = Schedule(func, seed=i)
        _, w1, c1 = _timed(lambda: spaces[i % len(spaces)].trace.apply_to_schedule(
            sch, remove_postproc=True, decision_provider=lambda *a: None))
        sch.enter_postproc()
        ok, w2, c2 = _timed(lambda: all(p.apply(sch) for p in posts))
        return ok, w1 + w2, c1 + c2

    for i in range(3):  # warm caches and imports
        candidate(i)
    walls, cpus, n_ok = [], [], 0
    for i in range(n):
        ok, w, c = candidate(i)
        walls.append(w)
        cpus.append(c)
        n_ok += ok
    prof = cProfile.Profile()
    n_prof = min(n, 10)
    prof.enable()
    for i in range(n_prof):
        candidate(i)
    prof.disable()
    calls = pstats.Stats(prof).total_calls / n_prof
    print(f"\nfresh candidate of conv2d_bias_relu 1x64x56x56 k3 ({len(spaces)} spaces, "
          f"{len(posts)} postprocs, {n} candidates, {n_ok} passed the postprocs):")
    print(f"  {statistics.median(walls) * 1e3:.1f} ms wall, "
          f"{statistics.median(cpus) * 1e3:.1f} ms cpu per candidate (median); "
          f"{calls:,.0f} Python function calls per candidate")


if __name__ == "__main__":
    main()

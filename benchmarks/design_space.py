"""Time of PostOrderApply.generate_design_space with the llvm rules, and of drawing one
random program from a design space (trace replayed without decisions, then the llvm
postprocs), for the workloads the search sees most (medians; CPU time alongside wall
time because the machine may be shared).

    python benchmarks/design_space.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule, Trace
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.schedule_rule import ScheduleRule
from onnxtune.tuner.space_generator.post_order_apply import PostOrderApply

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


if __name__ == "__main__":
    main()

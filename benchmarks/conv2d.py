"""ResNet-style conv2d NCHW: a hand-written schedule vs onnxruntime's single Conv node.

    python benchmarks/conv2d.py [--threads 2] [--repeat 20]

Cases: (1,64,56,56) ⊛ (64,64,3,3) pad 1, and the stride-2 downsampling
(1,64,56,56) ⊛ (128,64,3,3) pad 1 stride 2. The schedule uses only ``tir.Schedule``
primitives:

* ``pad_temp`` stays a separate stage: rows vectorized, (channel, row) loops parallel;
* the weights are packed (``cache_read`` + ``transform_layout``) to
  ``[f // 16, c, r, s, f % 16]`` so that 16 consecutive output channels are one vector;
* the output loops are tiled ``f = f0·FU·16``, ``y = y0·YU``, ``x = x0·XU``: a register
  tile of FU vectors of 16 output channels × YU rows × XU columns, under the reduction
  loops ``rc, ry, rx``: each input value is broadcast once and multiplied into FU weight
  vectors, each weight vector reused by YU·XU accumulators — independent of the stride
  and of the row width (56, 28, 14, 7 in a ResNet all vectorize fully);
* ``cache_write`` of the output, laid out ``[n, f // 16, y, x, f % 16]``
  (``transform_layout``) and reverse-computed at the tile: the lowering allocates the
  accumulators per thread, LLVM keeps them in registers, they are written back to NCHW
  after the reduction; the init is split off with ``decompose_reduction``;
* ``n, f0, y0`` fused and parallel.

onnxruntime runs a one-node model (weights as an initializer) with
``intra_op_num_threads`` = ``--threads``; both are timed in the same run, one after the
other (medians).
"""

from __future__ import annotations

import argparse
import os
import time

CASES = {
    "3x3 s1 64->64 56x56": dict(n=1, c=64, h=56, w=56, k=64, r=3, s=3, stride=1, pad=1,
                                fu=1, yu=1, xu=14),
    "3x3 s2 64->128 56x56": dict(n=1, c=64, h=56, w=56, k=128, r=3, s=3, stride=2, pad=1,
                                 fu=1, yu=1, xu=14),
}


def schedule_conv2d(func, fu: int = 1, yu: int = 1, xu: int = 14, fv: int = 16):
    """Hand schedule of ``testing.conv2d_nchw`` (blocks pad_temp, conv2d_nchw)."""
    from onnxtune.tir import Schedule

    sch = Schedule(func)
    pad = sch.get_block("pad_temp")
    pl = sch.get_loops(pad)
    _, pv = sch.split(pl[-1], [None, 16])
    sch.vectorize(pv)
    sch.parallel(sch.fuse(*pl[:-1]))

    conv = sch.get_block("conv2d_nchw")
    # weights packed [f // FV, c, r, s, f % FV]: FV consecutive output channels contiguous
    kb = sch.cache_read(conv, 1, "global")
    sch.transform_layout(kb, ("write", 0), lambda f, c, r, s: (f // fv, c, r, s, f % fv))
    sch.parallel(sch.get_loops(kb)[0])
    # accumulators [n, f // FV, y, x, f % FV], written back to NCHW after the reduction
    out = sch.cache_write(conv, 0, "local")
    sch.transform_layout(conv, ("write", 0), lambda n, f, y, x: (n, f // fv, y, x, f % fv))
    nn, ff, yy, xx, rc, ry, rx = sch.get_loops(conv)
    f0, f1, f2 = sch.split(ff, [None, fu, fv])
    y0, y1 = sch.split(yy, [None, yu])
    x0, x1 = sch.split(xx, [None, xu])
    sch.reorder(nn, f0, y0, x0, rc, ry, rx, y1, x1, f1, f2)
    sch.reverse_compute_at(out, x0)
    sch.unroll(y1)
    sch.unroll(x1)
    sch.unroll(f1)
    sch.vectorize(f2)
    sch.parallel(sch.fuse(nn, f0, y0))
    sch.decompose_reduction(conv, rc)
    return sch


def _onnx_conv(x, w, stride: int, pad: int, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    n, k = x.shape[0], w.shape[0]
    oh = (x.shape[2] + 2 * pad - w.shape[2]) // stride + 1
    ow = (x.shape[3] + 2 * pad - w.shape[3]) // stride + 1
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[pad] * 4,
                            strides=[stride, stride], kernel_shape=list(w.shape[2:]))
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, k, oh, ow])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--fu", type=int, default=0, help="override FU (channel vectors/tile)")
    ap.add_argument("--yu", type=int, default=0, help="override YU (rows/tile)")
    ap.add_argument("--xu", type=int, default=0, help="override XU (columns/tile)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np

    from onnxtune.compile import build, runtime
    from onnxtune.tir import testing

    runtime.set_num_threads(args.threads)
    print(f"conv2d NCHW, hand schedule vs onnxruntime Conv, {args.threads} threads, "
          f"median of {args.repeat}")
    print(f"{'case':24s} {'ours ms':>9s} {'GFLOPS':>8s} {'ort ms':>9s} {'GFLOPS':>8s} "
          f"{'ours/ort speed':>15s}")
    for name, p in CASES.items():
        func, ref = testing.conv2d_nchw(p["n"], p["c"], p["h"], p["w"], p["k"], p["r"],
                                        p["s"], stride=p["stride"], padding=p["pad"])
        fu, yu, xu = args.fu or p["fu"], args.yu or p["yu"], args.xu or p["xu"]
        mod = build(schedule_conv2d(func, fu, yu, xu).mod["main"])
        arrays = testing.make_args(func, seed=0)
        mod["main"](*arrays)
        expected = ref(*arrays[:-1])
        np.testing.assert_allclose(arrays[-1], expected, rtol=1e-4, atol=1e-4)
        sess = _onnx_conv(arrays[0], arrays[1], p["stride"], p["pad"], args.threads)
        np.testing.assert_allclose(sess.run(None, {"x": arrays[0]})[0], expected,
                                   rtol=1e-4, atol=1e-4)
        # one block each (ours, then onnxruntime), not interleaved: each runtime's idle
        # threads spin for a while after a call and would steal the other's cores
        ev = mod.time_evaluator("main", number=1, repeat=args.repeat)
        ours = list(ev(*arrays).results)
        time.sleep(0.05)
        sess.run(None, {"x": arrays[0]})
        theirs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sess.run(None, {"x": arrays[0]})
            theirs.append(time.perf_counter() - t0)
        time.sleep(0.05)
        out = arrays[-1].shape
        flop = 2.0 * np.prod(out) * p["c"] * p["r"] * p["s"]
        t_ours, t_ort = float(np.median(ours)), float(np.median(theirs))
        print(f"{name:24s} {t_ours * 1e3:9.3f} {flop / t_ours / 1e9:8.1f} "
              f"{t_ort * 1e3:9.3f} {flop / t_ort / 1e9:8.1f} {t_ort / t_ours:15.2f}")


if __name__ == "__main__":
    main()

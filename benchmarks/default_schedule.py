"""Untuned latency: the default schedule vs onnxruntime's single-op model, in one run.

    python benchmarks/default_schedule.py [--threads 2] [--repeat 30] [--only conv2d,...]

For each workload the TE PrimFunc goes through ``compile.default_schedule`` and
``compile.build`` with its weights layout-free, as in a model: their packing block runs once
before timing (as the graph builder runs it at compile time) and the timed kernel takes the
packed weights; onnxruntime runs a one-node ONNX model of the same operator (weights
as initializers, as in a real model) with ``intra_op_num_threads`` = ``--threads``. Both
are timed in the same process, one block after the other; medians and the ratio ours /
onnxruntime
(lower is better) are printed, next to the naive (unscheduled) build of the same
PrimFunc.
"""

from __future__ import annotations

import argparse
import os
import time


def _cases():
    from onnxtune.tir import testing

    return {
        # name: (workload, onnx op, attrs, input shapes, weight shapes)
        "conv2d 64x56x56 k3": (
            lambda: testing.conv2d_nchw(1, 64, 56, 56, 64, 3, 3, padding=1),
            "Conv", {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}),
        "conv2d 64x56x56 k3 s2": (
            lambda: testing.conv2d_nchw(1, 64, 56, 56, 128, 3, 3, stride=2, padding=1),
            "Conv", {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3], "strides": [2, 2]}),
        "conv2d 3x224x224 k7 s2 (stem)": (
            lambda: testing.conv2d_nchw(1, 3, 224, 224, 64, 7, 7, stride=2, padding=3),
            "Conv", {"pads": [3, 3, 3, 3], "kernel_shape": [7, 7], "strides": [2, 2]}),
        "conv2d 256x56x56 k1 ->64": (
            lambda: testing.conv2d_nchw(1, 256, 56, 56, 64, 1, 1),
            "Conv", {"kernel_shape": [1, 1]}),
        "conv2d 64x56x56 k1 ->256": (
            lambda: testing.conv2d_nchw(1, 64, 56, 56, 256, 1, 1),
            "Conv", {"kernel_shape": [1, 1]}),
        "conv2d 512x28x28 k1 s2 ->1024": (
            lambda: testing.conv2d_nchw(1, 512, 28, 28, 1024, 1, 1, stride=2),
            "Conv", {"kernel_shape": [1, 1], "strides": [2, 2]}),
        "conv2d 256x14x14 k1": (
            lambda: testing.conv2d_nchw(1, 256, 14, 14, 256, 1, 1),
            "Conv", {"kernel_shape": [1, 1]}),
        "depthwise 64x56x56 k3": (
            lambda: testing.depthwise_conv2d_nchw(1, 64, 56, 56, 3, 3, padding=1),
            "Conv", {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3], "group": 64}),
        "matmul 512x512x512": (
            lambda: testing.matmul(512, 512, 512), "MatMul", {}),
        "matmul 1x2048x1000": (
            lambda: testing.matmul(1, 1000, 2048), "MatMul", {}),
        "softmax 128x1000": (
            lambda: testing.softmax(128, 1000), "Softmax", {"axis": -1}),
    }


def _onnx_session(op: str, attrs: dict, arrays, threads: int):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    inputs = arrays[:-1]
    out = arrays[-1]
    names = [f"in{k}" for k in range(len(inputs))]
    graph_inputs = [helper.make_tensor_value_info(names[0], TensorProto.FLOAT,
                                                  list(inputs[0].shape))]
    inits = [numpy_helper.from_array(a, n) for a, n in zip(inputs[1:], names[1:],
                                                             strict=True)]
    node = helper.make_node(op, names, ["out"], **attrs)
    graph = helper.make_graph([node], "single", graph_inputs,
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT,
                                                             list(out.shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess, {names[0]: inputs[0]}


def packed_kernel(func, arrays):
    """(compute module, its arguments) of a scheduled ``func``: its layout-rewrite blocks
    run once, here, as the graph builder runs them at compile time, and the timed kernel
    takes the packed weights."""
    import numpy as np

    from onnxtune.compile import build
    from onnxtune.tir.transform.layout_rewrite import split_layout_rewrite_preproc

    pre, compute = split_layout_rewrite_preproc(func)
    args = list(arrays)
    if pre is not None:
        n_src = len(pre.params) // 2
        ins = [arrays[func.params.index(b)] for b in pre.params[:n_src]]
        outs = [np.empty(b.static_shape(), b.dtype) for b in pre.params[n_src:]]
        build(pre, name="preproc")["preproc"](*ins, *outs)
        for b, arr in zip(pre.params[:n_src], outs, strict=True):
            args[func.params.index(b)] = arr
    return build(compute), args


def _default_kernel(func, arrays):
    """The default-scheduled kernel as a model runs it: weights (every input after the
    first) are layout-free (see :func:`packed_kernel`). Returns (module, its arguments)."""
    from onnxtune.compile.default_schedule import default_schedule

    free = list(range(1, len(func.params) - 1))
    return packed_kernel(default_schedule(func.with_attr("layout_free_buffers", free)),
                         arrays)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--only", default="", help="comma-separated substrings of case names")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np

    from onnxtune.compile import build, runtime
    from onnxtune.tir import testing

    runtime.set_num_threads(args.threads)
    print(f"untuned default schedule vs onnxruntime, {args.threads} threads, "
          f"median of {args.repeat} (ms)")
    print(f"{'workload':24s} {'naive':>9s} {'default':>9s} {'ort':>9s} {'default/ort':>11s}")
    for name, (make, op, attrs) in _cases().items():
        if args.only and not any(x and x in name for x in args.only.split(",")):
            continue
        func, ref = make()
        arrays = testing.make_args(func, seed=0)
        expected = ref(*[a.copy() for a in arrays[:-1]])
        mods, args_of = {"naive": build(func)}, {"naive": arrays}
        mods["default"], args_of["default"] = _default_kernel(func, arrays)
        for key, mod in mods.items():
            out = [a.copy() for a in args_of[key]]
            mod["main"](*out)
            np.testing.assert_allclose(out[-1], expected, rtol=1e-3, atol=1e-3,
                                       err_msg=f"{name}: {key} build is wrong")
        sess, feed = _onnx_session(op, attrs, arrays, args.threads)
        got = sess.run(None, feed)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3,
                                   err_msg=f"{name}: onnxruntime disagrees")
        # one block each, not interleaved: each runtime's idle threads spin for a while
        # after a call and would steal the other's cores
        times: dict[str, list[float]] = {}
        for key, reps in (("naive", min(args.repeat, 3)), ("default", args.repeat)):
            ev = mods[key].time_evaluator("main", number=1, repeat=reps)
            times[key] = list(ev(*args_of[key]).results)
            time.sleep(0.05)
        times["ort"] = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sess.run(None, feed)
            times["ort"].append(time.perf_counter() - t0)
        time.sleep(0.05)
        med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
        print(f"{name:24s} {med['naive']:9.3f} {med['default']:9.3f} {med['ort']:9.3f} "
              f"{med['default'] / med['ort']:11.2f}")


if __name__ == "__main__":
    main()

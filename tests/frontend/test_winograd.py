"""Winograd F(m x m, 3 x 3): the transform matrices, the two transform ops, the graph
rewrite, and whole blocks against onnxruntime."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from graph_helpers import bottleneck_block
from graph_helpers import check_against_onnxruntime as _check
from graph_helpers import he_weight as _w
from graph_helpers import onnx_model as _model
from onnx import helper

from onnxtune.compile import build
from onnxtune.frontend.ir import Call
from onnxtune.frontend.onnx import from_onnx
from onnxtune.frontend.op import get_op
from onnxtune.frontend.op.winograd import transform_weight, winograd_matrices
from onnxtune.frontend.transform import winograd as wg
from onnxtune.frontend.transform.fold_batchnorm import fold_batchnorm
from onnxtune.frontend.transform.nchwc_layout import block_channels, nchwc_layout
from onnxtune.frontend.transform.pipeline import (
    LEGACY_OPTIONS,
    current_graph_options,
    recorded_graph_options,
)
from onnxtune.tir import te


def _direct(x: np.ndarray, w: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    """A 3x3 unit-stride cross-correlation in float64 (NCHW, OIHW)."""
    pt, pl, pb, pr = pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return out


@pytest.mark.parametrize("m", [2, 4])
def test_one_tile_is_the_correlation(m):
    """A^T [(G g G^T) ⊙ (B^T d B)] A of one tile is the 3x3 correlation of d with g."""
    b, g, a = winograd_matrices(m)
    rng = np.random.default_rng(m)
    d = rng.standard_normal((m + 2, m + 2))
    k = rng.standard_normal((3, 3))
    y = a.T @ ((g @ k @ g.T) * (b.T @ d @ b)) @ a
    ref = np.array([[np.sum(d[i:i + 3, j:j + 3] * k) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_matrices_for_other_tiles_name_the_choice():
    with pytest.raises(ValueError, match=r"m=3 has no matrices; expected one of \(2, 4\)"):
        winograd_matrices(3)
    with pytest.raises(ValueError, match=r"must be \(K, C, 3, 3\)"):
        transform_weight(np.zeros((4, 4, 5, 5), np.float32), 4)


def _run(tensors, out, *arrays):
    func = te.create_prim_func([*tensors, out])
    res = np.full(out.static_shape(), np.nan, np.float32)
    build(func)["main"](*arrays, res)
    return res


# (batch, channels in, height, width, channels out, padding, tile): output sizes that are
# no multiple of the tile (7, 11, 5), a single output point, primes, asymmetric padding
CASES = [
    (1, 32, 7, 7, 16, (1, 1, 1, 1), 4),
    (2, 16, 11, 5, 32, (1, 1, 1, 1), 2),
    (1, 16, 9, 13, 16, (0, 0, 0, 0), 4),
    (1, 16, 3, 3, 16, (1, 2, 0, 1), 4),
    (1, 16, 3, 3, 16, (0, 0, 0, 0), 2),
    (3, 16, 13, 17, 16, (2, 0, 1, 3), 4),
]


@pytest.mark.parametrize("n,c,h,w,k,pad,m", CASES)
def test_transforms_and_product_match_the_direct_convolution(n, c, h, w, k, pad, m):
    """The input transform, a numpy matmul against the transformed weight and the output
    transform, each op compiled with its untuned schedule, give the convolution."""
    rng = np.random.default_rng(n * 100 + h)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = _w(rng, k, c, 3, 3)
    bmat, _, amat = winograd_matrices(m)
    a = m + 2
    oh, ow = h + pad[0] + pad[2] - 2, w + pad[1] + pad[3] - 2
    xb = block_channels(x, 16)
    tx = te.placeholder(xb.shape, "float32", name="x")
    tb = te.placeholder((a, a), "float32", name="B")
    v = _run([tx, tb], get_op("nn.winograd_input").compute(tx, tb, tile=m, padding=pad),
             xb, np.ascontiguousarray(bmat, np.float32))
    tiles = n * -(-oh // m) * -(-ow // m)
    assert v.shape == (a * a, tiles, c // 16, 16)
    prod = np.matmul(v.reshape(a * a, tiles, c), transform_weight(wt, m))
    prod = np.ascontiguousarray(prod.reshape(a * a, tiles, k // 16, 16), np.float32)
    tm = te.placeholder(prod.shape, "float32", name="M")
    ta = te.placeholder((a, m), "float32", name="A")
    y = _run([tm, ta], get_op("nn.winograd_output").compute(tm, ta, tile=m, batch=n,
                                                              out_size=(oh, ow)),
             prod, np.ascontiguousarray(amat, np.float32))
    ref = block_channels(_direct(x, wt, pad), 16)
    assert y.shape == ref.shape
    # F(4x4, 3x3) rounds a little more than the direct sum: a few 1e-7 of the largest value
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-5 * np.abs(ref).max())


def test_transform_ops_name_what_is_wrong():
    wi, wo = get_op("nn.winograd_input").compute, get_op("nn.winograd_output").compute
    x = te.placeholder((1, 2, 8, 8, 16), "float32", name="x")
    with pytest.raises(ValueError, match=r"transform matrix must be \(6, 6\), got \(4, 4\)"):
        wi(x, te.placeholder((4, 4), "float32", name="B"), tile=4)
    with pytest.raises(ValueError, match="must be 5-d NCHW<b>c"):
        wi(te.placeholder((1, 32, 8, 8), "float32", name="x"),
           te.placeholder((6, 6), "float32", name="B"))
    with pytest.raises(ValueError, match="does not fit the padded input"):
        wi(te.placeholder((1, 1, 1, 1, 16), "float32", name="x"),
           te.placeholder((6, 6), "float32", name="B"), padding=0)
    with pytest.raises(ValueError, match=r"product must be \(36, 4, K/b, b\) for 1 image"):
        wo(te.placeholder((36, 5, 2, 16), "float32", name="M"),
           te.placeholder((6, 4), "float32", name="A"), tile=4, out_size=(8, 8))


def _ops(model, choose=None) -> Counter:
    mod = wg.winograd_conv(nchwc_layout(fold_batchnorm(from_onnx(model)), min_pointwise=0.0),
                           choose)
    return Counter(b.value.op for b in mod["main"].bindings if isinstance(b.value, Call))


def test_the_rewrite_takes_unit_stride_3x3_convolutions_only():
    """A bottleneck block's 3x3 becomes the three ops at stride 1 and stays a convolution
    at stride 2; the 1x1 convolutions stay convolutions."""
    def four(*_):
        return 4

    ops = _ops(bottleneck_block(32, 48, 9, 13), four)
    assert ops["nn.winograd_input"] == ops["nn.winograd_output"] == 1
    assert ops["nn.conv2d_nchwc"] == 2 and ops["matmul"] == 1 and ops["reshape"] == 2
    ops = _ops(bottleneck_block(32, 48, 9, 13, stride=2), four)
    assert ops["nn.winograd_input"] == 0 and ops["nn.conv2d_nchwc"] == 3
    assert _ops(bottleneck_block(32, 48, 9, 13), lambda *_: 0)["nn.winograd_input"] == 0


def test_the_tile_follows_the_weight_size_and_the_tile_count():
    """F(4x4) where its weight is small, F(2x2) where only that one fits, none past that or
    with too few tiles to fill the products."""
    assert wg.winograd_tile(1, 64, 64, 56, 56) == 4
    assert wg.winograd_tile(1, 128, 128, 28, 28) == 4
    big = int((wg.MAX_WEIGHT_BYTES / 4 / 36) ** 0.5) + 16  # F(4x4)'s weight too large
    assert wg.winograd_tile(1, big, big, 28, 28) == 2
    assert wg.winograd_tile(1, 2048, 2048, 28, 28) == 0
    assert wg.winograd_tile(1, 64, 64, 4, 4) == 0  # one tile
    assert wg.winograd_tile(1, 64, 64, 16, 16) == 2  # 16 tiles of F(4x4), 64 of F(2x2)
    assert wg.winograd_tile(4, 64, 64, 16, 16) == 4  # 4 images: 64 tiles
    assert wg.winograd_tile(1, 64, 64, 8, 8) == 0


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("h,w", [(9, 13), (5, 7), (1, 1)])
def test_a_residual_block_in_winograd_matches_onnxruntime(m, h, w, monkeypatch):
    """The whole block compiled (fused: bias and the residual add in the output transform)
    against onnxruntime, with the rewrite forced to tile size m."""
    model = bottleneck_block(32, 48, h, w)
    rng = np.random.default_rng(h)
    feeds = {"x": rng.standard_normal((2, 32, h, w)).astype(np.float32),
             "skip": rng.standard_normal((2, 48, h, w)).astype(np.float32)}
    monkeypatch.setattr(wg, "winograd_tile", lambda *_: m)
    assert _ops(model)["nn.winograd_output"] == 1
    _check(model, feeds, winograd=True)


def _stack_model(rng):
    """Three padded 3x3 convolutions (64 channels, 20x20, biases, relus)."""
    nodes, inits, prev = [], {}, "x"
    for i in range(3):
        inits[f"w{i}"] = _w(rng, 64, 64, 3, 3)
        inits[f"b{i}"] = rng.standard_normal(64).astype(np.float32)
        nodes += [helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"],
                                   pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        prev = f"r{i}"
    return _model(nodes, [("x", (1, 64, 20, 20))], [prev], inits)


def test_a_stack_of_3x3_convolutions_with_relu_matches_onnxruntime():
    """The default choice of tile runs the stack in Winograd; the outputs match
    onnxruntime."""
    rng = np.random.default_rng(5)
    model = _stack_model(rng)
    assert _ops(model)["nn.winograd_input"] == 3
    _check(model, {"x": rng.standard_normal((1, 64, 20, 20)).astype(np.float32)})


def test_an_exported_winograd_model_loads_and_gives_the_same_outputs(tmp_path):
    """The transformed weights and the three kernels per convolution travel in the
    artifact like any other constant and kernel."""
    import onnxtune

    rng = np.random.default_rng(6)
    model = _stack_model(rng)
    ex = onnxtune.compile_model(model)
    path = str(tmp_path / "stack.otm")
    ex.export_library(path)
    x = {"x": rng.standard_normal((1, 64, 20, 20)).astype(np.float32)}
    want = onnxtune.InferenceSession(ex).run(None, x)[0]
    got = onnxtune.InferenceSession(path).run(None, x)[0]
    np.testing.assert_array_equal(got, want)
    assert any("winograd" in c.kernel for c in onnxtune.load(path).calls
               if hasattr(c, "kernel"))


def test_the_option_is_recorded_and_old_work_dirs_keep_direct_convolutions():
    assert LEGACY_OPTIONS["winograd"] is False
    assert recorded_graph_options({"graph": {"nchwc": True}})["winograd"] is False
    assert current_graph_options()["winograd"] in (True, False)


def _loop_kinds_above(func, block: str) -> set:
    """The kinds of the loops around ``block`` in ``func``."""
    from onnxtune.tir.schedule import Schedule

    sch = Schedule(func)
    return {sch.get(lp).kind for lp in sch.get_loops(sch.get_block(block))}


def test_each_step_of_the_transforms_is_a_vectorized_parallel_tile():
    """Untuned, both reductions of each transform run vectorized along the lanes and in
    parallel: the second step is not taken as the first one's epilogue (it reduces over
    the first one's rows, which a tile of the first does not hold)."""
    from onnxtune.compile.default_schedule import default_schedule
    from onnxtune.tir.stmt import ForKind

    x = te.placeholder((1, 4, 28, 28, 16), "float32", name="x")
    bmat = te.placeholder((6, 6), "float32", name="B")
    v = get_op("nn.winograd_input").compute(x, bmat, tile=4, padding=(1, 1, 1, 1))
    prod = te.placeholder((36, 49, 4, 16), "float32", name="M")
    amat = te.placeholder((6, 4), "float32", name="A")
    y = get_op("nn.winograd_output").compute(prod, amat, tile=4, out_size=(28, 28))
    for tensors, steps in (([x, bmat, v], ("winograd_dB", "winograd_input")),
                           ([prod, amat, y], ("winograd_MA", "winograd_output"))):
        sched = default_schedule(te.create_prim_func(tensors), "llvm -num-cores=2")
        for step in steps:
            kinds = _loop_kinds_above(sched, step)
            assert {ForKind.VECTORIZED, ForKind.PARALLEL} <= kinds, (step, kinds)

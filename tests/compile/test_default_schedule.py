"""compile.default_schedule: the untuned schedule never changes results (every workload of
tir.testing, prime/odd shapes, shapes of 1) and does tile, vectorize and parallelize the
loop nests it recognizes."""

from __future__ import annotations

import pytest

from onnxtune.compile import build, runtime
from onnxtune.compile.default_schedule import default_schedule, default_schedule_of
from onnxtune.tir import testing
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.stmt import For, ForKind


@pytest.fixture(autouse=True)
def _two_threads():
    runtime.set_num_threads(2)
    yield
    runtime.set_num_threads(None)


def _check(func, ref, seed: int = 0):
    sched = default_schedule(func, "llvm -num-cores=2")
    testing.check_workload(sched, ref, run=lambda f, *a: build(f)["main"](*a), seed=seed,
                           rtol=1e-4 if func.params[-1].dtype == "float32" else None,
                           atol=1e-4 if func.params[-1].dtype == "float32" else None)
    return sched


def _kinds(func) -> set[ForKind]:
    kinds: set[ForKind] = set()
    post_order_visit(func.body, lambda n: kinds.add(n.kind) if isinstance(n, For) else None)
    return kinds


@pytest.mark.parametrize("name", sorted(testing.WORKLOADS))
def test_every_workload_matches_numpy(name):
    func, ref = testing.WORKLOADS[name]()
    _check(func, ref)


EDGE = {
    "matmul_1x1x1": lambda: testing.matmul(1, 1, 1),
    "matmul_prime": lambda: testing.matmul(17, 37, 13),
    "matmul_row": lambda: testing.matmul(1, 100, 33),
    "matmul_col": lambda: testing.matmul(67, 1, 5),
    "matmul_big_odd": lambda: testing.matmul(97, 131, 70),
    "batch_matmul_odd": lambda: testing.batch_matmul(3, 19, 23, 11),
    "dense_batch1": lambda: testing.dense(1, 61, 43),
    "conv2d_prime": lambda: testing.conv2d_nchw(1, 3, 13, 11, 7, 3, 3, padding=1),
    "conv2d_stride2_odd": lambda: testing.conv2d_nchw(2, 5, 17, 19, 9, 3, 3, stride=2,
                                                      padding=1),
    "conv2d_1x1": lambda: testing.conv2d_nchw(1, 16, 7, 7, 24, 1, 1),
    "conv2d_1x1_spatial1": lambda: testing.conv2d_nchw(1, 8, 1, 1, 4, 1, 1),
    # packed tiles with the data input staged per parallel row (1x1, strided, padded)
    "conv2d_1x1_56": lambda: testing.conv2d_nchw(1, 64, 56, 56, 32, 1, 1),
    "conv2d_1x1_prime": lambda: testing.conv2d_nchw(1, 37, 17, 13, 48, 1, 1),
    "conv2d_1x1_stride2_odd": lambda: testing.conv2d_nchw(1, 40, 23, 29, 32, 1, 1, stride=2),
    "conv2d_3x3_stride2_pad": lambda: testing.conv2d_nchw(1, 24, 29, 31, 32, 3, 3, stride=2,
                                                          padding=1),
    "conv2d_stem_like": lambda: testing.conv2d_nchw(1, 3, 45, 47, 32, 7, 7, stride=2,
                                                    padding=3),
    "conv2d_batch2_1x1": lambda: testing.conv2d_nchw(2, 32, 15, 15, 16, 1, 1),
    # x-vectorized tiles over a strided padded input (stored de-interleaved), 3 vectors
    "conv2d_stem_deinterleaved": lambda: testing.conv2d_nchw(1, 3, 40, 96, 16, 7, 7, stride=2,
                                                             padding=3),
    "conv2d_stride3_deinterleaved": lambda: testing.conv2d_nchw(1, 2, 20, 143, 8, 3, 3,
                                                                stride=3, padding=1),
    "conv2d_stride2_unpadded": lambda: testing.conv2d_nchw(1, 3, 20, 96, 16, 3, 3, stride=2),
    "conv2d_1x1_rows_s2": lambda: testing.conv2d_nchw(1, 96, 60, 60, 160, 1, 1, stride=2),
    # reduction blocked (the packed weight slice over the L1 block size)
    "conv2d_1x1_rc_blocked": lambda: testing.conv2d_nchw(1, 300, 30, 30, 32, 1, 1),
    "conv2d_3x3_rc_blocked": lambda: testing.conv2d_nchw(1, 70, 30, 29, 32, 3, 3,
                                                         padding=1),
    "conv_bias_relu_odd": lambda: testing.conv2d_bias_relu(1, 6, 15, 23, 10, 3, 3,
                                                           padding=1),
    "depthwise_odd": lambda: testing.depthwise_conv2d_nchw(1, 5, 19, 17, 3, 3, padding=1),
    "max_pool_odd": lambda: testing.max_pool2d(1, 3, 23, 29, kernel=3, stride=2, padding=1),
    "avg_pool_1": lambda: testing.avg_pool2d(1, 1, 2, 2, kernel=2, stride=2),
    "softmax_1": lambda: testing.softmax(1, 1),
    "softmax_odd": lambda: testing.softmax(37, 101),
    "layer_norm_odd": lambda: testing.layer_norm(31, 67),
    "add_broadcast_big": lambda: testing.add((7, 33, 129), (33, 1)),
    "relu_big_prime": lambda: testing.relu(3, 4999),
    "transpose_big": lambda: testing.transpose((33, 65, 17), (2, 0, 1)),
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_edge_shapes_match_numpy(name):
    func, ref = EDGE[name]()
    _check(func, ref, seed=1)


def test_matmul_is_tiled_vectorized_parallel():
    func, ref = testing.matmul(128, 96, 64)
    sched = _check(func, ref)
    assert {ForKind.PARALLEL, ForKind.VECTORIZED, ForKind.UNROLLED} <= _kinds(sched)


def test_conv_bias_relu_epilogue_in_the_tile():
    """The fused conv+bias+relu: the bias add is inlined into the relu, which is computed
    per register tile right after the reduction (no full-size intermediate)."""
    func, ref = testing.conv2d_bias_relu(1, 8, 12, 16, 16, 3, 3, padding=1)
    sched = _check(func, ref)
    from onnxtune.tir.schedule.tree import index

    names = list(index(sched).order)
    assert "T_add" not in names  # inlined
    assert {ForKind.PARALLEL, ForKind.VECTORIZED} <= _kinds(sched)
    from onnxtune.tir.stmt import Allocate
    from onnxtune.tir.transform import lower

    sizes = {}
    post_order_visit(lower(sched).body, lambda n: sizes.__setitem__(
        n.buffer.name, n.buffer.shape[0].value) if isinstance(n, Allocate) else None)
    assert sizes["conv2d_nchw"] < 16 * 12 * 16  # a per-tile accumulator


def test_elementwise_is_vectorized_and_parallel():
    func, ref = testing.relu(8, 64, 64)
    sched = _check(func, ref)
    assert {ForKind.PARALLEL, ForKind.VECTORIZED} <= _kinds(sched)


def test_unknown_structure_is_left_working():
    """A reduction whose output axis is not contiguous in any input (softmax's row max)
    only gets its outer loop parallel; a tiny function gets no parallel launch."""
    func, ref = testing.softmax(64, 512)
    sched = _check(func, ref)
    assert ForKind.PARALLEL in _kinds(sched)
    tiny, tref = testing.add((2,), (2,))
    assert ForKind.PARALLEL not in _kinds(_check(tiny, tref))


@pytest.mark.parametrize("stride", [2, 3, 4])
@pytest.mark.parametrize("lanes", [4, 7, 16])
def test_strided_vector_load(stride, lanes):
    """Loads with a small constant stride in a vectorized loop (a strided convolution's
    input under the default schedule) are a wide load plus a shuffle: same values."""
    import numpy as np

    from onnxtune import tir
    from onnxtune.tir import BufferStore, PrimFunc, Var
    from onnxtune.tir.expr import IterType, IterVar, Range
    from onnxtune.tir.stmt import Block, BlockRealize, true

    m = (lanes - 1) * stride + 4
    a = tir.decl_buffer((m,), "float32", "A")
    c = tir.decl_buffer((lanes,), "float32", "C")
    i, vi = Var("i"), Var("vi")
    iv = IterVar(Range.from_min_extent(0, lanes), vi, IterType.DATA_PAR)
    body = BufferStore(c, a[vi * stride + 3] * 2.0, (vi,))
    blk = Block((iv,), (), (), "T", body)
    nest = For(i, tir.const(0), tir.const(lanes), ForKind.VECTORIZED,
               BlockRealize((i,), true(), blk))
    rblk = Block((), (), (), "root", nest)
    func = PrimFunc((a, c), BlockRealize((), true(), rblk))
    x = np.random.default_rng(0).standard_normal(m).astype("float32")
    out = np.zeros(lanes, "float32")
    build(func)["main"](x, out)
    np.testing.assert_array_equal(out, x[3::stride][:lanes] * 2)


def _allocations(func) -> dict[str, int]:
    from onnxtune.tir.stmt import Allocate
    from onnxtune.tir.transform import lower

    sizes: dict[str, int] = {}
    post_order_visit(lower(func).body, lambda n: sizes.__setitem__(
        n.buffer.name, n.buffer.shape[0].value) if isinstance(n, Allocate) else None)
    return sizes


def test_packed_tile_stages_its_input_per_row():
    """A 1x1 convolution over a large input (channel blocks innermost of the outer loops):
    each parallel row's input (all channels, one row) is copied into a compact per-thread
    buffer that every channel block reads; a padded strided one computes its padding per
    row instead of for the whole image."""
    func, ref = testing.conv2d_nchw(1, 64, 72, 72, 16, 1, 1)
    sizes = _allocations(_check(func.with_attr("layout_free_buffers", [1]), ref))
    assert sizes["data_global"] == 64 * 72
    func, ref = testing.conv2d_nchw(1, 32, 92, 92, 16, 3, 3, stride=2, padding=1)
    sizes = _allocations(_check(func, ref))
    assert sizes["pad_temp"] <= 32 * 94 * 94 // 8


def test_strided_padded_input_is_deinterleaved():
    """The stem's shape class (3 channels, 7x7, stride 2, output width a multiple of the
    vector width): the padded input is stored [.., x % 2, x // 2], so the tile's loads along
    the output width are contiguous, and the tile holds several vectors along it."""
    func, ref = testing.conv2d_nchw(1, 3, 40, 96, 16, 7, 7, stride=2, padding=3)
    sched = _check(func, ref)
    from onnxtune.tir.schedule.tree import index

    ix = index(sched)
    pad = next(w.buffer for n in ix.order if n == "pad_temp"
               for w in ix.blocks[n].stmt.block.writes)
    assert [d.value for d in pad.shape][-2:] == [2, 51]


@pytest.mark.parametrize("shape", [(1, 40, 23, 29, 128, 1, 1, 2, 0),
                                   (1, 24, 17, 15, 128, 3, 3, 1, 1)])
def test_channel_chunks_stage_rows(monkeypatch, shape):
    """Weights and input both over the cache thresholds (lowered here to keep the shapes
    small): the channel blocks run in threads chunks, each staging every row once."""
    from onnxtune.compile import default_schedule as ds

    monkeypatch.setattr(ds, "SMALL_WEIGHT_BYTES", 1024)
    monkeypatch.setattr(ds, "LARGE_INPUT_BYTES", 8 * 1024)
    n, c, h, w, k, r, s_, stride, pad = shape
    func, ref = testing.conv2d_nchw(n, c, h, w, k, r, s_, stride=stride, padding=pad)
    sched = _check(func.with_attr("layout_free_buffers", [1]), ref, seed=2)
    extents = []
    post_order_visit(sched.body, lambda x: extents.append(x.extent.value)
                     if isinstance(x, For) and x.kind == ForKind.PARALLEL else None)
    assert 2 in extents  # the chunks
    staged = _allocations(sched)
    assert "data_global" in staged or "pad_temp" in staged


def _conv_residual_relu(c, h, w, k):
    import numpy as np

    from onnxtune.tir import te
    from onnxtune.tir.testing import _conv_stage, conv2d_ref

    data = te.placeholder((1, c, h, w), "float32", name="data")
    kernel = te.placeholder((k, c, 1, 1), "float32", name="kernel")
    bias = te.placeholder((k,), "float32", name="bias")
    res = te.placeholder((1, k, h, w), "float32", name="res")
    conv = _conv_stage(data, kernel, 1, 0, 1, 1, "conv2d_nchw")
    shp = conv.static_shape()
    a = te.compute(shp, lambda b, q, i, j: conv[b, q, i, j] + bias[q], name="T_add")
    a2 = te.compute(shp, lambda b, q, i, j: a[b, q, i, j] + res[b, q, i, j], name="T_add2")
    out = te.compute(shp, lambda *i: te.max(a2[i], te.const(0, "float32")), name="T_relu")

    def ref(x, y, z, r):
        v = conv2d_ref(x, y, 1, 0, 1, 1) + z[None, :, None, None] + r
        return np.maximum(v, 0).astype("float32")

    return te.create_prim_func([data, kernel, bias, res, out]), ref


@pytest.mark.parametrize("shape,x_tile", [((16, 6, 56, 64), 14), ((16, 9, 13, 32), 13),
                                          ((32, 14, 14, 64), 14), ((24, 7, 7, 48), 7)])
def test_residual_epilogue(shape, x_tile):
    """conv + bias + residual + relu: the epilogue runs per tile; along a wide enough
    tile row it is vectorized (the residual read and the store contiguous). 1x1 rows of
    at most 14 points are one tile (POINTWISE_WIDE), wider rows of at most 28 get half
    tiles (7 points, two channel vectors), a prime width keeps its full row."""
    func, ref = _conv_residual_relu(*shape)
    sched = _check(func.with_attr("layout_free_buffers", [1]), ref)
    vec_extents, unrolled = [], []
    post_order_visit(sched.body, lambda x: (
        vec_extents if x.kind == ForKind.VECTORIZED else unrolled).append(x.extent.value)
        if isinstance(x, For) else None)
    assert x_tile in unrolled
    assert (x_tile in vec_extents) == (x_tile >= 8)


@pytest.mark.parametrize("make", [
    lambda: testing.depthwise_conv2d_nchw(1, 96, 30, 30, 3, 3, stride=2, padding=1),
    lambda: testing.depthwise_conv2d_nchw(1, 37, 13, 32, 3, 3, padding=1),
    lambda: testing.depthwise_conv2d_nchw(2, 16, 7, 7, 3, 3, padding=1),
    lambda: testing.max_pool2d(1, 64, 56, 56, kernel=3, stride=2, padding=1),
    lambda: testing.max_pool2d(1, 5, 17, 23, kernel=3, stride=2, padding=1),
])
def test_a_per_channel_padded_input_is_computed_in_the_tile(make):
    """A depthwise convolution's or a pooling window's padded input is computed inside the
    tile's parallel loop, a few channels at a time (PAD_AT_TILE), not in a pass of its own;
    the knob off keeps the whole padded tensor."""
    func, ref = make()
    n, c, h, w = func.params[0].static_shape()
    whole = n * c * (h + 2) * (w + 2)
    on = _allocations(_check(func, ref, seed=2))
    assert on["pad_temp"] < whole
    off = default_schedule_of(func, "llvm -num-cores=2", {"PAD_AT_TILE": False})
    assert _allocations(off.mod["main"])["pad_temp"] == whole


@pytest.mark.parametrize("hw,k,pad", [(2, 3, 1), (1, 3, 1), (2, 1, 0), (3, 3, 1)])
def test_a_constant_weight_over_a_tiny_image_is_packed(hw, k, pad):
    """Over a 2x2 (or 1x1, 3x3) image a convolution's weight is reused by fewer than 8
    points, but a constant weight is packed at compile time for free: the tile then reads
    it once, in order (unpacked, the tile re-read it per output row: ResNet-18's 64x64
    layer4 ran at half onnxruntime's speed). A weight passed at run time stays unpacked
    there (packing it would cost a copy per call); over 3x3 = 9 points both are packed."""
    func, ref = testing.conv2d_nchw(1, 48, hw, hw, 32, k, k, padding=pad)
    packed = _check(func.with_attr("layout_free_buffers", [1]), ref, seed=hw + k)
    assert "kernel_global" in packed.script() and "layout_rewrite_preproc" in packed.script()
    plain = _check(func, ref, seed=hw + k)
    assert ("kernel_global" in plain.script()) == (hw * hw >= 8)


def test_rows_of_one_vector_take_the_packed_tile():
    """A 16x16 image (rows of exactly one 16-lane vector): the packed tile (channel vectors
    x points) instead of one vector of a row x a few channels; with the knob off, the row
    is vectorized as before. Both match numpy."""
    func, ref = testing.conv2d_nchw(1, 24, 16, 16, 32, 3, 3, padding=1)
    func = func.with_attr("layout_free_buffers", [1])
    assert "kernel_global" in _check(func, ref, seed=3).script()
    old = default_schedule_of(func, "llvm -num-cores=2", knobs={"ONE_VECTOR_ROWS_PACKED": False})
    assert "kernel_global" not in old.func.script()
    testing.check_workload(old.func, ref, run=lambda f, *a: build(f)["main"](*a), seed=3,
                           rtol=1e-4, atol=1e-4)


def _loops(func) -> tuple[set[int], list[str]]:
    """(extents of the unrolled loops, names of the parallel loops) of ``func``."""
    unrolled: set[int] = set()
    parallel: list[str] = []

    def visit(n):
        if isinstance(n, For) and n.kind == ForKind.UNROLLED:
            unrolled.add(n.extent.value)
        elif isinstance(n, For) and n.kind == ForKind.PARALLEL:
            parallel.append(n.loop_var.name)

    post_order_visit(func.body, visit)
    return unrolled, parallel


@pytest.mark.parametrize("hw,wide,was", [(14, True, {2, 7}), (13, True, {1, 13}),
                                         (7, True, {2, 7}), (28, False, None)])
def test_pointwise_rows_of_up_to_14_points_take_one_wide_tile(hw, wide, was):
    """A 1x1 convolution over rows of at most 14 points (ResNet-50's 14x14 layers): a tile
    of the whole row x two channel vectors with the channel blocks in parallel
    (POINTWISE_WIDE), where the half tile took 7 points of a 14-point row; wider rows
    keep the half tile (the same schedule with the knob off). Both match numpy, with a
    prime width and an input channel count that is no multiple of 16."""
    func, ref = testing.conv2d_nchw(1, 40, hw, hw, 64, 1, 1)
    func = func.with_attr("layout_free_buffers", [1])
    unrolled, parallel = _loops(_check(func, ref, seed=5))
    if wide:  # the row x two vectors, the channel blocks in parallel
        assert unrolled == {2, hw}
        assert any(p.startswith("ff") for p in parallel)
    old = default_schedule_of(func, "llvm -num-cores=2", knobs={"POINTWISE_WIDE": False})
    if wide:
        assert _loops(old.func)[0] == was
    else:
        assert old.func.script() == default_schedule_of(func, "llvm -num-cores=2").func.script()
    testing.check_workload(old.func, ref, run=lambda f, *a: build(f)["main"](*a), seed=5,
                           rtol=1e-4, atol=1e-4)


def test_a_row_of_seven_vectors_takes_a_wide_tile():
    """A stem-like convolution (3 input channels, 7x7 window, stride 2, a 112-point output
    row = 7 vectors of 16, no smaller divisor): the tile is the row's 7 vectors x 4 output
    channels (ODD_ROW_REGISTERS = 30 accumulators at most), where the register budget of
    16 gave 7 x 2. Both match numpy, over 12 output channels (three blocks of 4)."""
    func, ref = testing.conv2d_nchw(1, 3, 9, 224, 12, 7, 7, stride=2, padding=3)
    func = func.with_attr("layout_free_buffers", [1])
    assert _loops(_check(func, ref, seed=7))[0] >= {7, 4}
    old = default_schedule_of(func, "llvm -num-cores=2", knobs={"ODD_ROW_REGISTERS": 16})
    unrolled = _loops(old.func)[0]
    assert 7 in unrolled and 4 not in unrolled
    testing.check_workload(old.func, ref, run=lambda f, *a: build(f)["main"](*a), seed=7,
                           rtol=1e-4, atol=1e-4)

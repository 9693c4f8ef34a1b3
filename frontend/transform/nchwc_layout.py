"""Convolutions in channel-blocked layouts (``NCHW16c``), with their epilogues.

A dense 2-d convolution in NCHW reads, for each output point, one value per input channel
from planes ``H·W`` floats apart, and its register tile (output channels in a vector)
stores each vector across 16 planes. In ``NCHW{b}c`` (channels split into blocks of ``b``
= one vector, the block innermost) both are contiguous: the tile reads the ``b`` input
channels of a point from one cache line and stores ``b`` output channels of a point as one
vector. This is the layout onnxruntime's and TVM's x86 convolutions run in.

The rewrite, for every ``nn.conv2d`` with a constant weight, no groups, and input and
output channel counts that are multiples of ``b`` (or a depthwise one: one filter per
channel, channels a multiple of ``b``), next to another such convolution and to no other
grouped one (with ``min_pointwise``, only in chains of such convolutions at least that
share of them 1x1; see :func:`_convs_to_block`):

    x_b = layout_transform(x, "NCHW", "NCHW16c")     # unless x is already blocked
    y_b = nn.conv2d_nchwc(x_b, W_b, ...)             # W_b packed now: (O/b, C/b, KH, KW, b, b)
    y_b = nn.depthwise_conv2d_nchwc(x_b, W_b, ...)   # depthwise: W_b (C/b, KH, KW, b)

then each elementwise or broadcast consumer with the convolution's 4-d output shape runs on
the blocked form too: a blocked operand as it is, a scalar as it is, a constant whose
channel dim is 1 or C reshaped (and its channels blocked) now, another 4-d tensor of the
full shape through a ``layout_transform``. So FuseOps fuses bias, residual add and
activation into the blocked convolution. A max pool or global pool of a blocked value
runs blocked too (``layout="NCHW16c"``), and a convolution whose input channels do not
split into blocks (a stem's 3) reads NCHW and writes the blocked layout when all its
results go to blocked convolutions: a ResNet runs blocked from its stem to its global
pool, and a MobileNetV2 from its stem to its head (but for its 24-channel stage). Wherever
a value is needed in NCHW (another op, a grouped convolution, an output),
``layout_transform(y_b, "NCHW16c", "NCHW")`` is bound under the original variable, once.
"""

from __future__ import annotations

import numpy as np

from ..ir import Call, Constant, Expr, Function, IRModule, TensorType, Var, op_call
from .pointwise_conv import _elementwise
from .util import AltForms

#: the channel block: one 512-bit vector of float32
CHANNEL_BLOCK = 16


#: the share of 1x1 convolutions a chain needs to run blocked (see :func:`_convs_to_block`)
MIN_POINTWISE = 0.5


def nchwc_layout(mod: IRModule, block: int = CHANNEL_BLOCK,
                 min_pointwise: float | None = None) -> IRModule:
    """Apply the rewrite to every graph function of ``mod`` (see the module docstring);
    ``min_pointwise`` (default :data:`MIN_POINTWISE`; 0 blocks every chain)."""
    share = MIN_POINTWISE if min_pointwise is None else min_pointwise
    out = {}
    for name, f in mod.functions.items():
        out[name] = _rewrite(f, block, share) if isinstance(f, Function) else f
    return IRModule(out)


#: ops that run on blocked data as they are given it (a ``layout`` attribute added)
POOLS = ("nn.max_pool2d", "nn.global_avg_pool2d", "nn.global_max_pool2d")


def blockable_conv(call: Call, block: int = CHANNEL_BLOCK) -> bool:
    """Is ``call`` an ``nn.conv2d`` of a 4-d float32 input with a constant 4-d weight, no
    groups, and input and output channels that split into blocks of ``block``?"""
    return _dense_conv(call) and _channels(call)[0] % block == 0 \
        and _channels(call)[1] % block == 0


def into_blocked_conv(call: Call, block: int = CHANNEL_BLOCK) -> bool:
    """Is ``call`` a dense convolution as :func:`blockable_conv` says, except that its
    input channels do not split into blocks (a stem's 3): it can read NCHW and write the
    blocked layout."""
    return _dense_conv(call) and _channels(call)[0] % block != 0 \
        and _channels(call)[1] % block == 0


def depthwise_conv(call: Call, block: int = CHANNEL_BLOCK) -> bool:
    """Is ``call`` an ``nn.conv2d`` of a 4-d float32 input with a constant weight of one
    filter per channel ((C, 1, KH, KW), groups = C) and C a multiple of ``block``?"""
    if not _conv_operands(call):
        return False
    w, c = call.args[1].data, call.args[0].type.shape[1]  # type: ignore[union-attr]
    return (int(call.attrs.get("groups", 1)) == c and w.shape[:2] == (c, 1)
            and c % block == 0)


def _channels(call: Call) -> tuple[int, int]:
    """(input, output) channels of a dense convolution."""
    o, c = call.args[1].data.shape[:2]  # type: ignore[union-attr]
    return int(c), int(o)


def _conv_operands(call: Call) -> bool:
    """An ``nn.conv2d`` of a 4-d float32 input with a constant 4-d float32 weight?"""
    if call.op != "nn.conv2d" or len(call.args) != 2:
        return False
    x, w = call.args
    if not isinstance(w, Constant) or w.data.ndim != 4 or w.data.dtype != np.float32:
        return False
    t = x.type
    return (isinstance(t, TensorType) and len(t.shape) == 4 and t.dtype == "float32"
            and call.attrs.get("out_dtype") in (None, "float32"))


def _dense_conv(call: Call) -> bool:
    return (_conv_operands(call) and int(call.attrs.get("groups", 1)) == 1
            and call.args[1].data.shape[1] == call.args[0].type.shape[1])  # type: ignore


def pack_weight(w: np.ndarray, block: int) -> np.ndarray:
    """An OIHW weight as ``OIHW{b}i{b}o``: (O/b, C/b, KH, KW, b_in, b_out)."""
    o, c, kh, kw = w.shape
    return np.ascontiguousarray(
        w.reshape(o // block, block, c // block, block, kh, kw).transpose(0, 2, 4, 5, 3, 1))


def unpack_weight(wb: np.ndarray) -> np.ndarray:
    """The OIHW weight that :func:`pack_weight` packed into ``wb``."""
    ob, cb, kh, kw, bi, bo = wb.shape
    return np.ascontiguousarray(wb.transpose(0, 5, 1, 4, 2, 3).reshape(ob * bo, cb * bi, kh, kw))


def pack_weight_out(w: np.ndarray, block: int) -> np.ndarray:
    """An OIHW weight as ``OIHW{b}o``: (O/b, C, KH, KW, b_out), for NCHW data."""
    o, c, kh, kw = w.shape
    return np.ascontiguousarray(w.reshape(o // block, block, c, kh, kw).transpose(0, 2, 3, 4, 1))


def pack_depthwise_weight(w: np.ndarray, block: int) -> np.ndarray:
    """A depthwise weight (C, 1, KH, KW) as (C/b, KH, KW, b)."""
    c, _, kh, kw = w.shape
    return np.ascontiguousarray(w.reshape(c // block, block, kh, kw).transpose(0, 2, 3, 1))


def block_channels(a: np.ndarray, block: int) -> np.ndarray:
    """A 4-d array (N, C, H, W) as (N, C/b, H, W, b)."""
    n, c, h, w = a.shape
    return np.ascontiguousarray(a.reshape(n, c // block, block, h, w).transpose(0, 1, 3, 4, 2))


def _convs_to_block(func: Function, block: int, min_pointwise: float = 0.5) -> set[int]:
    """ids of the convolution calls to run blocked: :func:`blockable_conv` and
    :func:`depthwise_conv` ones that have a blockable neighbour (the convolution their data
    comes from, or one their result goes to, through elementwise ops and pools) and no
    other grouped one. A lone convolution would pay a layout transform on each side for
    nothing to share them with. (A MobileNetV2 with its depthwise convolutions blocked:
    0.97-1.01x onnxruntime untuned, against 1.35-1.43x in NCHW; with only its pointwise
    ones, a transform around each depthwise one, it was slower than NCHW.) Of the chains
    these links make, only those whose convolutions are at least ``min_pointwise`` dense
    1x1 ones (:func:`.pipeline.optimize` passes 0, every chain, unless its
    ``nchwc_every_chain`` option is off). On an Intel machine the blocked layout's gain
    was in pointwise convolutions (ResNet-50's, in the model: 0.6-0.95x their NCHW time),
    while 3x3 ones ran about as fast or slower blocked (0.9-1.2x), and ResNet-18 (3 of 20
    pointwise) tuned to 1.18x onnxruntime blocked against 1.09x in NCHW, hence the 0.5
    share. On an AMD Zen 5 every chain gained or held untuned, in turns with onnxruntime:
    ResNet-18 1.19x -> 0.99x, ResNet-18 at 64x64 1.10x -> 0.93x, VGG-19 1.11x -> 1.04x,
    Inception v2 1.28x -> 1.21x, ZFNet 0.77x -> 0.74x, Inception v1, DenseNet-121,
    AlexNet, SqueezeNet within 1%. And the :func:`into_blocked_conv` ones (a stem) whose
    results go only to chosen ones."""
    producer: dict[int, Call] = {}
    users: dict[int, list[tuple[Var, Call]]] = {}
    for b in func.bindings:
        if isinstance(b.value, Call):
            producer[id(b.var)] = b.value
            for a in b.value.args:
                if isinstance(a, Var):
                    users.setdefault(id(a), []).append((b.var, b.value))

    def through(call: Call) -> bool:
        return call.op != "nn.conv2d" and (_elementwise(call) or call.op in POOLS)

    def source(e: Expr) -> Call | None:
        """The op that produced ``e``, looking through elementwise ops' first tensor and
        pools."""
        for _ in range(64):
            if not (isinstance(e, Var) and id(e) in producer):
                return None
            call = producer[id(e)]
            if not through(call):
                return call
            e = next((a for a in call.args if isinstance(a, Var)), None)
        return None

    def sinks(v: Var) -> list[Call]:
        """The convolutions (and other non-elementwise ops) ``v`` flows into."""
        out, todo, seen = [], [v], set()
        while todo:
            u = todo.pop()
            for var, call in users.get(id(u), []):
                if id(call) in seen:
                    continue
                seen.add(id(call))
                if through(call):
                    todo.append(var)
                else:
                    out.append(call)
        return out

    def grouped(call: Call | None) -> bool:
        return (call is not None and call.op == "nn.conv2d"
                and int(call.attrs.get("groups", 1)) != 1 and not depthwise_conv(call, block))

    cands: dict[int, tuple[Call | None, list[Call]]] = {}
    for b in func.bindings:
        v = b.value
        if isinstance(v, Call) and (blockable_conv(v, block) or depthwise_conv(v, block)):
            src, dst = source(v.args[0]), sinks(b.var)
            if not grouped(src) and not any(grouped(c) for c in dst):
                cands[id(v)] = (src, dst)
    # chains: convolutions linked to a blockable neighbour, grouped by those links
    parent = {k: k for k in cands}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for k, (src, dst) in cands.items():
        for other in ([src] if src is not None else []) + dst:
            if id(other) in cands:
                parent[root(id(other))] = root(k)
    calls = {id(b.value): b.value for b in func.bindings if isinstance(b.value, Call)}
    size: dict[int, int] = {}
    pointwise: dict[int, int] = {}
    for k in cands:
        r = root(k)
        size[r] = size.get(r, 0) + 1
        kh, kw = calls[k].args[1].data.shape[2:]  # type: ignore[union-attr]
        pointwise[r] = pointwise.get(r, 0) + (kh == kw == 1 and not depthwise_conv(calls[k], block))
    chosen = {k for k in cands
              if size[root(k)] > 1 and pointwise[root(k)] >= min_pointwise * size[root(k)]}
    for b in func.bindings:  # a stem: its data stays NCHW, its result feeds blocked ones
        v = b.value
        if isinstance(v, Call) and into_blocked_conv(v, block):
            dst = sinks(b.var)
            if dst and all(id(c) in chosen for c in dst):
                chosen.add(id(v))
    return chosen


def _rewrite(func: Function, block: int, min_pointwise: float) -> Function:
    layout = f"NCHW{block}c"
    chosen = _convs_to_block(func, block, min_pointwise)
    # the 4-d value is bound (a transform of the blocked one) when something needs it
    forms = AltForms(lambda bv, v: op_call("layout_transform", [bv], {
        "src_layout": layout, "dst_layout": "NCHW"}))
    emit, four_d = forms.emit, forms.original
    into: dict[int, Var] = {}  # id(4-d var) -> its transform into the blocked layout

    def blockable(a: Expr, shape: tuple[int, ...]) -> bool:
        """Can ``a`` (an operand of an op with the 4-d result ``shape``) take part in the
        blocked form (see :func:`as_blocked`)?"""
        if forms.alt(a) is not None:
            return True
        t = a.type
        if not isinstance(t, TensorType) or len(t.shape) > 4:
            return False
        if not t.shape:
            return True
        if not isinstance(a, Constant):
            return tuple(t.shape) == shape  # (a 4-d tensor, transformed)
        s = (1,) * (4 - len(t.shape)) + tuple(t.shape)
        return s[1] in (1, shape[1])

    def as_blocked(a: Expr) -> Expr:
        """``a`` in the blocked form; ``blockable(a, ...)`` holds."""
        bv = forms.alt(a)
        if bv is not None:
            return bv
        t = a.type
        if not t.shape:  # type: ignore[union-attr]
            return a
        if isinstance(a, Constant):
            d = a.data.reshape((1,) * (4 - a.data.ndim) + a.data.shape)
            if d.shape[1] == 1:
                return Constant(d.reshape(*d.shape, 1), a.name)
            return Constant(block_channels(d, block), a.name)
        a = four_d(a)
        if isinstance(a, Var) and id(a) in into:
            return into[id(a)]
        v = emit(f"{a.name}_b" if isinstance(a, Var) else "blocked", op_call(
            "layout_transform", [a], {"src_layout": "NCHW", "dst_layout": layout}))
        if isinstance(a, Var):
            into[id(a)] = v
        return v

    for b in func.bindings:
        v = b.value
        if isinstance(v, Call) and id(v) in chosen:
            x, w = v.args
            attrs = {k: v.attrs[k] for k in ("strides", "padding", "dilation")
                     if k in v.attrs}
            op = "nn.conv2d_nchwc"
            if depthwise_conv(v, block):
                op = "nn.depthwise_conv2d_nchwc"
                x, wb = as_blocked(x), Constant(pack_depthwise_weight(w.data, block), w.name)
            elif blockable_conv(v, block):
                x, wb = as_blocked(x), Constant(pack_weight(w.data, block), w.name)
            else:  # NCHW data in, blocked out
                x, wb = four_d(x), Constant(pack_weight_out(w.data, block), w.name)
            forms.record(b.var, emit(f"{b.var.name}_b", op_call(op, [x, wb], attrs)))
            continue
        if (isinstance(v, Call) and v.op in POOLS and "layout" not in v.attrs
                and forms.alt(v.args[0]) is not None):
            forms.record(b.var, emit(f"{b.var.name}_b", op_call(
                v.op, [forms.alt(v.args[0])], {**v.attrs, "layout": layout})))
            continue
        if (isinstance(v, Call) and _elementwise(v) and isinstance(v.type, TensorType)
                and len(v.type.shape) == 4
                and any(forms.alt(a) is not None for a in v.args)):
            shape = tuple(v.type.shape)
            if all(blockable(a, shape) for a in v.args):
                args = [as_blocked(a) for a in v.args]
                forms.record(b.var, emit(f"{b.var.name}_b", op_call(v.op, args, v.attrs)))
                continue
        forms.keep(b)
    return forms.finish(func)

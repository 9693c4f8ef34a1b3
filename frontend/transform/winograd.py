"""3x3 convolutions as Winograd F(m x m, 3 x 3): input transform, batched matmul, output
transform (see :mod:`..op.winograd`).

The rewrite, for every blocked ``nn.conv2d_nchwc`` (data ``NCHW{b}c``) with a constant
3x3 weight, unit strides and no dilation that :func:`winograd_tile` gives a tile size:

    v = nn.winograd_input(x_b, B, tile=m, padding=...)     # (a², P, C/b, b)
    p = matmul(reshape(v, (a², P, C)), U)                  # (a², P, K), U = G g G^T now
    y_b = nn.winograd_output(reshape(p, (a², P, K/b, b)), A, tile=m, ...)
                                                           # (N, K/b, OH, OW, b)

(the reshapes are views: no copy, no kernel)

``y_b`` keeps the convolution's variable, so its epilogue (bias, residual add,
activation) fuses into the output transform as it did into the convolution.

Per output tile of ``m x m`` points the matrix products do ``(m + 2)²`` multiply-adds per
channel pair where the convolution does ``9 m²``: 2.25x fewer for m = 2, 4x fewer for
m = 4. What it costs: the transforms (``2 a³`` multiply-adds per tile and channel each,
against ``a² K`` in the product: a fifth of it at 64 output channels, 5% at 256; vectors
along the channels), the transformed weight, ``(m + 2)² / 9`` times the convolution's (4x
for m = 4), which is read from memory once per run, and a few ULPs of rounding (F(4x4,
3x3) about 1e-6 of the output's scale in float32, measured in the tests).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir import Binding, Call, Constant, Function, IRModule, Var, op_call
from ..op._util import ints
from ..op.nn import conv_pads
from ..op.winograd import tiles, transform_weight, winograd_matrices
from .nchwc_layout import unpack_weight

#: a tile whose transformed weight would pass this many bytes is not taken (a guard on
#: memory: 1024 channels in F(4x4) would be 151 MB). Below it the weight's size did not
#: decide: untuned, VGG-19 ran 19% faster with its 512-channel 28x28 and 14x14 layers in
#: F(2x2) (16.8 MB a weight) than direct, and 10% faster again with the 28x28 ones in
#: F(4x4) (37.7 MB), the weights streamed from memory every run
MAX_WEIGHT_BYTES = 64 << 20
#: nor below this many output tiles: the matrix products are then too thin to run at the
#: machine's peak, and the transforms' overhead wins. Untuned, ResNet-18 at 64x64 (16x16
#: and 8x8 stages, 16 tiles) ran 1.39x slower in Winograd; ResNet-50's 14x14 stage in
#: F(2x2) (49 tiles) made the model 6% faster
MIN_TILES = 49


def winograd_tile(n: int, c: int, k: int, oh: int, ow: int) -> int:
    """The tile size m to run a 3x3 unit-stride convolution of ``c`` → ``k`` channels with
    an (``n``, ``oh``, ``ow``) output as Winograd F(m x m, 3 x 3), 0 to keep it direct."""
    for m in (4, 2):
        a = m + 2
        if (a * a * c * k * 4 <= MAX_WEIGHT_BYTES
                and n * tiles(oh, m) * tiles(ow, m) >= MIN_TILES):
            return m
    return 0


def winograd_conv(mod: IRModule, choose: Callable[..., int] | None = None) -> IRModule:
    """Apply the rewrite to every graph function of ``mod`` (see the module docstring);
    ``choose(n, c, k, oh, ow)`` gives the tile size (0: keep the convolution; default
    :func:`winograd_tile`)."""
    choose = choose or winograd_tile
    out = {}
    for name, f in mod.functions.items():
        out[name] = _rewrite(f, choose) if isinstance(f, Function) else f
    return IRModule(out)


def candidate(call: Call) -> bool:
    """Is ``call`` a blocked 3x3 convolution with unit strides, no dilation, a constant
    float32 weight and a float32 result?"""
    if call.op != "nn.conv2d_nchwc" or len(call.args) != 2:
        return False
    x, w = call.args
    if not isinstance(w, Constant) or w.data.ndim != 6 or w.data.shape[2:4] != (3, 3):
        return False
    if w.data.dtype != np.float32 or x.type.dtype != "float32" or len(x.type.shape) != 5:
        return False
    a = call.attrs
    if a.get("out_dtype") not in (None, "float32"):
        return False
    return all(ints(a.get(k, 1), 2, f"nn.conv2d_nchwc {k}") == (1, 1)
               for k in ("strides", "dilation"))


def _rewrite(func: Function, choose: Callable[..., int]) -> Function:
    bindings: list[Binding] = []
    for b in func.bindings:
        v = b.value
        if isinstance(v, Call) and candidate(v):
            n, _, _, _, blk = v.args[0].type.shape
            _, k_blocks, oh, ow, _ = b.var.type.shape
            w = v.args[1].data
            c, k = w.shape[1] * blk, k_blocks * blk
            m = choose(n, c, k, oh, ow)
            if m:
                bindings += _winograd(b, m)
                continue
        bindings.append(b)
    return func.with_bindings(bindings, func.outputs)


def _winograd(b: Binding, m: int) -> list[Binding]:
    call = b.value
    x, wc = call.args
    w = unpack_weight(wc.data)
    before, after = conv_pads(call.attrs.get("padding", 0), 2, "nn.conv2d_nchwc")
    bmat, _, amat = winograd_matrices(m)
    n, _, oh, ow, blk = b.var.type.shape
    name = b.var.name
    out: list[Binding] = []

    def bind(suffix: str, value: Call) -> Var:
        v = Var(f"{name}_{suffix}", value.type)
        out.append(Binding(v, value))
        return v

    tin = bind("wv", op_call(
        "nn.winograd_input",
        [x, Constant(np.ascontiguousarray(bmat, np.float32), f"winograd_B{m}")],
        {"tile": m, "padding": (*before, *after)}))
    a2, p, cb, _ = tin.type.shape
    flat = bind("wvf", op_call("reshape", [tin], {"newshape": (a2, p, cb * blk)}))
    prod = bind("wm", op_call("matmul", [flat, Constant(transform_weight(w, m),
                                                        f"{wc.name}_wino{m}")]))
    k = prod.type.shape[2]
    blocked = bind("wmb", op_call("reshape", [prod], {"newshape": (a2, p, k // blk, blk)}))
    out.append(Binding(b.var, op_call(
        "nn.winograd_output",
        [blocked, Constant(np.ascontiguousarray(amat, np.float32), f"winograd_A{m}")],
        {"tile": m, "batch": n, "out_size": (oh, ow)})))
    return out

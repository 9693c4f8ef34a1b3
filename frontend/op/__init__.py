"""onnxtune.frontend.op: the operator library — each graph op name → a TE compute.

``get_op(name)`` returns an :class:`OpDef` whose ``compute(*inputs, **attrs)`` takes
``te.Tensor`` inputs and plain-Python attributes (ints, floats, bools, strings, tuples),
builds the TE computation and returns the output tensor (or a tuple of tensors when the
op has several outputs). ``pattern`` is the op's fusion pattern (TVM's ``OpPatternKind``)
for FuseOps; ``num_outputs`` is 1 for single-output ops, the fixed count for fixed
multi-output ops (``topk`` → 2) and ``None`` when it depends on the attributes
(``split``).

Shapes are static. Broadcasting follows numpy. ``axis`` arguments accept negative values.
Reductions are single TE reductions (one block with init + update each); conv and matmul
are one reduction over a padded input, the padding being its own injective stage (as
TOPI does), so multi-level tiling applies to them.

Op table (inputs → attributes with defaults; P = pattern):

=====================  =====================================================  ==========
name                   inputs / attributes                                    P
=====================  =====================================================  ==========
exp log sqrt rsqrt     (x)                                                    ELEMWISE
tanh sigmoid erf relu
abs negative floor
ceil round reciprocal
sign logical_not
hard_swish softplus    (x)                                                    ELEMWISE
leaky_relu             (x); alpha=0.01                                        ELEMWISE
elu                    (x); alpha=1.0                                         ELEMWISE
selu                   (x); alpha=1.67326319..., gamma=1.05070102...          ELEMWISE
hard_sigmoid           (x); alpha=0.2, beta=0.5                               ELEMWISE
gelu                   (x); approximate="none" | "tanh"                       ELEMWISE
clip                   (x); a_min=None, a_max=None (None = unbounded)         ELEMWISE
astype                 (x); dtype (str)                                       ELEMWISE
cast                   (x); dtype, saturate=True, round_mode="up": ONNX Cast  ELEMWISE
                       incl. the narrow dtypes (bfloat16, float8_*, int4...)
identity               (x)                                                    ELEMWISE
add subtract multiply  (a, b) numpy broadcasting; divide on ints truncates    BROADCAST
divide power maximum   toward zero (ONNX Div); power keeps a's dtype;
minimum equal less     floor_mod is Python's % (sign of the divisor, ONNX
greater less_equal     Mod fmod=0); fmod is C fmod / the truncated integer
greater_equal          remainder (ONNX Mod fmod=1); comparisons and logical
logical_and logical_or ops return bool
floor_mod fmod
where                  (cond, x, y) broadcasting                              BROADCAST
nn.conv2d              (data NCHW, weight OIHW); strides=(1,1),               OUT_EWISE_FUSABLE
                       padding=(0,0,0,0) (top,left,bottom,right; 2-tuple
                       (ph,pw) accepted), dilation=(1,1), groups=1,
                       out_dtype=None
nn.conv1d              (data NCW, weight OIW); strides=(1,), padding=(l,r),   OUT_EWISE_FUSABLE
                       dilation=(1,), groups=1
nn.conv3d              (data NCDHW, weight OIDHW); strides, padding=          OUT_EWISE_FUSABLE
                       (front,top,left,back,bottom,right), dilation, groups
nn.conv2d_nchwc        (data NCHW{b}c [N, C/b, H, W, b], weight OIHW{b}i{b}o OUT_EWISE_FUSABLE
                       [O/b, C/b, kh, kw, b, b]) → NCHW{b}c; strides, padding,
                       dilation, out_dtype (no groups)
nn.depthwise_conv2d_   (data NCHW{b}c [N, C/b, H, W, b], weight [C/b, kh, kw, OUT_EWISE_FUSABLE
nchwc                  b]) → NCHW{b}c, one filter per channel; strides,
                       padding, dilation, out_dtype
nn.winograd_input      (data NCHW{b}c, B [a, a]) → V [a², P, C/b, b], a = m+2, OUT_EWISE_FUSABLE
                       P tiles; tile=m (2 or 4), padding (top, left, bottom,
                       right): the input transform B^T d B of F(m x m, 3 x 3)
nn.winograd_output     (M [a², P, K/b, b], A [a, m]) → NCHW{b}c; tile,      OUT_EWISE_FUSABLE
                       batch, out_size=(OH, OW): the output transform A^T M A
nn.conv2d_transpose    (data NCHW, weight IOHW [C_in, C_out/groups, kh, kw]);  OUT_EWISE_FUSABLE
                       strides=(1,1), padding=(0,0,0,0), output_padding=(0,0),
                       dilation=(1,1), groups=1, out_dtype=None
nn.conv1d_transpose    the same for NCW / NCDHW data (padding: all begins,    OUT_EWISE_FUSABLE
nn.conv3d_transpose    then all ends)
nn.max_pool2d          (data NCHW); pool_size, strides=(1,1), padding=        OUT_EWISE_FUSABLE
                       (0,0,0,0), dilation=(1,1), ceil_mode=False
nn.avg_pool2d          (data NCHW); pool_size, strides, padding, dilation,    OUT_EWISE_FUSABLE
                       ceil_mode=False, count_include_pad=False
nn.max_pool1d/3d       the same for NCW / NCDHW data                          OUT_EWISE_FUSABLE
nn.avg_pool1d/3d
nn.max_pool{1,2,3}d    the max pool's attributes, storage_order=0 →           OPAQUE
_with_indices          (values, indices int64): ONNX MaxPool's Indices (flat
                       offset of the window's first max in the whole input;
                       spatial part row-major, or column-major for
                       storage_order=1)
nn.global_avg_pool2d   (data NC...) → (N, C, 1, ...) (any rank >= 3)         OUT_EWISE_FUSABLE
nn.global_max_pool2d   (data NC...) → (N, C, 1, ...) (any rank >= 3)         OUT_EWISE_FUSABLE
matmul                 (a, b) numpy matmul: batch broadcasting, 1-D operands  OUT_EWISE_FUSABLE
                       (prepended / appended 1 dropped); out_dtype=None
nn.dense               (data [.., K], weight [N, K]) → data @ weight.T        OUT_EWISE_FUSABLE
nn.batch_norm          (data, gamma, beta, mean, var); axis=1, epsilon=1e-5   BROADCAST
                       (inference: (x - mean) / sqrt(var + eps) * g + b)
nn.layer_norm          (data, gamma, beta); axes=(-1,), epsilon=1e-5,         OPAQUE
                       return_stats=False (gamma/beta broadcast to the
                       normalized dims; None omits one). return_stats=True →
                       (y, mean, inv_std_dev), stats float32 with the
                       normalized dims kept as 1 (num_outputs None)
nn.instance_norm       (data N C ..., gamma [C], beta [C]); epsilon=1e-5      OPAQUE
nn.lrn                 (data NC...); size, alpha=1e-4, beta=0.75, bias=1.0    OPAQUE
                       (ONNX LRN: alpha / size scaling, channel window)
nn.softmax             (x); axis=-1                                           OPAQUE
nn.log_softmax         (x); axis=-1                                           OPAQUE
reshape                (x); newshape (tuple of ints, fully static, product    INJECTIVE
                       equal to the input's)
transpose              (x); axes=None (None = reverse)                        INJECTIVE
layout_transform       (x); src_layout, dst_layout: "NCHW" <-> "NCHW{b}c"     INJECTIVE
                       (channel blocks of b innermost)
concat                 (*inputs); axis=0                                      INJECTIVE
split                  (x); indices_or_sections (int = equal sections, or     INJECTIVE
                       tuple of split indices), axis=0 → tuple of tensors
strided_slice          (x); begin, end, strides=None, axes=None (ONNX Slice:  INJECTIVE
                       clamping, negative indices and negative steps)
take                   (data, indices); axis=0 (ONNX Gather; negative         INJECTIVE
                       indices wrap)
gather_elements        (data, indices); axis=0 (negative indices wrap)        INJECTIVE
broadcast_to           (x); shape                                             BROADCAST
tile                   (x); reps                                              INJECTIVE
nn.pad                 (x); pad_width ((before, after) per dim),              INJECTIVE
                       pad_value=0.0, mode="constant" | "edge" | "reflect"
                       | "wrap" (negative widths crop)
image.resize2d         (data NCHW); size=(out_h, out_w), method="nearest" |   INJECTIVE
                       "linear" | "cubic", coordinate_transformation_mode=
                       "half_pixel" | "align_corners" | "asymmetric" |
                       "pytorch_half_pixel" | "tf_half_pixel_for_nn" |
                       "half_pixel_symmetric" | "tf_crop_and_resize" (with
                       roi=((h0, h1), (w0, w1)), extrapolation_value=0.0),
                       nearest_mode="round_prefer_floor" | "round_prefer_ceil"
                       | "floor" | "ceil", cubic_coeff_a=-0.75,
                       exclude_outside=False, scales=None (ONNX's (h, w)
                       scale factors for the coordinate transform; default
                       out / in), antialias=False (linear / cubic: kernel
                       stretched by 1 / scale when downsampling, one
                       reduction per axis). Resizes the last two dims of
                       any rank >= 2.
sum mean max min prod  (x); axis=None (int, tuple, or None = all),            COMM_REDUCE
                       keepdims=False (an empty reduced axis gives the
                       identity: 0, 1, -inf, +inf; mean gives NaN)
argmax argmin          (x); axis=0, keepdims=True, select_last_index=False    COMM_REDUCE
                       → int64
topk                   (x); k, axis=-1, largest=True, sorted=True →           OPAQUE
                       (values, indices int64)
einsum                 (*inputs); subscripts (str, e.g. "bij,bjk->bik")       OUT_EWISE_FUSABLE
cumsum                 (x); axis=0, exclusive=False, reverse=False            OPAQUE
=====================  =====================================================  ==========
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from onnxtune.tir import te


class OpPattern(IntEnum):
    """How an op can be fused (TVM's ``OpPatternKind``); smaller fuses more freely."""

    ELEMWISE = 0
    BROADCAST = 1
    INJECTIVE = 2
    COMM_REDUCE = 3
    OUT_EWISE_FUSABLE = 4
    TUPLE = 7
    OPAQUE = 8


@dataclass(frozen=True)
class OpDef:
    """One operator: ``compute(*inputs, **attrs)`` builds its TE and returns the output(s)."""

    name: str
    compute: Callable[..., te.Tensor | tuple[te.Tensor, ...]]
    pattern: OpPattern
    num_outputs: int | None = 1


_REGISTRY: dict[str, OpDef] = {}


def register_op(
    name: str, pattern: OpPattern, num_outputs: int | None = 1
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn`` as the compute of op ``name``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        _REGISTRY[name] = OpDef(name, fn, pattern, num_outputs)
        return fn

    return deco


def get_op(name: str) -> OpDef:
    """The operator ``name``; KeyError listing the known ops if there is none."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown op {name!r}; known ops: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_ops() -> list[str]:
    """Names of all registered ops, sorted."""
    _load()
    return sorted(_REGISTRY)


_LOADED = False


def _load() -> None:
    """Import the modules that register ops (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for mod in _MODULES:
        importlib.import_module(f"{__name__}.{mod}")


_MODULES = ("elemwise", "broadcast", "nn", "pool", "reduce", "transform", "image", "misc", "cast",
            "winograd")

__all__ = ["OpDef", "OpPattern", "get_op", "list_ops", "register_op"]

"""The graph pass pipeline, in order, from an imported module to fused PrimFunc calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..ir import IRModule
from .dce import dead_code_elimination
from .fold_batchnorm import fold_batchnorm
from .fold_constant import fold_constant
from .fuse_ops import fuse_ops
from .fuse_tir import fuse_tir
from .legalize import legalize
from .nchwc_layout import nchwc_layout
from .pointwise_conv import pointwise_conv_as_matmul
from .verify import verify, verify_enabled
from .winograd import winograd_conv

#: what :func:`graph_options` set for the current context (it overrides the environment)
_OPTIONS: ContextVar[dict[str, bool]] = ContextVar("graph_options", default={})  # noqa: B039

#: the options a work_dir tuned before they were written down was tuned with (no
#: blocked layout yet); an option a work_dir's record lacks takes its value here (a
#: work_dir recorded before ``nchwc_every_chain`` existed blocked only chains at least
#: half 1x1; one from before ``winograd`` ran every convolution directly)
LEGACY_OPTIONS = {"nchwc": False, "pointwise_as_matmul": True, "nchwc_every_chain": False,
                  "winograd": False}


def recorded_graph_options(config: dict) -> dict[str, bool]:
    """The graph options a work_dir's ``onnxtune_config.json`` (``config``, parsed) says
    it was tuned with: its ``"graph"`` entry, over :data:`LEGACY_OPTIONS` (a work_dir
    written before the options were recorded)."""
    return {**LEGACY_OPTIONS, **config.get("graph", {})}


def current_graph_options() -> dict[str, bool]:
    """The graph options :func:`optimize` uses when not given any: those set by
    :func:`graph_options`, else the environment's (``ONNXTUNE_NCHWC``,
    ``ONNXTUNE_POINTWISE_MATMUL``, ``ONNXTUNE_NCHWC_EVERY_CHAIN``, ``ONNXTUNE_WINOGRAD``),
    else the defaults (all on)."""
    env = os.environ
    out = {"nchwc": env.get("ONNXTUNE_NCHWC", "1") != "0",
           "pointwise_as_matmul": env.get("ONNXTUNE_POINTWISE_MATMUL", "1") != "0",
           "nchwc_every_chain": env.get("ONNXTUNE_NCHWC_EVERY_CHAIN", "1") != "0",
           "winograd": env.get("ONNXTUNE_WINOGRAD", "1") != "0"}
    out.update(_OPTIONS.get())
    return out


@contextmanager
def graph_options(**options: Any) -> Iterator[None]:
    """Run :func:`optimize` with these options (``nchwc``, ``pointwise_as_matmul``,
    ``nchwc_every_chain``, ``winograd``) in this context: tuning and compiling a model
    from a work_dir use the options it was tuned with, whatever the environment says.
    Unknown names raise ValueError."""
    unknown = set(options) - set(LEGACY_OPTIONS)
    if unknown:
        raise ValueError(f"graph_options: unknown option(s) {sorted(unknown)}; expected "
                         f"{sorted(LEGACY_OPTIONS)}")
    token = _OPTIONS.set({**_OPTIONS.get(), **{k: bool(v) for k, v in options.items()}})
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def optimize(mod: IRModule, fuse: bool = True,
             pointwise_as_matmul: bool | None = None,
             nchwc: bool | None = None,
             nchwc_every_chain: bool | None = None,
             winograd: bool | None = None) -> IRModule:
    """Run the graph passes: the result's ``main`` calls only PrimFuncs (call_tir).

    ``pointwise_as_matmul``: rewrite 1x1 convolutions as matmuls over the flattened pixels
    (see :mod:`.pointwise_conv`). ``nchwc``: run dense convolutions and their epilogues in
    the channel-blocked layout NCHW16c (see :mod:`.nchwc_layout`; before the matmul
    rewrite, which then sees only the convolutions left in NCHW); ``nchwc_every_chain``:
    every chain of blockable convolutions, else only those at least half 1x1
    (:data:`.nchwc_layout.MIN_POINTWISE`); ``winograd``: blocked unit-stride 3x3
    convolutions as Winograd F(m x m, 3 x 3) where :func:`.winograd.winograd_tile` gives
    them a tile (see :mod:`.winograd`). None takes :func:`current_graph_options`
    (``ONNXTUNE_POINTWISE_MATMUL=0`` / ``ONNXTUNE_NCHWC=0`` /
    ``ONNXTUNE_NCHWC_EVERY_CHAIN=0`` / ``ONNXTUNE_WINOGRAD=0`` turn them off; all on by
    default). With
    ``ONNXTUNE_VERIFY=1`` the module is verified after every pass.
    """
    options = current_graph_options()
    if pointwise_as_matmul is None:
        pointwise_as_matmul = options["pointwise_as_matmul"]
    if nchwc is None:
        nchwc = options["nchwc"]
    if nchwc_every_chain is None:
        nchwc_every_chain = options["nchwc_every_chain"]
    if winograd is None:
        winograd = options["winograd"]

    def nchwc_layout_pass(m: IRModule) -> IRModule:
        return nchwc_layout(m, min_pointwise=0.0 if nchwc_every_chain else None)

    passes = [
        fold_constant,  # evaluate ops whose inputs are all constants
        fold_batchnorm,  # BatchNorm → conv2d weights (+ bias add), else scale-shift
        fold_constant,  # the scale-shift constants may fold further
        *([nchwc_layout_pass] if nchwc else []),  # dense conv → NCHW16c conv + epilogue
        *([winograd_conv] if nchwc and winograd else []),  # blocked 3x3 conv → Winograd
        *([pointwise_conv_as_matmul] if pointwise_as_matmul else []),  # 1x1 conv → matmul
        dead_code_elimination,  # drop values no output needs
        legalize,  # op calls → call_tir of TE-built PrimFuncs
    ]
    if fuse:
        passes += [
            fuse_ops,  # group calls by operator pattern
            fuse_tir,  # one PrimFunc per group
        ]
    passes.append(dead_code_elimination)
    check = verify_enabled()
    for p in passes:
        mod = p(mod)
        if check:
            verify(mod, p.__name__)
    return mod

"""The graph pass pipeline, in order, from an imported module to fused PrimFunc calls."""

from __future__ import annotations

from ..ir import IRModule
from .dce import dead_code_elimination
from .fold_batchnorm import fold_batchnorm
from .fold_constant import fold_constant
from .fuse_ops import fuse_ops
from .fuse_tir import fuse_tir
from .legalize import legalize


def optimize(mod: IRModule, fuse: bool = True) -> IRModule:
    """Run the graph passes: the result's ``main`` calls only PrimFuncs (call_tir)."""
    mod = fold_constant(mod)  # evaluate ops whose inputs are all constants
    mod = fold_batchnorm(mod)  # BatchNorm → conv2d weights (+ bias add), else scale-shift
    mod = fold_constant(mod)  # the scale-shift constants may fold further
    mod = dead_code_elimination(mod)  # drop values no output needs
    mod = legalize(mod)  # op calls → call_tir of TE-built PrimFuncs
    if fuse:
        mod = fuse_ops(mod)  # group calls by operator pattern
        mod = fuse_tir(mod)  # one PrimFunc per group
    return dead_code_elimination(mod)

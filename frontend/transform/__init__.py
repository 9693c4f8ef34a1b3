"""Graph passes: constant folding, BatchNorm folding, DCE, legalization, FuseOps, FuseTIR."""

from __future__ import annotations

from .dce import dead_code_elimination
from .fold_batchnorm import fold_batchnorm
from .fold_constant import fold_constant
from .fuse_ops import fuse_ops
from .fuse_tir import fuse_tir, merge_group
from .legalize import legalize, op_prim_func
from .pipeline import current_graph_options, graph_options, optimize
from .verify import GraphVerifyError, verify

__all__ = [
    "GraphVerifyError",
    "current_graph_options",
    "dead_code_elimination",
    "fold_batchnorm",
    "fold_constant",
    "fuse_ops",
    "fuse_tir",
    "graph_options",
    "legalize",
    "merge_group",
    "op_prim_func",
    "optimize",
    "verify",
]

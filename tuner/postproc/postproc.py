"""Postproc: rewrites a sampled schedule into its final form, or rejects it."""

from __future__ import annotations

from typing import Any


class Postproc:
    """The abstract postprocessor: ``apply(sch) -> bool`` (False rejects the candidate)."""

    def _initialize_with_tune_context(self, context: Any) -> None:
        """Hook called once with the task's TuneContext."""

    def apply(self, sch: Any) -> bool:
        raise NotImplementedError

    def clone(self) -> Postproc:
        import copy

        return copy.deepcopy(self)

    @staticmethod
    def create(kind: str = "llvm") -> list[Postproc]:
        """The default postprocessors of a target kind."""
        if kind == "llvm":
            from .disallow_dynamic_loop import DisallowDynamicLoop
            from .rewrite_layout import RewriteLayout
            from .rewrite_parallel_vectorize_unroll import RewriteParallelVectorizeUnroll
            from .rewrite_reduction_block import RewriteReductionBlock

            return [
                DisallowDynamicLoop(),
                RewriteParallelVectorizeUnroll(),
                RewriteReductionBlock(),
                RewriteLayout(),
            ]
        if kind in ("cuda", "cuda-tensorcore", "hexagon"):
            raise NotImplementedError(f"postprocessors for {kind!r} are not built yet "
                                      "(CPU 'llvm' only)")
        raise ValueError(f"unknown Postproc kind {kind!r}; expected one of "
                         "['llvm', 'cuda', 'cuda-tensorcore', 'hexagon']")


PyPostproc = Postproc

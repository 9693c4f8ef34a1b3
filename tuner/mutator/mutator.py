"""Mutator: proposes a changed trace (new sampling decisions) during evolutionary search."""

from __future__ import annotations

from typing import Any


class Mutator:
    """The abstract mutator: ``apply(trace, rand_state) -> Trace | None`` (None = no change)."""

    def _initialize_with_tune_context(self, context: Any) -> None:
        """Hook called once with the task's TuneContext (target, etc.)."""

    def apply(self, trace: Any, rand_state: Any = None) -> Any:
        raise NotImplementedError

    def clone(self) -> Mutator:
        import copy

        return copy.deepcopy(self)

    @staticmethod
    def create(kind: str = "llvm") -> dict[Mutator, float]:
        """The default mutators of a target kind with their probabilities."""
        if kind == "llvm":
            from .mutate_compute_location import MutateComputeLocation
            from .mutate_parallel import MutateParallel
            from .mutate_tile_size import MutateTileSize
            from .mutate_unroll import MutateUnroll

            return {
                MutateTileSize(): 0.9,
                MutateComputeLocation(): 0.05,
                MutateUnroll(): 0.03,
                MutateParallel(max_jobs_per_core=16): 0.02,
            }
        if kind in ("cuda", "cuda-tensorcore", "hexagon"):
            raise NotImplementedError(f"mutators for {kind!r} are not built yet (CPU 'llvm' only)")
        raise ValueError(f"unknown Mutator kind {kind!r}; expected one of "
                         "['llvm', 'cuda', 'cuda-tensorcore', 'hexagon']")


PyMutator = Mutator

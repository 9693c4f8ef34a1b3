"""SpaceGeneratorUnion: the design spaces of several generators, concatenated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .space_generator import SpaceGenerator


class SpaceGeneratorUnion(SpaceGenerator):
    """TVM's SpaceGeneratorUnion: each generator's spaces in order."""

    def __init__(self, space_generators: Sequence[SpaceGenerator],
                 sch_rules: Any = "from-target", postprocs: Any = "from-target",
                 mutator_probs: Any = "from-target"):
        gens = list(space_generators)
        for k, g in enumerate(gens):
            if not isinstance(g, SpaceGenerator):
                raise TypeError(f"SpaceGeneratorUnion: item {k} is {type(g).__name__}, not a "
                                "SpaceGenerator")
        self.space_generators = gens
        self.sch_rules = sch_rules
        self.postprocs = postprocs
        self.mutator_probs = mutator_probs

    def _initialize_with_tune_context(self, context: Any) -> None:
        for g in self.space_generators:
            g._initialize_with_tune_context(context)
        super()._initialize_with_tune_context(context)

    def generate_design_space(self, mod: Any) -> list[Any]:
        return [s for g in self.space_generators for s in g.generate_design_space(mod)]

"""TuneContext: everything one tuning task needs (module, target, space, strategy, rng)."""

from __future__ import annotations

import logging
import random
from typing import Any

from .utils import cpu_count


class TuneContext:
    """A tuning task: the workload ``mod`` for ``target``, with its space generator and
    search strategy initialized against this context (TVM's TuneContext)."""

    def __init__(self, mod: Any = None, *, target: Any = None, space_generator: Any = None,
                 search_strategy: Any = None, task_name: str = "main", rand_state: int = -1,
                 num_threads: int | str = "physical", logger: logging.Logger | None = None):
        from onnxtune.compile.target import Target

        from .database.database import as_module
        from .search_strategy import SearchStrategy
        from .space_generator import SpaceGenerator

        self.mod = None if mod is None else as_module(mod)
        self.target = None if target is None else Target(target)
        self.task_name = task_name
        if rand_state == -1:
            rand_state = random.randint(1, 2**31 - 1)
        if not 0 <= rand_state < 2**31:
            raise ValueError(f"rand_state must be -1 or in [0, 2^31), got {rand_state}")
        self.rand_state = rand_state
        self.num_threads = cpu_count(num_threads)
        self.logger = logger or logging.getLogger(f"onnxtune.tuner.task.{task_name}")
        if space_generator is not None and not isinstance(space_generator, SpaceGenerator):
            space_generator = SpaceGenerator.create(space_generator)
        if search_strategy is not None and not isinstance(search_strategy, SearchStrategy):
            search_strategy = SearchStrategy.create(search_strategy)
        self.space_generator = space_generator
        self.search_strategy = search_strategy
        if space_generator is not None:
            space_generator._initialize_with_tune_context(self)
        if search_strategy is not None:
            search_strategy._initialize_with_tune_context(self)

    def generate_design_space(self) -> list[Any]:
        if self.mod is None or self.space_generator is None:
            raise ValueError("generate_design_space needs a TuneContext with mod and "
                             "space_generator")
        return self.space_generator.generate_design_space(self.mod)

    def pre_tuning(self, max_trials: int, num_trials_per_iter: int = 64,
                   design_spaces: list[Any] | None = None, database: Any = None,
                   cost_model: Any = None) -> None:
        if self.search_strategy is None:
            raise ValueError("pre_tuning needs a TuneContext with a search_strategy")
        if design_spaces is None:
            design_spaces = self.generate_design_space()
        if database is None:
            from .database import MemoryDatabase

            database = MemoryDatabase()
        if cost_model is None:
            from .cost_model.random_model import RandomModel

            cost_model = RandomModel()
        self.search_strategy.pre_tuning(max_trials, num_trials_per_iter, design_spaces,
                                        database, cost_model)

    def post_tuning(self) -> None:
        self.search_strategy.post_tuning()

    def generate_measure_candidates(self) -> list[Any] | None:
        return self.search_strategy.generate_measure_candidates()

    def notify_runner_results(self, measure_candidates: list[Any], results: list[Any]) -> None:
        self.search_strategy.notify_runner_results(measure_candidates, results)

    def clone(self) -> TuneContext:
        return TuneContext(
            self.mod, target=self.target,
            space_generator=None if self.space_generator is None else self.space_generator.clone(),
            search_strategy=None if self.search_strategy is None else self.search_strategy.clone(),
            task_name=self.task_name, rand_state=self.rand_state, num_threads=self.num_threads,
            logger=self.logger,
        )

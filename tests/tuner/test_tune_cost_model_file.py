"""tune_tasks keeps the cost model in work_dir: saved after tuning, loaded on resume."""

from __future__ import annotations

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tuning_standins import FnSpace, InProcessBuilder, InProcessRunner  # noqa: E402

from onnxtune.tir import testing  # noqa: E402
from onnxtune.tuner import tune_tir  # noqa: E402
from onnxtune.tuner.search_strategy.evolutionary_search import EvolutionarySearch  # noqa: E402


def _tune(work_dir: str, trials: int, kind: str):
    func, _ = testing.matmul(16, 16, 16)
    return tune_tir(func, "llvm", work_dir, trials, num_trials_per_iter=2,
                    builder=InProcessBuilder(), runner=InProcessRunner(), cost_model=kind,
                    space=FnSpace(), seed=0, task_scheduler="round-robin",
                    strategy=EvolutionarySearch(population_size=8, init_min_unmeasured=2,
                                                genetic_num_iters=1))


def test_cost_model_is_saved_and_reloaded(tmp_path, caplog):
    for kind, name in (("random", "cost_model_random.json"), ("mlp", "cost_model_mlp.npz")):
        work = str(tmp_path / kind)
        _tune(work, 2, kind)
        path = os.path.join(work, name)
        assert os.path.isfile(path)
        with caplog.at_level(logging.INFO, logger="onnxtune.tuner"):
            _tune(work, 4, kind)
        assert f"cost model loaded from {path}" in caplog.text


def test_a_damaged_model_file_only_costs_the_warm_up(tmp_path, caplog):
    work = str(tmp_path / "work")
    os.makedirs(work)
    with open(os.path.join(work, "cost_model_random.json"), "w") as f:
        f.write("{not json")
    with caplog.at_level(logging.WARNING, logger="onnxtune.tuner"):
        db = _tune(work, 2, "random")
    assert "cannot load the cost model" in caplog.text
    assert len(db) == 2


def test_a_budget_already_spent_tunes_nothing_more(tmp_path):
    work = str(tmp_path / "work")
    _tune(work, 4, "random")
    db = _tune(work, 2, "random")  # resumed with a smaller budget than what is recorded
    assert len(db) == 4

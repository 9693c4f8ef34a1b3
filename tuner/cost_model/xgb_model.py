"""XGBModel: gradient-boosted trees over per-store features (MetaSchedule's default)."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np

from .learned_model import LearnedModel, segment_sum
from .metric import average_peak_score, rmse

log = logging.getLogger(__name__)


class XGBConfig(NamedTuple):
    """XGBoost parameters (TVM's defaults)."""

    max_depth: int = 10
    gamma: float = 0.001
    min_child_weight: float = 0
    eta: float = 0.2
    seed: int = 43
    nthread: int | None = None
    tree_method: str = "auto"
    #: upper bound on boosting rounds (early stopping normally ends sooner)
    max_rounds: int = 10000

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"max_depth": self.max_depth, "gamma": self.gamma,
                             "min_child_weight": self.min_child_weight, "eta": self.eta,
                             "seed": self.seed, "tree_method": self.tree_method,
                             "base_score": 0.0, "disable_default_eval_metric": 1,
                             "verbosity": 0}
        # None: one thread. The data is a few thousand rows, where threads only add
        # synchronization (5x slower on a busy 2-core machine) and the builders and
        # runner want the cores anyway
        p["nthread"] = 1 if self.nthread is None else self.nthread
        return p


def _objective(counts: np.ndarray, y: np.ndarray):
    """MetaSchedule's loss: squared error of the per-candidate sum of per-store
    predictions, weighted by the candidate's target (fast candidates matter most)."""
    rows_y = np.repeat(y, counts)

    def obj(pred: np.ndarray, _dtrain: Any) -> tuple[np.ndarray, np.ndarray]:
        sums = np.repeat(segment_sum(pred, counts), counts)
        grad = (sums - rows_y) * rows_y
        hess = rows_y.copy()
        return grad, hess

    return obj


class XGBModel(LearnedModel):
    """XGBoost cost model.

    ``num_warmup_samples`` measured candidates are collected before the first training
    (until then predictions are random); training holds out 20% of the candidates to
    stop after ``early_stopping_rounds`` rounds without improvement of the validation
    p-rmse, then refits on everything with the best round count. ``average_peak_n`` is
    the n of the a-peak@n metric logged every ``verbose_eval`` rounds (0: silent).
    With ``adaptive_training`` the model retrains only when the data grew by 20%.
    """

    kind = "xgb"

    def __init__(self, *, extractor: Any = "per-store-feature", config: XGBConfig | None = None,
                 num_warmup_samples: int = 100, early_stopping_rounds: int = 50,
                 verbose_eval: int = 25, average_peak_n: int = 32,
                 adaptive_training: bool = True, num_tuning_cores: int | None = None,
                 tree_method: str | None = None, seed: int | None = None):
        from onnxtune.compile import runtime

        # xgboost loads libgomp, which reads its wait policy only then: set onnxtune's
        runtime.prepare_env()
        import xgboost  # noqa: F401  (fail early with the import error)

        super().__init__(extractor, num_warmup_samples, adaptive_training, seed)
        config = config or XGBConfig()
        if num_tuning_cores is not None and config.nthread is None:
            config = config._replace(nthread=num_tuning_cores)
        if tree_method is not None:
            config = config._replace(tree_method=tree_method)
        if early_stopping_rounds < 1:
            raise ValueError(f"early_stopping_rounds must be >= 1, got {early_stopping_rounds}")
        if average_peak_n < 1:
            raise ValueError(f"average_peak_n must be >= 1, got {average_peak_n}")
        self.config = config
        self.early_stopping_rounds = int(early_stopping_rounds)
        self.verbose_eval = int(verbose_eval)
        self.average_peak_n = int(average_peak_n)
        self.booster: Any = None
        self._n_features = 0
        self.best_rounds = 0

    # -- training ------------------------------------------------------------------------
    def _train_booster(self, x: np.ndarray, counts: np.ndarray, y: np.ndarray,
                       rounds: int, val: tuple | None) -> tuple[Any, int]:
        import xgboost as xgb

        dtrain = xgb.DMatrix(x)
        obj = _objective(counts, y)
        bst = xgb.Booster(self.config.params(), [dtrain])
        dval = xgb.DMatrix(val[0]) if val is not None else None
        best, best_round, since = np.inf, 0, 0
        for it in range(rounds):
            bst.update(dtrain, it, fobj=obj)
            if dval is None:
                continue
            pred = segment_sum(bst.predict(dval, output_margin=True), val[1])
            score = rmse(pred, val[2], weight=val[2])
            if self.verbose_eval and it % self.verbose_eval == 0:
                log.debug("xgb round %d: val p-rmse %.4f a-peak@%d %.4f", it, score,
                         self.average_peak_n,
                         average_peak_score(pred, val[2], self.average_peak_n))
            if score < best - 1e-12:
                best, best_round, since = score, it + 1, 0
            else:
                since += 1
                if since >= self.early_stopping_rounds:
                    break
        return bst, best_round

    def _fit(self, x: np.ndarray, counts: np.ndarray, y: np.ndarray) -> None:
        self._n_features = x.shape[1]
        tr, va = self._split(len(counts))
        offs = np.concatenate([[0], np.cumsum(counts)])
        if len(va):
            def rows(idx: np.ndarray) -> np.ndarray:
                return np.concatenate([x[offs[i]:offs[i + 1]] for i in idx])

            _, rounds = self._train_booster(rows(tr), counts[tr], y[tr],
                                            self.config.max_rounds,
                                            (rows(va), counts[va], y[va]))
            rounds = max(rounds, 1)
        else:
            rounds = min(self.config.max_rounds, 100)
        self.booster, _ = self._train_booster(x, counts, y, rounds, None)
        self.best_rounds = rounds
        pred = segment_sum(self._predict_rows(x), counts)
        log.info("xgb trained on %d candidates (%d rows), %d rounds: p-rmse %.4f, a-peak@%d "
                 "%.4f", len(counts), len(x), rounds, rmse(pred, y, weight=y),
                 self.average_peak_n, average_peak_score(pred, y, self.average_peak_n))

    def _predict_rows(self, x: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        return self.booster.predict(xgb.DMatrix(x), output_margin=True)

    # -- files ---------------------------------------------------------------------------
    def _config(self) -> dict:
        return {"xgb": self.config._asdict(), "n_features": self._n_features,
                "best_rounds": self.best_rounds}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        raw = self.booster.save_raw(raw_format="json")
        return {"xgb_model_json": np.frombuffer(bytes(raw), dtype=np.uint8)}

    def _load_state(self, arrays: dict[str, np.ndarray], config: dict) -> None:
        import xgboost as xgb

        bst = xgb.Booster()
        bst.load_model(bytearray(arrays["xgb_model_json"].tobytes()))
        self.booster = bst
        self._n_features = int(config["n_features"])
        self.best_rounds = int(config["best_rounds"])

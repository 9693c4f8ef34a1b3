"""Shared machinery of the learned cost models (XGB, MLP): the measured data grouped per
workload, normalized-throughput targets, warm-up, adaptive retraining, and .npz files."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np

from .cost_model import CostModel

log = logging.getLogger(__name__)

#: version written into saved files; bumped when the layout changes
FILE_VERSION = 1


def candidate_cost(result: Any) -> float:
    """Mean seconds of a RunnerResult; +inf for a failed run."""
    secs = getattr(result, "run_secs", None)
    if getattr(result, "error_msg", None) or not secs:
        return math.inf
    vals = [float(s) for s in secs]
    if not all(math.isfinite(v) and v > 0 for v in vals):
        return math.inf
    return sum(vals) / len(vals)


def workload_key(context: Any) -> str:
    """The group a candidate's target is normalized in: the structural hash of the task's
    workload (``context.mod``), or "default" without one."""
    mod = getattr(context, "mod", None)
    if mod is None:
        return "default"
    from onnxtune.tir.structural_hash import structural_hash

    return f"{structural_hash(mod):016x}"


def segment_sum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sum ``values`` (one per feature row) over consecutive segments of ``counts`` rows."""
    ids = np.repeat(np.arange(len(counts)), counts)
    return np.bincount(ids, weights=values, minlength=len(counts))


class TrainingData:
    """Every measured candidate: its feature rows, measured cost and workload group.

    The target of a candidate is its group's best (lowest) cost divided by its cost, so
    the best candidate of each workload scores 1.0 and failures score 0.0.
    """

    def __init__(self) -> None:
        self.features: list[np.ndarray] = []
        self.costs: list[float] = []
        self.groups: list[int] = []
        self.group_keys: list[str] = []

    def __len__(self) -> int:
        return len(self.costs)

    def add(self, key: str, features: list[np.ndarray], costs: list[float]) -> None:
        if len(features) != len(costs):
            raise ValueError(f"{len(features)} feature arrays for {len(costs)} results")
        if key not in self.group_keys:
            self.group_keys.append(key)
        g = self.group_keys.index(key)
        for f, c in zip(features, costs, strict=True):
            self.features.append(np.asarray(f, dtype=np.float32))
            self.costs.append(float(c))
            self.groups.append(g)

    def targets(self) -> np.ndarray:
        costs = np.array(self.costs, dtype=np.float64)
        groups = np.array(self.groups, dtype=np.int64)
        y = np.zeros(len(costs))
        for g in np.unique(groups):
            sel = groups == g
            c = costs[sel]
            ok = np.isfinite(c)
            if ok.any():
                best = c[ok].min()
                y[sel] = np.where(ok, best / np.where(ok, c, 1.0), 0.0)
        return y

    def packed(self, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows of the selected candidates stacked, rows per candidate, targets)."""
        y = self.targets()
        if idx is None:
            idx = np.arange(len(self))
        feats = [self.features[i] for i in idx]
        counts = np.array([len(f) for f in feats], dtype=np.int64)
        width = feats[0].shape[1] if feats else 0
        x = np.concatenate(feats) if feats else np.zeros((0, width), np.float32)
        return x, counts, y[idx]

    def to_arrays(self) -> dict[str, np.ndarray]:
        x, counts, _ = self.packed()
        return {"data_x": x, "data_counts": counts,
                "data_costs": np.array(self.costs, dtype=np.float64),
                "data_groups": np.array(self.groups, dtype=np.int64),
                "data_group_keys": np.array(self.group_keys, dtype=np.str_)}

    @classmethod
    def from_arrays(cls, arrays: Any) -> TrainingData:
        d = cls()
        x, counts = arrays["data_x"], arrays["data_counts"]
        offs = np.concatenate([[0], np.cumsum(counts)])
        d.features = [x[offs[i]:offs[i + 1]] for i in range(len(counts))]
        d.costs = [float(c) for c in arrays["data_costs"]]
        d.groups = [int(g) for g in arrays["data_groups"]]
        d.group_keys = [str(k) for k in arrays["data_group_keys"]]
        return d


class LearnedModel(CostModel):
    """A cost model that learns a per-store score whose sum over a candidate's stores is
    its predicted normalized throughput. Subclasses supply ``_fit``, ``_predict_rows``
    and the arrays of their trained state."""

    kind = "learned"

    def __init__(self, extractor: Any = "per-store-feature", num_warmup_samples: int = 100,
                 adaptive_training: bool = True, seed: int | None = None):
        from ..feature_extractor import FeatureExtractor

        if isinstance(extractor, str):
            extractor = FeatureExtractor.create(extractor)
        if not hasattr(extractor, "extract_from"):
            raise TypeError(f"{type(self).__name__}: extractor must be a FeatureExtractor or "
                            f"its kind name, got {type(extractor).__name__}")
        if num_warmup_samples < 0:
            raise ValueError(f"num_warmup_samples must be >= 0, got {num_warmup_samples}")
        self.extractor = extractor
        self.num_warmup_samples = int(num_warmup_samples)
        self.adaptive_training = bool(adaptive_training)
        self.data = TrainingData()
        self.last_train_size = 0
        self.trained = False
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    # -- CostModel ----------------------------------------------------------------------
    def update(self, context: Any, candidates: list[Any], results: list[Any]) -> None:
        """Add the measured candidates; retrain when past warm-up and (with adaptive
        training) when the data grew by at least 20% since the last training."""
        if len(candidates) != len(results):
            raise ValueError(f"update: {len(candidates)} candidates but {len(results)} results")
        if not candidates:
            return
        feats = self._extract(context, candidates)
        keep = [i for i, f in enumerate(feats) if f is not None]
        self.data.add(workload_key(context), [feats[i] for i in keep],
                      [candidate_cost(results[i]) for i in keep])
        n = len(self.data)
        if n < max(1, self.num_warmup_samples):
            return
        if self.adaptive_training and self.trained and n < self.last_train_size * 1.2:
            return
        self.train()

    def train(self) -> None:
        """Fit on every candidate collected so far."""
        x, counts, y = self.data.packed()
        if not (y > 0).any():
            log.warning("%s: no successful measurement yet; not training", type(self).__name__)
            return
        self._fit(x, counts, y)
        self.last_train_size = len(self.data)
        self.trained = True

    def predict(self, context: Any, candidates: list[Any]) -> np.ndarray:
        """Predicted normalized throughput per candidate (random during warm-up)."""
        if not candidates:
            return np.zeros(0)
        if not self.trained:
            return self.rng.uniform(0.0, 1.0, size=len(candidates))
        feats = self._extract(context, candidates)
        ok = [i for i, f in enumerate(feats) if f is not None]
        out = np.zeros(len(candidates))
        if ok:
            out[ok] = self.predict_features([feats[i] for i in ok])
        return out

    def _extract(self, context: Any, candidates: list[Any]) -> list[np.ndarray | None]:
        """Features per candidate; None (logged) for a candidate the extractor rejects, so
        one odd program cannot stop a tuning run (it scores 0 and is not learned from)."""
        try:
            return list(self.extractor.extract_from(context, candidates))
        except Exception:  # find the culprits one by one
            out: list[np.ndarray | None] = []
            for c in candidates:
                try:
                    out.append(self.extractor.extract_from(context, [c])[0])
                except Exception as e:
                    log.warning("%s: no features for a candidate (%s: %s); scored 0",
                                type(self).__name__, type(e).__name__, e)
                    out.append(None)
            return out

    def predict_features(self, feats: list[np.ndarray]) -> np.ndarray:
        """Scores of candidates given their feature arrays (the model must be trained)."""
        if not self.trained:
            raise RuntimeError(f"{type(self).__name__} is not trained yet")
        counts = np.array([len(f) for f in feats], dtype=np.int64)
        if counts.sum() == 0:
            return np.zeros(len(feats))
        x = np.concatenate([f for f in feats if len(f)]).astype(np.float32)
        if x.shape[1] != self.n_features:
            raise ValueError(f"{type(self).__name__}: features have {x.shape[1]} columns but "
                             f"the model was trained on {self.n_features}")
        return segment_sum(self._predict_rows(x), counts)

    @property
    def n_features(self) -> int:
        return int(self._n_features)

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the model and its training data to one .npz file (no pickle)."""
        meta = {"version": FILE_VERSION, "kind": self.kind, "trained": self.trained,
                "last_train_size": self.last_train_size, "config": self._config(),
                "rng": self.rng.bit_generator.state}
        arrays = self.data.to_arrays()
        if self.trained:
            arrays.update(self._state_arrays())
        arrays["meta"] = np.array(json.dumps(meta))
        with open(path, "wb") as f:  # a file object: numpy must not append ".npz"
            np.savez(f, **arrays)

    def load(self, path: str) -> None:
        """Read a file written by :meth:`save` of the same model kind."""
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if "meta" not in arrays:
            raise ValueError(f"{path}: not a cost model file (no 'meta' entry)")
        meta = json.loads(str(arrays["meta"]))
        if meta.get("kind") != self.kind:
            raise ValueError(f"{path}: holds a {meta.get('kind')!r} model, not {self.kind!r}")
        if meta.get("version") != FILE_VERSION:
            raise ValueError(f"{path}: file version {meta.get('version')}, expected "
                             f"{FILE_VERSION}")
        self.data = TrainingData.from_arrays(arrays)
        self.last_train_size = int(meta["last_train_size"])
        self.trained = bool(meta["trained"])
        self.rng.bit_generator.state = meta["rng"]
        if self.trained:
            self._load_state(arrays, meta["config"])

    # -- subclass hooks ------------------------------------------------------------------
    def _fit(self, x: np.ndarray, counts: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_rows(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _config(self) -> dict:
        return {}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_state(self, arrays: dict[str, np.ndarray], config: dict) -> None:
        raise NotImplementedError

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A random 80/20 train/validation split of ``n`` candidates (no validation set
        below 10 candidates)."""
        perm = self.rng.permutation(n)
        n_val = n // 5 if n >= 10 else 0
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

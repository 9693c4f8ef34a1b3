"""MLPModel: a small numpy multi-layer perceptron over per-store features, trained with
Adam; a candidate's score is the sum of its stores' outputs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .blas_threads import single_blas_thread
from .learned_model import LearnedModel, segment_sum

log = logging.getLogger(__name__)


class MLPModel(LearnedModel):
    """Per-store MLP (``hidden`` ReLU layers) summed per candidate.

    Targets are the same normalized throughputs as XGBModel; the loss is the squared
    error of the per-candidate sum weighted by ``target + weight_floor`` (fast candidates
    matter most, slow ones still count) plus ``rank_weight`` times a pairwise logistic
    ranking loss (the search only needs the order right). Inputs are standardized with the training
    rows' mean and deviation. Full-batch Adam for at most ``epochs`` steps, stopping
    after ``patience`` steps without a better validation error (20% held out); the
    best parameters are kept.
    """

    kind = "mlp"

    def __init__(self, *, extractor: Any = "per-store-feature", hidden: tuple[int, ...] = (64, 64),
                 learning_rate: float = 1e-2, epochs: int = 600, patience: int = 60,
                 weight_decay: float = 1e-4, weight_floor: float = 0.1, rank_weight: float = 1.0,
                 num_warmup_samples: int = 100, adaptive_training: bool = True,
                 seed: int | None = None):
        super().__init__(extractor, num_warmup_samples, adaptive_training, seed)
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be positive layer widths, got {hidden!r}")
        self.hidden = tuple(int(h) for h in hidden)
        self.learning_rate = float(learning_rate)
        self.epochs = int(epochs)
        self.patience = int(patience)
        self.weight_decay = float(weight_decay)
        self.weight_floor = float(weight_floor)
        self.rank_weight = float(rank_weight)
        self.params: list[np.ndarray] = []
        self.mean = np.zeros(0, np.float32)
        self.std = np.ones(0, np.float32)
        self._n_features = 0

    # -- the network ---------------------------------------------------------------------
    def _init_params(self, d: int) -> list[np.ndarray]:
        params = []
        sizes = (d, *self.hidden, 1)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            params.append(self.rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)))
            params.append(np.zeros(b))
        return params

    @staticmethod
    def _forward(params: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list]:
        acts = [x]
        h = x
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = np.maximum(h, 0.0)
            acts.append(h)
        return h[:, 0], acts

    @staticmethod
    def _backward(params: list[np.ndarray], acts: list, grad_out: np.ndarray) -> list:
        grads: list[np.ndarray] = [None] * len(params)  # type: ignore[list-item]
        g = grad_out[:, None]
        n_layers = len(params) // 2
        for i in range(n_layers - 1, -1, -1):
            grads[2 * i] = acts[i].T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i:
                g = (g @ params[2 * i].T) * (acts[i] > 0)
        return grads

    def _normalize(self, x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float64) - self.mean) / self.std

    def _objective(self, s: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss of candidate scores ``s`` and its gradient: weighted squared error plus
        ``rank_weight`` x the mean pairwise logistic loss over pairs where one candidate
        is truly faster (log(1 + exp(-(s_fast - s_slow))))."""
        err = s - y
        wsum = w.sum()
        loss = float((w * err * err).sum() / wsum)
        grad = 2.0 * w * err / wsum
        if self.rank_weight > 0 and len(s) > 1:
            diff = np.clip(s[:, None] - s[None, :], -30.0, 30.0)
            better = (y[:, None] > y[None, :]).astype(np.float64)
            npairs = max(1.0, better.sum())
            loss += self.rank_weight * float((better * np.log1p(np.exp(-diff))).sum() / npairs)
            gd = -better / (1.0 + np.exp(diff)) * (self.rank_weight / npairs)
            grad = grad + gd.sum(axis=1) - gd.sum(axis=0)
        return loss, grad

    def _loss_grad(self, params: list, x: np.ndarray, counts: np.ndarray, y: np.ndarray,
                   w: np.ndarray) -> tuple[float, list]:
        out, acts = self._forward(params, x)
        loss, g = self._objective(segment_sum(out, counts), y, w)
        grads = self._backward(params, acts, np.repeat(g, counts))
        for i in range(0, len(params), 2):
            grads[i] = grads[i] + self.weight_decay * params[i]
        return loss, grads

    def _fit(self, x: np.ndarray, counts: np.ndarray, y: np.ndarray) -> None:
        with single_blas_thread():
            self._fit_adam(x, counts, y)

    def _fit_adam(self, x: np.ndarray, counts: np.ndarray, y: np.ndarray) -> None:
        self._n_features = x.shape[1]
        self.mean = x.mean(axis=0).astype(np.float64)
        self.std = x.std(axis=0).astype(np.float64) + 1e-6
        xn = self._normalize(x)
        tr, va = self._split(len(counts))
        offs = np.concatenate([[0], np.cumsum(counts)])

        def rows(idx: np.ndarray) -> np.ndarray:
            return np.concatenate([xn[offs[i]:offs[i + 1]] for i in idx])

        x_tr, c_tr, y_tr = rows(tr), counts[tr], y[tr]
        w_tr = y_tr + self.weight_floor
        has_val = len(va) > 0
        if has_val:
            x_va, c_va, y_va = rows(va), counts[va], y[va]
        params = self._init_params(x.shape[1])
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        b1, b2, eps = 0.9, 0.999, 1e-8
        best, best_params, since = np.inf, [p.copy() for p in params], 0
        for step in range(1, self.epochs + 1):
            loss, grads = self._loss_grad(params, x_tr, c_tr, y_tr, w_tr)
            for i, g in enumerate(grads):
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                mh = m[i] / (1 - b1 ** step)
                vh = v[i] / (1 - b2 ** step)
                params[i] = params[i] - self.learning_rate * mh / (np.sqrt(vh) + eps)
            if has_val:
                pred = segment_sum(self._forward(params, x_va)[0], c_va)
                score = self._objective(pred, y_va, y_va + self.weight_floor)[0]
            else:
                score = loss
            if score < best - 1e-9:
                best, best_params, since = score, [p.copy() for p in params], 0
            else:
                since += 1
                if since >= self.patience:
                    break
        self.params = best_params
        log.info("mlp trained on %d candidates, %d steps, best %s error %.4f", len(counts),
                 step, "validation" if has_val else "training", best)

    def _predict_rows(self, x: np.ndarray) -> np.ndarray:
        with single_blas_thread():
            return self._forward(self.params, self._normalize(x))[0]

    # -- files ---------------------------------------------------------------------------
    def _config(self) -> dict:
        return {"hidden": list(self.hidden), "n_features": self._n_features}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        out = {f"mlp_param_{i}": p for i, p in enumerate(self.params)}
        out["mlp_mean"] = self.mean
        out["mlp_std"] = self.std
        return out

    def _load_state(self, arrays: dict[str, np.ndarray], config: dict) -> None:
        hidden = tuple(int(h) for h in config["hidden"])
        self.hidden = hidden  # the file's architecture wins
        n = 2 * (len(hidden) + 1)
        self.params = [np.asarray(arrays[f"mlp_param_{i}"], dtype=np.float64)
                       for i in range(n)]
        self.mean = np.asarray(arrays["mlp_mean"], dtype=np.float64)
        self.std = np.asarray(arrays["mlp_std"], dtype=np.float64)
        self._n_features = int(config["n_features"])

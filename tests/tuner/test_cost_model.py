"""Cost models: XGB and MLP rank held-out matmul schedules better than random; warm-up,
adaptive training, normalized targets, and save/load round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.stmt import BlockRealize, For, ForKind, SeqStmt
from onnxtune.tuner.cost_model import CostModel, MLPModel, RandomModel, XGBModel
from onnxtune.tuner.cost_model.learned_model import TrainingData, candidate_cost
from onnxtune.tuner.cost_model.metric import average_peak_score, rmse, spearman
from onnxtune.tuner.runner.runner import RunnerResult
from onnxtune.tuner.search_strategy.search_strategy import MeasureCandidate

M = N = K = 128
FUNC, _ = testing.matmul(M, N, K)


def make_candidate(seed: int) -> MeasureCandidate:
    """A random point of a matmul space: tiles i0 j0 k0 i1 k1 j1 j2, optional vectorize
    of j2 and parallel i0."""
    rng = np.random.default_rng(seed)
    sch = Schedule(FUNC, seed=seed)
    b = sch.get_sblock("C")
    i, j, k = sch.get_loops(b)
    i0, i1 = sch.split(i, sch.sample_perfect_tile(i, 2, max_innermost_factor=64))
    j0, j1, j2 = sch.split(j, sch.sample_perfect_tile(j, 3, max_innermost_factor=16))
    k0, k1 = sch.split(k, sch.sample_perfect_tile(k, 2, max_innermost_factor=64))
    sch.reorder(i0, j0, k0, i1, k1, j1, j2)
    if rng.integers(2):
        sch.vectorize(j2)
    if rng.integers(2):
        sch.parallel(i0)
    return MeasureCandidate(sch, [])


def _loops(stmt) -> list[For]:
    out = []
    while True:
        if isinstance(stmt, For):
            out.append(stmt)
            stmt = stmt.body
        elif isinstance(stmt, BlockRealize):
            stmt = stmt.block.body
        elif isinstance(stmt, SeqStmt):
            stmt = stmt.seq[-1]
        else:
            return out


def synthetic_latency(cand: MeasureCandidate, rng: np.random.Generator) -> float:
    """Seconds from a roofline-style model of the loop nest (computed from the loops, not
    from the features): vector lanes, loop overhead, cache traffic, two cores."""
    loops = _loops(cand.sch.func.body)
    ext = [lp.extent.value for lp in loops]
    kinds = [lp.kind for lp in loops]
    # with extent-1 loops the nest is still i0 j0 k0 i1 k1 j1 j2 (splits keep unit loops)
    i0, j0, k0, i1, k1, j1, j2 = ext
    vec = kinds[-1] == ForKind.VECTORIZED
    lanes = min(j2, 16) if vec else 1
    flops = 2.0 * M * N * K
    compute = flops / (4e9 * lanes)
    overhead = M * N * K / j2 * 1e-9
    b_tile = k1 * j1 * j2 * 4
    b_traffic = M * N * K * 4 / (1 if b_tile > 32768 else i1)
    a_traffic = M * K * j0 * 4
    c_traffic = M * N * k0 * 8
    mem = (a_traffic + b_traffic / min(16, j2) + c_traffic) / 20e9
    t = compute + overhead + mem
    if kinds[0] == ForKind.PARALLEL:
        t = t / min(i0, 2) + 2e-6
    return t * math.exp(rng.normal(0.0, 0.05))


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    cands = [make_candidate(s) for s in range(140)]
    lat = np.array([synthetic_latency(c, rng) for c in cands])
    return cands, lat


def results(lat) -> list[RunnerResult]:
    return [RunnerResult([float(t)], None) for t in lat]


class Ctx:
    mod = FUNC


def _fit(model: CostModel, dataset, n_train: int = 100) -> tuple[np.ndarray, np.ndarray]:
    cands, lat = dataset
    model.update(Ctx(), cands[:n_train], results(lat[:n_train]))
    pred = model.predict(Ctx(), cands[n_train:])
    target = lat[n_train:].min() / lat[n_train:]
    return pred, target


def test_create_kinds():
    assert isinstance(CostModel.create("xgb"), XGBModel)
    assert isinstance(CostModel.create("mlp"), MLPModel)
    assert isinstance(CostModel.create("random"), RandomModel)
    assert CostModel.create("none") is None
    with pytest.raises(ValueError, match="unknown CostModel kind"):
        CostModel.create("svm")


@pytest.mark.parametrize("kind", ["xgb", "mlp"])
def test_learned_models_rank_held_out_candidates(kind, dataset):
    if kind == "xgb":
        model = XGBModel(num_warmup_samples=0, early_stopping_rounds=20, seed=0)
    else:
        model = MLPModel(num_warmup_samples=0, seed=0)
    pred, target = _fit(model, dataset)
    rand, _ = _fit(RandomModel(seed=0), dataset)
    rho = spearman(pred, target)
    assert rho > 0.6, rho
    assert rho > spearman(rand, target) + 0.3
    assert average_peak_score(pred, target, 8) > average_peak_score(rand, target, 8)


@pytest.mark.parametrize("kind", ["xgb", "mlp"])
def test_save_load_gives_identical_predictions(kind, dataset, tmp_path):
    cands, lat = dataset
    cls = XGBModel if kind == "xgb" else MLPModel
    kw = {"early_stopping_rounds": 10} if kind == "xgb" else {"epochs": 100}
    model = cls(num_warmup_samples=0, seed=1, **kw)
    model.update(Ctx(), cands[:40], results(lat[:40]))
    path = str(tmp_path / f"model.{kind}")
    model.save(path)
    loaded = cls(num_warmup_samples=0, seed=1)
    loaded.load(path)
    assert loaded.trained and len(loaded.data) == 40
    np.testing.assert_array_equal(model.predict(Ctx(), cands[40:60]),
                                  loaded.predict(Ctx(), cands[40:60]))
    np.testing.assert_array_equal(model.data.targets(), loaded.data.targets())
    # the file is a plain npz: readable without pickle
    with np.load(path, allow_pickle=False) as z:
        assert "meta" in z.files
    other = MLPModel() if kind == "xgb" else XGBModel()
    with pytest.raises(ValueError, match="holds a"):
        other.load(path)


def test_random_model_is_seeded_and_round_trips(tmp_path):
    a, b = RandomModel(seed=5), RandomModel(seed=5)
    np.testing.assert_array_equal(a.predict(None, [0] * 4), b.predict(None, [0] * 4))
    p = a.predict(None, [0] * 100)
    assert ((p >= 0) & (p < 100)).all()
    path = str(tmp_path / "random.json")
    a.save(path)
    c = RandomModel(path=path)
    np.testing.assert_array_equal(a.predict(None, [0] * 3), c.predict(None, [0] * 3))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a RandomModel"):
        RandomModel(path=str(tmp_path / "bad.json"))


def test_warmup_predicts_random_until_enough_samples(dataset):
    cands, lat = dataset
    model = XGBModel(num_warmup_samples=30, early_stopping_rounds=5, seed=2)
    model.update(Ctx(), cands[:20], results(lat[:20]))
    assert not model.trained and len(model.data) == 20
    p1 = model.predict(Ctx(), cands[:20])
    p2 = model.predict(Ctx(), cands[:20])
    assert ((p1 >= 0) & (p1 < 1)).all() and not np.array_equal(p1, p2)  # random draws
    model.update(Ctx(), cands[20:30], results(lat[20:30]))
    assert model.trained and model.last_train_size == 30
    np.testing.assert_array_equal(model.predict(Ctx(), cands[:5]),
                                  model.predict(Ctx(), cands[:5]))


def test_adaptive_training_waits_for_enough_new_data(dataset):
    cands, lat = dataset
    model = MLPModel(num_warmup_samples=10, epochs=30, seed=3)
    model.update(Ctx(), cands[:50], results(lat[:50]))
    assert model.last_train_size == 50
    model.update(Ctx(), cands[50:55], results(lat[50:55]))  # +10%: no retraining
    assert model.last_train_size == 50 and len(model.data) == 55
    model.update(Ctx(), cands[55:60], results(lat[55:60]))  # +20%: retrain
    assert model.last_train_size == 60
    eager = MLPModel(num_warmup_samples=10, epochs=30, adaptive_training=False, seed=3)
    eager.update(Ctx(), cands[:50], results(lat[:50]))
    eager.update(Ctx(), cands[50:51], results(lat[50:51]))
    assert eager.last_train_size == 51


def test_targets_are_normalized_per_workload_and_failures_score_zero():
    d = TrainingData()
    f = [np.zeros((1, 3), np.float32)] * 3
    d.add("a", f, [2.0, 1.0, math.inf])
    d.add("b", f[:2], [10.0, 40.0])
    np.testing.assert_allclose(d.targets(), [0.5, 1.0, 0.0, 1.0, 0.25])
    assert candidate_cost(RunnerResult(None, "build failed")) == math.inf
    assert candidate_cost(RunnerResult([1.0, 3.0], None)) == 2.0


def test_failed_candidates_do_not_break_training(dataset):
    cands, lat = dataset
    res = results(lat[:30])
    res[3] = RunnerResult(None, "timeout")
    model = XGBModel(num_warmup_samples=0, early_stopping_rounds=5, seed=0)
    model.update(Ctx(), cands[:30], res)
    assert model.trained and np.isfinite(model.predict(Ctx(), cands[30:35])).all()
    with pytest.raises(ValueError, match="candidates but"):
        model.update(Ctx(), cands[:2], res[:1])


def test_metrics():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=1e-6)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    assert average_peak_score([0.9, 0.1, 0.5], [1.0, 0.2, 0.5], 1) == 1.0
    assert average_peak_score([0.1, 0.9, 0.5], [1.0, 0.2, 0.5], 2) == pytest.approx(0.35)
    assert rmse([1.0, 3.0], [1.0, 1.0]) == pytest.approx(math.sqrt(2))
    assert rmse([1.0, 3.0], [1.0, 1.0], weight=[1.0, 0.0]) == 0.0


@pytest.mark.parametrize("rank_weight", [0.0, 1.0])
def test_mlp_gradient_matches_finite_differences(rank_weight):
    model = MLPModel(hidden=(5, 4), seed=0, weight_decay=0.0, rank_weight=rank_weight)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3))
    counts = np.array([2, 1, 3, 1])
    y = np.array([1.0, 0.3, 0.6, 0.0])
    w = y + 0.1
    params = model._init_params(3)
    for p in params[1::2]:  # non-zero biases keep every unit away from the ReLU kink
        p += rng.uniform(0.05, 0.2, size=p.shape)
    _, grads = model._loss_grad(params, x, counts, y, w)
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        for idx in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            old = p[idx]
            p[idx] = old + eps
            hi = model._loss_grad(params, x, counts, y, w)[0]
            p[idx] = old - eps
            lo = model._loss_grad(params, x, counts, y, w)[0]
            p[idx] = old
            assert g[idx] == pytest.approx((hi - lo) / (2 * eps), rel=1e-4, abs=1e-7)


def test_a_candidate_without_features_scores_zero(dataset, caplog):
    cands, lat = dataset

    class Odd:
        sch = "not a schedule"

    model = XGBModel(num_warmup_samples=0, early_stopping_rounds=5, seed=0)
    model.update(Ctx(), cands[:20] + [Odd()], results(lat[:21]))
    assert len(model.data) == 20
    pred = model.predict(Ctx(), [cands[30], Odd(), cands[31]])
    assert pred[1] == 0.0 and np.isfinite(pred).all()
    assert "no features for a candidate" in caplog.text

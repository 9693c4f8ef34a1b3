"""Small stand-ins for the search / tuning tests: a schedule-function space over a matmul,
a tile-size mutator, in-process builder and runner, and simple cost models.

They implement the seed's interfaces with as little as possible so that the search
strategies and the tuning entry points can be tested on their own.
"""

from __future__ import annotations

import itertools

import numpy as np

from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.instruction import SAMPLE_PERFECT_TILE
from onnxtune.tir.schedule.sampling import RandState, prime_factors
from onnxtune.tuner.builder import Builder, BuilderResult
from onnxtune.tuner.cost_model import CostModel
from onnxtune.tuner.mutator import Mutator
from onnxtune.tuner.runner import Runner, RunnerFuture, RunnerResult
from onnxtune.tuner.space_generator import SpaceGenerator


def tile_matmul(sch: Schedule) -> None:
    """A CPU matmul space: 4/4/2-level tiles, a cached write-back, parallel + vectorize."""
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    it = sch.split(i, sch.sample_perfect_tile(i, 4, 16))
    jt = sch.split(j, sch.sample_perfect_tile(j, 4, 16))
    kt = sch.split(k, sch.sample_perfect_tile(k, 2, 16))
    sch.reorder(it[0], jt[0], it[1], jt[1], kt[0], it[2], jt[2], kt[1], it[3], jt[3])
    cb = sch.cache_write(b, 0, "global")
    sch.reverse_compute_at(cb, jt[1])
    sch.parallel(sch.fuse(it[0], jt[0]))


class FnSpace(SpaceGenerator):
    """A schedule-function space (like ScheduleFn) carrying its own postprocs/mutators."""

    def __init__(self, fn=tile_matmul, postprocs=None, mutator_probs=None):
        self.fn = fn
        self.sch_rules = []
        self.postprocs = list(postprocs or [])
        self.mutator_probs = dict(mutator_probs) if mutator_probs is not None else {
            TileMutator(): 1.0}
        self.rand = RandState(1)

    def _initialize_with_tune_context(self, context) -> None:
        self.rand = RandState(context.rand_state)

    def generate_design_space(self, mod):
        sch = Schedule(mod, seed=self.rand.fork_seed())
        self.fn(sch)
        return [sch]

    def clone(self):
        return FnSpace(self.fn, self.postprocs, {m: p for m, p in self.mutator_probs.items()})


class TileMutator(Mutator):
    """Moves one prime factor between two tiles of one sample_perfect_tile decision."""

    def apply(self, trace, rand_state=None):
        rand = rand_state if isinstance(rand_state, RandState) else RandState(rand_state)
        insts = [i for i in trace.insts if i.kind is SAMPLE_PERFECT_TILE]
        if not insts:
            return None
        for _ in range(10):
            inst = insts[rand.sample_int(0, len(insts))]
            dec = list(trace.get_decision(inst))
            src = [x for x in range(len(dec)) if dec[x] > 1]
            if not src:
                continue
            a = src[rand.sample_int(0, len(src))]
            b = rand.sample_int(0, len(dec) - 1)
            b = b + 1 if b >= a else b
            p = prime_factors(dec[a])[0]
            dec[a] //= p
            dec[b] *= p
            limit = inst.attrs[1]
            if limit > 0 and dec[-1] > limit:
                continue
            return trace.with_decision(inst, dec, remove_postproc=True)
        return None


class RejectOddTiles:
    """A postproc rejecting programs whose first tile decision starts with an odd factor."""

    def _initialize_with_tune_context(self, context) -> None:
        pass

    def apply(self, sch) -> bool:
        insts = [i for i in sch.trace.insts if i.kind is SAMPLE_PERFECT_TILE]
        return sch.trace.get_decision(insts[0])[0] % 2 == 0


_BUILT: dict[str, object] = {}
_COUNTER = itertools.count()


class InProcessBuilder(Builder):
    """Builds with ``compile.build`` in this process; artifacts live in a dict."""

    def __init__(self, fail_every: int = 0):
        self.fail_every = fail_every
        self.calls = 0

    def build(self, build_inputs):
        from onnxtune.compile import build

        out = []
        for inp in build_inputs:
            self.calls += 1
            if self.fail_every and self.calls % self.fail_every == 0:
                out.append(BuilderResult(None, "InProcessBuilder: injected build failure"))
                continue
            try:
                mod = build(inp.mod, inp.target)
            except Exception as err:  # noqa: BLE001 - a failed build is a result
                out.append(BuilderResult(None, f"{type(err).__name__}: {err}"))
                continue
            path = f"inproc://{next(_COUNTER)}"
            _BUILT[path] = mod
            out.append(BuilderResult(path, None))
        return out


class InProcessRunner(Runner):
    """Times built modules in this process on random inputs (median of ``repeat``)."""

    def __init__(self, number: int = 2, repeat: int = 3, fail_all: bool = False):
        self.number, self.repeat, self.fail_all = number, repeat, fail_all

    def run(self, runner_inputs):
        rng = np.random.default_rng(0)
        futures = []
        for inp in runner_inputs:
            if self.fail_all:
                res = RunnerResult(None, "InProcessRunner: injected run failure (segfault)")
            else:
                mod = _BUILT.pop(inp.artifact_path)
                args = [rng.random(a.shape).astype(a.dtype) for a in inp.args_info]
                prof = mod.time_evaluator("main", number=self.number, repeat=self.repeat)(*args)
                res = RunnerResult(list(prof.results), None)
            futures.append(RunnerFuture(lambda: True, lambda r=res: r))
        return futures


class TileScoreModel(CostModel):
    """An oracle-like model: the score is the product of the innermost tiles (bigger
    inner tiles = "faster"); records how many candidates it was asked about."""

    def __init__(self):
        self.predicted = 0
        self.updates = 0

    def update(self, context, candidates, results):
        self.updates += 1

    def predict(self, context, candidates):
        self.predicted += len(candidates)
        return np.array([inner_tile_score(c.sch) for c in candidates], dtype=float)


def inner_tile_score(sch) -> float:
    insts = [i for i in sch.trace.insts if i.kind is SAMPLE_PERFECT_TILE]
    return float(np.prod([sch.trace.get_decision(i)[-1] for i in insts]))

"""Deterministic random sampling for schedules: TVM's linear congruential engine and the
samplers behind sample_perfect_tile, sample_categorical and sample_compute_location.

The random state is one integer (``minstd``: ``s ← s·48271 mod (2³¹−1)``), so copying a
Schedule copies its random state for free and the same seed gives the same samples; a
seed is scrambled with splitmix64 before it becomes the state (small seeds would
otherwise give correlated first draws).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

from .error import ScheduleError

MODULUS = 2147483647
MULTIPLIER = 48271


def normalize_seed(seed: int | None) -> int:
    """A valid random state from a user seed (None or -1: a seed from the OS)."""
    if seed is None or seed == -1:
        seed = int.from_bytes(os.urandom(4), "little")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"a schedule seed must be an int or None, got {type(seed).__name__}")
    seed %= MODULUS
    return seed if seed != 0 else 1


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """The splitmix64 finalizer: neighbouring inputs give unrelated 64-bit outputs."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix_seed(seed: int | None) -> int:
    """The initial engine state for a user seed: the normalized seed scrambled with
    splitmix64, so that small neighbouring seeds (0, 1, 2, ...) do not start the
    multiplicative engine at small neighbouring states, whose first draws are correlated
    (``s·48271`` stays below the modulus for ``s < 44488``)."""
    if seed is None or seed == -1:
        return normalize_seed(seed)  # already random
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"a schedule seed must be an int or None, got {type(seed).__name__}")
    state = _splitmix64(seed & _MASK64) % MODULUS
    return state if state != 0 else 1


class RandState:
    """The random state of one Schedule (mutable; copy with :meth:`copy`).

    The seed is scrambled (:func:`mix_seed`) before it becomes the engine state; the same
    seed still gives the same samples.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int | None = None):
        self.state = mix_seed(seed)

    def copy(self) -> RandState:
        r = RandState.__new__(RandState)
        r.state = self.state
        return r

    def next(self) -> int:
        """The next raw value in ``[1, 2³¹−1)``."""
        self.state = self.state * MULTIPLIER % MODULUS
        return self.state

    def fork_seed(self) -> int:
        """A new seed derived from (and advancing) this state (TVM's ForkSeed)."""
        return self.next() * 32767 % 1999999973

    def sample_int(self, lo: int, hi: int) -> int:
        """A uniform integer in ``[lo, hi)``."""
        if hi <= lo:
            raise ValueError(f"sample_int: empty range [{lo}, {hi})")
        return lo + self.next() % (hi - lo)

    def uniform(self) -> float:
        """A uniform float in ``[0, 1)``."""
        return (self.next() - 1) / (MODULUS - 1)


@lru_cache(maxsize=4096)
def prime_factors(n: int) -> tuple[int, ...]:
    """The prime factors of ``n`` with multiplicity, ascending."""
    out: list[int] = []
    d = 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return tuple(out)


def sample_perfect_tile(
    rand: RandState, extent: int, n: int, max_innermost_factor: int = -1
) -> list[int]:
    """``n`` factors whose product is ``extent``, each prime factor placed at random; the
    innermost factor is at most ``max_innermost_factor`` (-1: unbounded)."""
    if n < 1:
        raise ScheduleError(f"sample_perfect_tile: cannot tile a loop into {n} parts")
    if extent < 1:
        raise ScheduleError(f"sample_perfect_tile: the loop extent {extent} is not positive")
    if max_innermost_factor != -1 and (isinstance(max_innermost_factor, bool)
                                       or not isinstance(max_innermost_factor, int)
                                       or max_innermost_factor < 1):
        raise ScheduleError(f"sample_perfect_tile: max_innermost_factor must be -1 "
                            f"(unbounded) or a positive int, got {max_innermost_factor!r}")
    if n == 1:
        return [extent]
    primes = prime_factors(extent)
    while True:
        result = [1] * n
        for p in primes:
            result[rand.sample_int(0, n)] *= p
        if max_innermost_factor == -1 or result[-1] <= max_innermost_factor:
            return result


def fix_perfect_tile_decision(decision: Sequence[int], extent: int) -> list[int]:
    """A previous tiling decision made perfect for ``extent`` again (TVM's rule: scanning
    from the inside, a factor that no longer divides what is left becomes all of it)."""
    result = [int(x) for x in decision]
    if len(result) < 1:
        raise ScheduleError("sample_perfect_tile: an empty decision")
    rest = extent
    for i in range(len(result) - 1, 0, -1):
        f = result[i]
        if f <= 0 or rest % f != 0:
            f = result[i] = rest
        rest //= f
    result[0] = rest
    return result


def sample_categorical(
    rand: RandState, probs: Sequence[float], decision: int | None = None
) -> int:
    """An index drawn with the given (unnormalized) probabilities, or ``decision``."""
    n = len(probs)
    if decision is not None:
        d = int(decision)
        if not 0 <= d < n:
            raise ScheduleError(
                f"sample_categorical: the decision {d} is out of range for {n} candidates"
            )
        return d
    total = float(sum(probs))
    if n == 0 or total <= 0 or any(p < 0 for p in probs):
        raise ScheduleError(
            f"sample_categorical: probabilities {list(probs)} must be non-negative with a "
            "positive sum"
        )
    x = rand.uniform() * total
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if x < acc:
            return i
    return max(i for i, p in enumerate(probs) if p > 0)


def pick_compute_location(
    rand: RandState, indices: Sequence[int], decision: int | None = None
) -> int:
    """The position in ``indices`` (sorted location codes: -2 inline, -1 root, then loop
    positions) chosen by ``decision`` as TVM does (a vanished decision falls back to the
    nearest code below it, else root), or sampled uniformly."""
    if decision is None:
        return rand.sample_int(0, len(indices))
    d = int(decision)
    lo = 0
    while lo < len(indices) and indices[lo] < d:
        lo += 1
    if lo < len(indices) and indices[lo] == d:
        return lo
    if lo > 0:
        return lo - 1
    return indices.index(-1)

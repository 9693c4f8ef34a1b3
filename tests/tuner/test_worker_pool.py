"""WorkerPool: results in order, errors, crashes and hangs come back as task errors."""

from __future__ import annotations

import os
import time

from onnxtune.tuner.worker_pool import WorkerPool


def square(x):
    return x * x


def fail(msg):
    raise ValueError(msg)


def crash():
    os.kill(os.getpid(), 11)


def hang(secs):
    time.sleep(secs)
    return "woke"


def noisy(x):
    print("this goes to the worker's stderr, not the protocol")
    return x + 1


def test_map_in_order_over_two_workers():
    with WorkerPool(max_workers=2) as pool:
        res = pool.map(f"{__name__}:square", [[i] for i in range(7)], timeout=60)
    assert [r.value for r in res] == [i * i for i in range(7)]
    assert all(r.ok for r in res)


def test_error_crash_and_timeout_are_results_and_the_pool_goes_on():
    with WorkerPool(max_workers=1) as pool:
        res = pool.map(f"{__name__}:fail", [["bad input 7"]], timeout=60)
        assert not res[0].ok and "ValueError: bad input 7" in res[0].error
        res = pool.map(f"{__name__}:crash", [[]], timeout=60)
        assert not res[0].ok and "signal 11" in res[0].error
        assert "Fatal Python error" in res[0].error  # faulthandler's report is attached
        t0 = time.perf_counter()
        res = pool.map(f"{__name__}:hang", [[30]], timeout=1.0)
        assert not res[0].ok and res[0].error.startswith("timeout")
        assert time.perf_counter() - t0 < 15
        res = pool.map(f"{__name__}:noisy", [[1], [2]], timeout=60)
        assert [r.value for r in res] == [2, 3]

"""Run small numpy linear algebra on one BLAS thread (the MLP's matrices are tiny: extra
OpenBLAS threads only spin, and on a busy machine cost 10x the work)."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from collections.abc import Iterator

import numpy as np

_API: tuple | None | bool = False  # False: not probed yet; None: unavailable


def _probe() -> tuple | None:
    """(get, set) of the OpenBLAS bundled with numpy, or None."""
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in (("scipy_openblas_get_num_threads64_",
                           "scipy_openblas_set_num_threads64_"),
                          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                          ("openblas_get_num_threads", "openblas_set_num_threads")):
            if hasattr(lib, get) and hasattr(lib, set_):
                g, s = getattr(lib, get), getattr(lib, set_)
                g.restype = ctypes.c_int
                s.argtypes = [ctypes.c_int]
                return g, s
    return None


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit numpy's OpenBLAS to one thread inside the block (a no-op when numpy uses
    another BLAS)."""
    global _API
    if _API is False:
        _API = _probe()
    if _API is None:
        yield
        return
    get, set_ = _API
    old = get()
    set_(1)
    try:
        yield
    finally:
        set_(old)

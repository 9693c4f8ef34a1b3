"""PerStoreFeature: one fixed-length feature vector per BufferStore of a scheduled PrimFunc.

The slots are listed (name, meaning, scaling) in :mod:`.feature_table`; docs/features.md
is generated from that table. The walk follows the lowering pipeline's semantics (block
iter vars stand for their bindings, a reduction's init runs once per spatial point,
extent-1 loops vanish) on the scheduled IR directly, so unrolled loops stay loops and no
IR is rebuilt: extraction costs a few milliseconds per candidate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from onnxtune.tir import dtype as dt
from onnxtune.tir.expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    BufferLoad,
    Call,
    Cast,
    Div,
    FloatImm,
    FloorDiv,
    FloorMod,
    IntImm,
    IterType,
    Let,
    Max,
    Min,
    Mod,
    Mul,
    Not,
    Or,
    PrimExpr,
    Select,
    StringImm,
    Sub,
    Var,
)
from onnxtune.tir.function import IRModule, PrimFunc
from onnxtune.tir.stmt import (
    Allocate,
    BlockRealize,
    BufferStore,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
)

from . import feature_table as ft
from .feature_extractor import FeatureExtractor

# op-count slots (order of feature_table.ARITH)
(F_MAD, F_ADD, F_MUL, F_DIV, F_CMP, F_MATH, I_MAD, I_ADD, I_MUL, I_DIV, I_CMP, BOOL, SELECT,
 CAST) = range(14)
N_ARITH = 14
#: float ops per count, for the arithmetic intensity (a multiply-add is two)
_FLOP_WEIGHT = (2.0, 1.0, 1.0, 1.0, 1.0, 1.0)
_CMP = (EQ, NE, LT, LE, GT, GE)
_DIVMOD = (Div, Mod, FloorDiv, FloorMod)
_UNROLL_KEYS = ("pragma_auto_unroll_max_step", "meta_schedule.unroll_explicit",
                "meta_schedule.unroll_implicit")


def _is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


# ---------------------------------------------------------------------------------------
# expression analysis: op counts, loads, affine forms, interval bounds


class _Bind:
    """What a block iter var (or a Let var) stands for."""

    __slots__ = ("aff", "counts", "expr", "vars")

    def __init__(self, expr: Any, binds: dict[Var, _Bind]):
        self.expr = expr
        self.aff = _affine(expr, binds)
        counts = [0] * N_ARITH
        _count(expr, counts, None, binds)
        self.counts = counts if any(counts) else None
        self.vars = frozenset(_aff_vars(self.aff, binds))


def _count(e: Any, c: list[int], loads: list | None, binds: dict[Var, _Bind]) -> None:
    """Add the ops of ``e`` to ``c`` (bindings of block vars included); collect loads."""
    t = type(e)
    if t is Var:
        b = binds.get(e)
        if b is not None and b.counts is not None:
            for i, n in enumerate(b.counts):
                c[i] += n
        return
    if t is IntImm or t is FloatImm or t is StringImm:
        return
    if t is BufferLoad:
        if loads is not None:
            loads.append(e)
        for i in e.indices:
            _count(i, c, loads, binds)
        return
    fl = _is_float(e.dtype) if t not in _CMP else _is_float(e.a.dtype)
    if t is Add or t is Sub:
        a, b = e.a, e.b
        if type(a) is Mul or type(b) is Mul:
            c[F_MAD if fl else I_MAD] += 1
            m, o = (a, b) if type(a) is Mul else (b, a)
            _count(m.a, c, loads, binds)
            _count(m.b, c, loads, binds)
            _count(o, c, loads, binds)
            return
        c[F_ADD if fl else I_ADD] += 1
    elif t is Mul:
        c[F_MUL if fl else I_MUL] += 1
    elif t in _DIVMOD:
        c[F_DIV if fl else I_DIV] += 1
    elif t in _CMP or t is Min or t is Max:
        c[F_CMP if fl else I_CMP] += 1
    elif t is And or t is Or or t is Not:
        c[BOOL] += 1
    elif t is Select:
        c[SELECT] += 1
    elif t is Cast:
        c[CAST] += 1
    elif t is Call:
        if e.op == "if_then_else":
            c[SELECT] += 1
        elif e.op == "fmod":
            c[F_DIV] += 1
        else:
            c[F_MATH] += 1
        for a in e.args:
            _count(a, c, loads, binds)
        return
    elif t is Let:
        _count(e.value, c, loads, binds)
        _count(e.body, c, loads, binds)
        return
    for name in ("a", "b", "condition", "true_value", "false_value", "value"):
        ch = getattr(e, name, None)
        if ch is not None:
            _count(ch, c, loads, binds)


#: an index in affine form: ({term: coefficient}, constant). A term is a loop Var or an
#: "atom", a non-affine subexpression (floordiv, floormod, a product of variables...)
#: whose bounds come from interval analysis
Aff = tuple[dict, int]


def _affine(e: Any, binds: dict[Var, _Bind]) -> Aff:
    """``e`` as an affine combination of loop vars and atoms (block vars resolved)."""
    t = type(e)
    if t is IntImm:
        return {}, e.value
    if t is Var:
        b = binds.get(e)
        if b is not None:
            return b.aff
        return {e: 1}, 0
    if t is Add or t is Sub:
        a = _affine(e.a, binds)
        b = _affine(e.b, binds)
        s = 1 if t is Add else -1
        d = dict(a[0])
        for v, k in b[0].items():
            d[v] = d.get(v, 0) + s * k
        return d, a[1] + s * b[1]
    if t is Mul:
        a = _affine(e.a, binds)
        b = _affine(e.b, binds)
        if not a[0]:
            a, b = b, a
        if not b[0]:
            k = b[1]
            return {v: x * k for v, x in a[0].items()}, a[1] * k
    elif t is Cast and not _is_float(e.dtype):
        return _affine(e.value, binds)
    return {e: 1}, 0


def _aff_vars(aff: Aff, binds: dict[Var, _Bind]) -> set:
    """The loop vars an affine form depends on (through its atoms too)."""
    out = set()
    for v, k in aff[0].items():
        if not k:
            continue
        if type(v) is Var:
            out.add(v)
        else:
            out |= _loop_vars(v, binds)
    return out


def _loop_vars(e: Any, binds: dict[Var, _Bind]) -> set:
    out: set = set()
    stack = [e]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is Var:
            b = binds.get(x)
            if b is not None:
                out |= b.vars
            else:
                out.add(x)
        elif t is BufferLoad:
            stack.extend(x.indices)
        elif t is Call:
            stack.extend(x.args)
        else:
            for name in ("a", "b", "condition", "true_value", "false_value", "value", "body"):
                ch = getattr(x, name, None)
                if isinstance(ch, PrimExpr):
                    stack.append(ch)
    return out


def _bounds(e: Any, binds: dict[Var, _Bind], env: dict) -> tuple[int, int] | None:
    """Integer interval of ``e`` with loop vars in ``env`` ((lo, hi) each); None: unknown."""
    t = type(e)
    if t is IntImm:
        return e.value, e.value
    if t is Var:
        b = binds.get(e)
        if b is not None:
            return _bounds(b.expr, binds, env)
        return env.get(e, (0, 0))
    if t is Cast:
        return _bounds(e.value, binds, env)
    if t in (Add, Sub, Mul, Min, Max, FloorDiv, FloorMod, Div, Mod):
        a = _bounds(e.a, binds, env)
        b = _bounds(e.b, binds, env)
        if a is None or b is None:
            return None
        if t is Add:
            return a[0] + b[0], a[1] + b[1]
        if t is Sub:
            return a[0] - b[1], a[1] - b[0]
        if t is Mul:
            p = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
            return min(p), max(p)
        if t is Min:
            return min(a[0], b[0]), min(a[1], b[1])
        if t is Max:
            return max(a[0], b[0]), max(a[1], b[1])
        if b[0] != b[1] or b[0] <= 0:
            return None
        k = b[0]
        if t is FloorDiv or (t is Div and a[0] >= 0):
            return a[0] // k, a[1] // k
        if a[0] // k == a[1] // k:
            return a[0] % k, a[1] % k
        return 0, k - 1
    if t is Select:
        a = _bounds(e.true_value, binds, env)
        b = _bounds(e.false_value, binds, env)
        if a is None or b is None:
            return None
        return min(a[0], b[0]), max(a[1], b[1])
    return None


# ---------------------------------------------------------------------------------------
# the walk


class _Loop:
    __slots__ = ("ann", "extent", "kind", "min", "var")

    def __init__(self, var: Var, lo: int, extent: int, kind: ForKind, ann: int):
        self.var, self.min, self.extent, self.kind, self.ann = var, lo, extent, kind, ann


def _int(e: Any, default: int) -> int:
    return e.value if type(e) is IntImm else default


def _ann_int(anns: dict) -> int:
    best = 0
    for k in _UNROLL_KEYS:
        v = anns.get(k)
        if v is None:
            continue
        if isinstance(v, IntImm):
            v = v.value
        if isinstance(v, (int, bool)):
            best = max(best, int(v))
    return best


class _Access:
    """The accesses of one buffer by one store."""

    __slots__ = ("buffer", "dims", "n", "read", "write")

    def __init__(self, buffer: Any):
        self.buffer = buffer
        self.read = self.write = False
        self.n = 0
        self.dims: list[tuple[Any, ...]] = []  # index tuples


class _Walker:
    def __init__(self, ext: PerStoreFeature):
        self.ext = ext
        self.loops: list[_Loop] = []
        self.binds: dict[Var, _Bind] = {}
        self.alloc_at: dict[Any, int] = {}
        self.trip = 1
        self.unroll = [0]
        self.guard = 0
        self.rows: list[list[float]] = []
        self.stats = [0.0, 0, 0, 0.0]  # float ops x trip, stores, reductions, math x trip

    def visit(self, s: Any) -> None:
        t = type(s)
        if t is SeqStmt:
            for x in s.seq:
                self.visit(x)
        elif t is For:
            ext = _int(s.extent, 1)
            ann = _ann_int(s.annotations) if s.annotations else 0
            if ann:
                self.unroll.append(max(self.unroll[-1], ann))
            if ext == 1 and not s.annotations:
                binds = self.binds
                binds[s.loop_var] = _Bind(s.min, binds)
                self.visit(s.body)
                del binds[s.loop_var]
            else:
                self.loops.append(_Loop(s.loop_var, _int(s.min, 0), ext, s.kind, ann))
                self.trip *= ext
                self.visit(s.body)
                self.trip //= ext
                self.loops.pop()
            if ann:
                self.unroll.pop()
        elif t is BlockRealize:
            self.visit_realize(s)
        elif t is BufferStore:
            self.visit_store(s, init_skip=None)
        elif t is IfThenElse:
            self.guard += 1
            self.visit(s.then_case)
            if s.else_case is not None:
                self.visit(s.else_case)
            self.guard -= 1
        elif t is LetStmt:
            self.binds[s.var] = _Bind(s.value, self.binds)
            self.visit(s.body)
            del self.binds[s.var]
        elif t is Allocate:
            self.alloc_at[s.buffer] = self.trip
            self.visit(s.body)
        elif t is Evaluate:
            return
        else:
            raise NotImplementedError(
                f"PerStoreFeature: no feature rule for the statement {t.__name__}")

    def visit_realize(self, r: BlockRealize) -> None:
        block = r.block
        binds = self.binds
        new = []
        spatial: set = set()
        reduce: set = set()
        for iv, value in zip(block.iter_vars, r.iter_values, strict=True):
            b = _Bind(value, binds)
            new.append((iv.var, b))
            (reduce if iv.iter_type == IterType.COMM_REDUCE else spatial).update(b.vars)
        for v, b in new:
            binds[v] = b
        for buf in block.alloc_buffers:
            self.alloc_at[buf] = self.trip
        ann = _ann_int(block.annotations) if block.annotations else 0
        if ann:
            self.unroll.append(max(self.unroll[-1], ann))
        guarded = not (type(r.predicate) is IntImm and r.predicate.value)
        self.guard += guarded
        if reduce:
            self.stats[2] += 1
        if block.init is not None:
            self._visit_init(block.init, reduce - spatial)
        self.visit(block.body)
        self.guard -= guarded
        if ann:
            self.unroll.pop()
        for v, _ in new:
            del binds[v]

    def _visit_init(self, s: Any, skip: set) -> None:
        t = type(s)
        if t is BufferStore:
            self.visit_store(s, init_skip=skip)
        elif t is SeqStmt:
            for x in s.seq:
                self._visit_init(x, skip)
        else:  # loops or branches inside an init: counted like a body
            self.visit(s)

    # -- one row -------------------------------------------------------------------------
    def visit_store(self, st: BufferStore, init_skip: set | None) -> None:
        ext = self.ext
        binds = self.binds
        counts = [0] * N_ARITH
        loads: list = []
        _count(st.value, counts, loads, binds)
        for i in st.indices:
            _count(i, counts, loads, binds)
        loops = self.loops
        if init_skip:
            loops = [lp for lp in loops if lp.var not in init_skip]
        n = len(loops)
        trip = 1
        for lp in loops:
            trip *= lp.extent
        row = [float(x * trip) for x in counts]

        # loop structure
        for kind in (ForKind.VECTORIZED, ForKind.UNROLLED, ForKind.PARALLEL):
            num, prod, length, pos = 0, 1, 0, 3
            for j, lp in enumerate(loops):
                if lp.kind == kind:
                    num += 1
                    prod *= lp.extent
                    length = lp.extent
                    pos = 0 if j == n - 1 else 2 if j == 0 else 1
            onehot = [0.0, 0.0, 0.0, 0.0]
            onehot[pos] = 1.0
            row += [num, prod if num else 0, length, *onehot]
        vec_var = None
        for lp in loops:
            if lp.kind == ForKind.VECTORIZED:
                vec_var = lp.var
        is_update = any(ld.buffer is st.buffer for ld in loads)
        row += [loops[-1].extent if n else 1, float(is_update), float(init_skip is not None),
                float(self.guard > 0)]

        # buffer accesses
        accs: dict[Any, _Access] = {}
        for buf, idx, w in [(st.buffer, st.indices, True)] + [
                (ld.buffer, ld.indices, False) for ld in loads]:
            a = accs.get(buf)
            if a is None:
                a = accs[buf] = _Access(buf)
            if w:
                a.write = True
            else:
                a.read = True
            a.n += 1
            a.dims.append(idx)
        env_all = {lp.var: (lp.min, lp.min) for lp in self.loops}
        pos = {lp.var: j for j, lp in enumerate(loops)}
        ext_m1 = np.array([lp.extent - 1 for lp in loops], dtype=np.float64)
        infos = [self._buffer_info(a, loops, pos, ext_m1, env_all, trip, vec_var)
                 for a in accs.values()]
        touched = sum(o["touched"] for o in infos)
        # reuse distances need every buffer's footprint per level
        for info in infos:
            k = info["reuse_level"]
            if k is not None:
                info["reuse_dis_bytes"] = float(touched[k + 1])
        infos.sort(key=lambda d: (-d["lines"], -d["bytes"]))
        nbuf = ext.buffers_per_store
        for info in infos[:nbuf]:
            ct = info["reuse_ct"]
            d = max(1.0, ct)
            row += [
                float(info["read"] and not info["write"]),
                float(info["write"] and not info["read"]),
                float(info["read"] and info["write"]),
                info["bytes"], info["unique_bytes"], info["lines"], info["unique_lines"],
                *info["reuse_type"], info["reuse_dis_iter"], info["reuse_dis_bytes"], ct,
                info["bytes"] / d, info["unique_bytes"] / d, info["lines"] / d,
                info["unique_lines"] / d, info["stride"], info["inner_stride"],
                info["vec_stride"],
            ]
        row += [0.0] * (len(ft.BUFFER) * max(0, nbuf - len(infos)))

        # arithmetic intensity curve over loop levels (inner → outer)
        flops = sum(counts[i] * _FLOP_WEIGHT[i] for i in range(6))
        xs, ys = [], []
        inner = 1
        for level in range(n, -1, -1):
            if level < n:
                inner *= loops[level].extent
            xs.append(math.log2(inner))
            ys.append(flops * inner / max(1.0, float(touched[level])))
        ns = ext.arith_intensity_curve_num_samples
        if xs[-1] > 0:
            samples = np.interp([xs[-1] * (k + 1) / ns for k in range(ns)], xs, ys).tolist()
        else:
            samples = [ys[-1]] * ns
        row += samples

        # allocation
        at = self.alloc_at.get(st.buffer)
        if at is not None:
            size = st.buffer.nbytes() if _static(st.buffer) else 0
            row += [size, size * at, at, trip / at]
        else:
            row += [0.0, 0.0, 0.0, 0.0]
        row += [trip, n, self.unroll[-1]]
        self.rows.append(row)
        st_ = self.stats
        st_[0] += flops * trip
        st_[1] += 1
        st_[3] += counts[F_MATH] * trip

    def _atom_spans(self, atom: Any, k: int, loops: list[_Loop], env_all: dict, dep: set,
                    flat: dict, row_stride: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-level (lo, hi) of ``k * atom`` (None: unknown); adds the atom's loop vars to
        ``dep`` and its finite differences to the strides ``flat``."""
        binds = self.binds
        avars = _loop_vars(atom, binds)
        dep |= avars
        env = dict(env_all)
        b = p0 = _bounds(atom, binds, env)
        if p0 is None:
            return None
        n = len(loops)
        lo = np.empty(n + 1)
        hi = np.empty(n + 1)
        for lvl in range(n, -1, -1):
            if lvl < n:
                lp = loops[lvl]
                if lp.var in avars:
                    env[lp.var] = (lp.min, lp.min + lp.extent - 1)
                    b = _bounds(atom, binds, env)
                    if b is None:
                        return None
                    e1 = dict(env_all)
                    e1[lp.var] = (lp.min + 1, lp.min + 1)
                    p1 = _bounds(atom, binds, e1)
                    if p1 is not None:
                        flat[lp.var] = flat.get(lp.var, 0) + k * (p1[0] - p0[0]) * row_stride
            lo[lvl], hi[lvl] = (k * b[0], k * b[1]) if k > 0 else (k * b[1], k * b[0])
        return lo, hi

    def _buffer_info(self, a: _Access, loops: list[_Loop], pos: dict, ext_m1: np.ndarray,
                     env_all: dict, trip: int, vec_var: Any) -> dict:
        buf = a.buffer
        binds = self.binds
        n = len(loops)
        shape = [_int(s, 1) for s in buf.shape] or [1]
        nd = len(shape)
        rs = [1] * nd
        for d in range(nd - 2, -1, -1):
            rs[d] = rs[d + 1] * shape[d + 1]
        eb = dt.itemsize(buf.dtype) if buf.dtype in dt.DTYPE_BITS else 4
        lo_all = hi_all = None
        flat: dict = {}  # loop var -> flattened stride (the first access defines it)
        dep: set = set()
        for idx in a.dims:
            per_dim_flat: dict = {}
            coefs = np.zeros((nd, n))
            base = np.zeros(nd)
            extra: list = []
            unknown: list[int] = []
            for d, e in enumerate(idx):
                coef, c0 = _affine(e, binds)
                b0 = c0
                for v, k in coef.items():
                    if not k:
                        continue
                    if type(v) is Var:
                        b0 += k * env_all.get(v, (0, 0))[0]
                        dep.add(v)
                        per_dim_flat[v] = per_dim_flat.get(v, 0) + k * rs[d]
                        j = pos.get(v)
                        if j is not None:
                            coefs[d, j] = k
                    else:
                        sp = self._atom_spans(v, k, loops, env_all, dep, per_dim_flat, rs[d])
                        if sp is None:
                            unknown.append(d)
                        else:
                            extra.append((d, sp))
                base[d] = b0
            w = coefs * ext_m1
            lo = np.zeros((n + 1, nd))
            hi = np.zeros((n + 1, nd))
            if n:
                hi[:n] = np.cumsum(np.maximum(w, 0.0)[:, ::-1], axis=1)[:, ::-1].T
                lo[:n] = np.cumsum(np.minimum(w, 0.0)[:, ::-1], axis=1)[:, ::-1].T
            lo += base
            hi += base
            for d, (elo, ehi) in extra:
                lo[:, d] += elo
                hi[:, d] += ehi
            for d in unknown:
                lo[:, d] = 0
                hi[:, d] = shape[d] - 1
            if lo_all is None:
                lo_all, hi_all = lo, hi
            else:
                lo_all = np.minimum(lo_all, lo)
                hi_all = np.maximum(hi_all, hi)
            for v, k in per_dim_flat.items():
                if v not in flat:
                    flat[v] = k
        shape_a = np.array(shape, dtype=np.float64)
        spans = np.minimum(hi_all, shape_a - 1) - np.maximum(lo_all, 0) + 1
        spans = np.clip(spans, 1, shape_a)
        numel = spans.prod(axis=1)
        full = spans == shape_a
        run = spans[:, -1].copy()
        cont = full[:, -1].copy()
        for d in range(nd - 2, -1, -1):
            run = np.where(cont, run * spans[:, d], run)
            cont &= full[:, d]
        lines = numel / run * np.ceil(run * eb / self.ext.cache_line_bytes)
        # reuse: the innermost loop that does not move any access of this buffer
        reuse_level = None
        for lvl in range(n - 1, -1, -1):
            if loops[lvl].var not in dep:
                reuse_level = lvl
                break
        if reuse_level is not None:
            reuse_type = (1.0, 0.0, 0.0)
            dis_iter = 1
            for lp in loops[reuse_level + 1:]:
                dis_iter *= lp.extent
            reuse_ct = loops[reuse_level].extent
        elif a.read and a.write:
            reuse_type, dis_iter, reuse_ct = (0.0, 1.0, 0.0), 0, a.n - 1
        else:
            reuse_type, dis_iter, reuse_ct = (0.0, 0.0, 1.0), 0, 0
        stride = 0
        for lp in reversed(loops):
            k = flat.get(lp.var, 0)
            if k:
                stride = abs(k)
                break
        if n:
            outer = trip // loops[-1].extent
            line_loads = outer * lines[n - 1]
        else:
            line_loads = lines[0]
        return {
            "read": a.read, "write": a.write, "eb": eb, "numel": numel,
            "touched": numel * eb,
            "bytes": float(trip * a.n * eb), "unique_bytes": float(numel[0] * eb),
            "lines": float(line_loads), "unique_lines": float(lines[0]),
            "reuse_level": reuse_level, "reuse_type": reuse_type,
            "reuse_dis_iter": float(dis_iter), "reuse_dis_bytes": 0.0,
            "reuse_ct": float(reuse_ct), "stride": float(stride),
            "inner_stride": float(abs(flat.get(loops[-1].var, 0))) if n else 0.0,
            "vec_stride": float(abs(flat.get(vec_var, 0))) if vec_var is not None else 0.0,
        }


def _static(buf: Any) -> bool:
    return all(type(s) is IntImm for s in buf.shape)


# ---------------------------------------------------------------------------------------


def _as_func(obj: Any) -> PrimFunc:
    """The PrimFunc of a MeasureCandidate, Schedule, IRModule or PrimFunc."""
    sch = getattr(obj, "sch", None)
    if sch is not None:
        obj = sch
    func = getattr(obj, "func", None)
    if isinstance(func, PrimFunc):
        return func
    mod = getattr(obj, "mod", obj)
    if isinstance(mod, PrimFunc):
        return mod
    if isinstance(mod, IRModule):
        prims = {k: f for k, f in mod.functions.items() if isinstance(f, PrimFunc)}
        if "main" in prims:
            return prims["main"]
        if len(prims) == 1:
            return next(iter(prims.values()))
        raise ValueError(f"PerStoreFeature: the module has {len(prims)} PrimFuncs and no "
                         "'main'; pass one PrimFunc")
    raise TypeError("PerStoreFeature: expected a MeasureCandidate, Schedule, IRModule or "
                    f"PrimFunc, got {type(obj).__name__}")


class PerStoreFeature(FeatureExtractor):
    """One feature row per BufferStore (see docs/features.md for every slot).

    ``buffers_per_store`` buffer slots per row (padded with zeros or truncated),
    ``arith_intensity_curve_num_samples`` samples of the arithmetic intensity curve,
    ``cache_line_bytes`` for the line counts, ``extract_workload`` appends features of
    the unscheduled workload (``context.mod``) to every row.
    """

    def __init__(self, buffers_per_store: int = 5, arith_intensity_curve_num_samples: int = 10,
                 cache_line_bytes: int = 64, extract_workload: bool = False):
        for name, v in (("buffers_per_store", buffers_per_store),
                        ("arith_intensity_curve_num_samples", arith_intensity_curve_num_samples),
                        ("cache_line_bytes", cache_line_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"PerStoreFeature: {name} must be a positive int, got {v!r}")
        self.buffers_per_store = buffers_per_store
        self.arith_intensity_curve_num_samples = arith_intensity_curve_num_samples
        self.cache_line_bytes = cache_line_bytes
        self.extract_workload = bool(extract_workload)
        table = self.feature_table()
        self._log_mask = np.array([f.scaling == ft.LOG for f in table])
        self._n_plain = len(ft.feature_table(buffers_per_store,
                                             arith_intensity_curve_num_samples, False))
        self._wl_cache: tuple[Any, np.ndarray] | None = None

    def feature_table(self) -> list[ft.Feature]:
        """The (name, meaning, scaling) of every slot, in order."""
        return ft.feature_table(self.buffers_per_store, self.arith_intensity_curve_num_samples,
                                self.extract_workload)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.feature_table()]

    @property
    def feature_vector_length(self) -> int:
        return len(self._log_mask)

    def _raw(self, func: PrimFunc) -> tuple[list[list[float]], list[float]]:
        w = _Walker(self)
        w.visit(func.body)
        return w.rows, w.stats

    def extract_func(self, func: Any, workload: Any = None) -> np.ndarray:
        """The (n_stores, feature_vector_length) float32 matrix of one scheduled function
        (a PrimFunc, IRModule, Schedule or MeasureCandidate)."""
        rows, _ = self._raw(_as_func(func))
        m = np.array(rows, dtype=np.float64).reshape(len(rows), self._n_plain)
        if self.extract_workload:
            wl = self._workload_features(workload)
            m = np.concatenate([m, np.broadcast_to(wl, (len(rows), len(wl)))], axis=1)
        m = np.where(self._log_mask, np.log2(1.0 + np.abs(m)), m)
        return m.astype(np.float32)

    def _workload_features(self, mod: Any) -> np.ndarray:
        if mod is None:
            raise ValueError("PerStoreFeature(extract_workload=True) needs a TuneContext with "
                             "mod (the unscheduled workload)")
        if self._wl_cache is not None and self._wl_cache[0] is mod:
            return self._wl_cache[1]
        func = _as_func(mod)
        _, stats = self._raw(func)
        params = [p for p in func.params if _static(p)]
        wl = np.array([stats[0], stats[1], stats[2], len(func.params),
                       sum(p.nbytes() for p in params), stats[3]], dtype=np.float64)
        self._wl_cache = (mod, wl)
        return wl

    def extract_from(self, context: Any, candidates: list[Any]) -> list[np.ndarray]:
        """One (n_stores, feature_vector_length) float32 array per candidate."""
        wl = getattr(context, "mod", None) if self.extract_workload else None
        return [self.extract_func(c, wl) for c in candidates]


def write_docs(path: str) -> None:
    """Write docs/features.md from the feature table."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(ft.features_markdown())


if __name__ == "__main__":  # python -m onnxtune.tuner.feature_extractor.per_store_feature
    import sys

    write_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/features.md")

"""A slow, exact reference interpreter of (unlowered) PrimFuncs, used as a test oracle.

``run(func, *arrays)`` executes ``func`` on numpy arrays in place (destination passing,
like a built module). Semantics follow TensorIR: loops of every kind run sequentially in
order; a block instance is skipped when its predicate is false; a block's ``init`` runs
when every reduce iter var is bound to its domain's min; intermediates
(``alloc_buffers``) start as NaN (floats) or garbage (integers) so a read before a write
shows. Integers are Python ints wrapped to their width; integer ``Div``/``Mod``
truncate (C), ``FloorDiv``/``FloorMod`` floor; floats are numpy scalars of their dtype,
so float16/float32 rounding is that of the machine. Out-of-bounds accesses, bindings
outside an iter var's domain and ill-typed stores raise :class:`InterpError` naming the
block and buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import dtype as dt
from .buffer import Buffer
from .expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    Broadcast,
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
    Ramp,
    Reduce,
    Select,
    StringImm,
    Sub,
    Var,
)
from .function import IRModule, PrimFunc
from .printer import astext
from .stmt import (
    Allocate,
    Block,
    BlockRealize,
    BufferStore,
    Evaluate,
    For,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)

Env = dict[Var, Any]
Fn = Callable[[Env], Any]


class InterpError(RuntimeError):
    """The program did something invalid (out-of-bounds access, bad binding, ...)."""


def run(func: PrimFunc | IRModule, *arrays: np.ndarray) -> None:
    """Execute ``func`` on ``arrays`` (one per parameter, outputs included), in place."""
    if isinstance(func, IRModule):
        names = list(func)
        if "main" in func:
            func = func["main"]
        elif len(names) == 1:
            func = func[names[0]]
        else:
            raise ValueError(f"interp.run: the IRModule has several functions {names}; pass one")
    if not isinstance(func, PrimFunc):
        raise TypeError(f"interp.run: expected a PrimFunc, got {type(func).__name__}")
    if len(arrays) != len(func.params):
        names = ", ".join(p.name for p in func.params)
        raise ValueError(
            f"interp.run: the function takes {len(func.params)} arrays ({names}), "
            f"got {len(arrays)}"
        )
    it = _Interp()
    env: Env = {}
    for buf, arr in zip(func.params, arrays, strict=True):
        it.arrays[buf] = _check_arg(buf, arr, env)
    with np.errstate(all="ignore"):
        it.stmt(func.body)(env)


def _check_arg(buf: Buffer, arr: Any, env: Env) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"interp.run: parameter {buf.name} needs a numpy array, got {arr!r}")
    if arr.dtype != np.dtype(buf.dtype):
        raise ValueError(
            f"interp.run: parameter {buf.name} has dtype {buf.dtype}, the array {arr.dtype}"
        )
    if arr.ndim != len(buf.shape):
        raise ValueError(
            f"interp.run: parameter {buf.name} has {len(buf.shape)} dimensions, the array "
            f"has shape {arr.shape}"
        )
    for d, s in enumerate(buf.shape):
        if isinstance(s, Var) and s not in env:
            env[s] = arr.shape[d]
    for d, s in enumerate(buf.shape):
        want = _Interp().expr(s)(env)
        if want != arr.shape[d]:
            shape = ", ".join(astext(x) for x in buf.shape)
            raise ValueError(
                f"interp.run: parameter {buf.name} has shape ({shape}), the array {arr.shape}"
            )
    return arr


# ----------------------------------------------------------------------------------------
# scalar semantics


def _wrapper(dtype: str) -> Callable[[int], Any]:
    if dtype == "bool":
        return lambda x: bool(x & 1)
    b = dt.bits(dtype)
    mask = (1 << b) - 1
    if dt.is_uint(dtype):
        return lambda x: x & mask
    half = 1 << (b - 1)
    lo, hi = -half, half

    def wrap(x: int) -> int:
        if lo <= x < hi:
            return x
        return ((x + half) & mask) - half

    return wrap


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _int_fmod(a: int, b: int) -> int:
    if b == 0:
        raise InterpError("integer fmod by zero")
    return a - b * _tdiv(a, b)


def _int_ops(wrap: Callable[[int], Any]) -> dict[type, Callable[[Any, Any], Any]]:
    return {
        Add: lambda a, b: wrap(a + b),
        Sub: lambda a, b: wrap(a - b),
        Mul: lambda a, b: wrap(a * b),
        Div: lambda a, b: wrap(_tdiv(a, b)),
        Mod: lambda a, b: wrap(a - b * _tdiv(a, b)),
        FloorDiv: lambda a, b: wrap(a // b),
        FloorMod: lambda a, b: wrap(a % b),
        Min: lambda a, b: a if a <= b else b,
        Max: lambda a, b: a if a >= b else b,
    }


_FLOAT_OPS: dict[type, Callable[[Any, Any], Any]] = {
    Add: lambda a, b: a + b,
    Sub: lambda a, b: a - b,
    Mul: lambda a, b: a * b,
    Div: lambda a, b: a / b,
    Mod: np.fmod,
    FloorDiv: lambda a, b: np.floor(a / b),
    FloorMod: lambda a, b: a - np.floor(a / b) * b,
    Min: np.minimum,
    Max: np.maximum,
}

_CMP_OPS: dict[type, Callable[[Any, Any], bool]] = {
    EQ: lambda a, b: bool(a == b),
    NE: lambda a, b: bool(a != b),
    LT: lambda a, b: bool(a < b),
    LE: lambda a, b: bool(a <= b),
    GT: lambda a, b: bool(a > b),
    GE: lambda a, b: bool(a >= b),
}


def _sigmoid(x: Any) -> Any:
    one = type(x)(1)
    return one / (one + np.exp(-x))


_FLOAT_CALLS: dict[str, Callable[..., Any]] = {
    "exp": np.exp,
    "exp2": np.exp2,
    "log": np.log,
    "log2": np.log2,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: type(x)(1) / np.sqrt(x),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "erf": lambda x: type(x)(math.erf(float(x))),
    "sin": np.sin,
    "cos": np.cos,
    "abs": np.abs,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.rint,
    "trunc": np.trunc,
    "pow": np.power,
    "fmod": np.fmod,
}


def _cast_fn(src: str, dst: str) -> Callable[[Any], Any]:
    if dt.is_float(dst):
        ty = np.dtype(dst).type
        return lambda x: ty(x)
    if dst == "bool":
        return lambda x: bool(x != 0)
    wrap = _wrapper(dst)
    if dt.is_float(src):
        indefinite = dt.min_value(dst)

        def from_float(x: Any) -> Any:
            if not np.isfinite(x):
                return indefinite
            return wrap(int(np.trunc(x)))

        return from_float
    return lambda x: wrap(int(x))


# ----------------------------------------------------------------------------------------
# the interpreter: IR nodes → closures over an environment of variable values


class _Interp:
    def __init__(self) -> None:
        self.arrays: dict[Buffer, np.ndarray] = {}

    # -- expressions ----------------------------------------------------------------------
    def expr(self, e: PrimExpr) -> Fn:
        fn = getattr(self, "e_" + type(e).__name__, None)
        if fn is None:
            for k in type(e).__mro__[1:]:
                fn = getattr(self, "e_" + k.__name__, None)
                if fn is not None:
                    break
        if fn is None:
            raise NotImplementedError(f"interp: expression {type(e).__name__} ({astext(e)})")
        return fn(e)

    def e_Var(self, v: Var) -> Fn:
        def f(env: Env) -> Any:
            try:
                return env[v]
            except KeyError:
                raise InterpError(f"variable {v.name} is used but not bound") from None

        return f

    def e_IntImm(self, e: IntImm) -> Fn:
        v = bool(e.value) if e.dtype == "bool" else e.value
        return lambda env: v

    def e_FloatImm(self, e: FloatImm) -> Fn:
        v = np.dtype(e.dtype).type(e.value)
        return lambda env: v

    def e_StringImm(self, e: StringImm) -> Fn:
        return lambda env: e.value

    def e_BinaryOp(self, e: Any) -> Fn:
        a, b = self.expr(e.a), self.expr(e.b)
        if dt.is_float(e.dtype):
            op = _FLOAT_OPS[type(e)]
            return lambda env: op(a(env), b(env))
        op = _int_ops(_wrapper(e.dtype))[type(e)]
        if type(e) in (Div, Mod, FloorDiv, FloorMod):
            text = astext(e)

            def div(env: Env) -> Any:
                x, y = a(env), b(env)
                if y == 0:
                    raise InterpError(f"integer division by zero in {text}")
                return op(x, y)

            return div
        return lambda env: op(a(env), b(env))

    def e_CmpOp(self, e: Any) -> Fn:
        a, b, op = self.expr(e.a), self.expr(e.b), _CMP_OPS[type(e)]
        return lambda env: op(a(env), b(env))

    def e_And(self, e: And) -> Fn:
        a, b = self.expr(e.a), self.expr(e.b)
        return lambda env: bool(a(env)) and bool(b(env))

    def e_Or(self, e: Or) -> Fn:
        a, b = self.expr(e.a), self.expr(e.b)
        return lambda env: bool(a(env)) or bool(b(env))

    def e_Not(self, e: Not) -> Fn:
        a = self.expr(e.a)
        return lambda env: not a(env)

    def e_Cast(self, e: Cast) -> Fn:
        a, conv = self.expr(e.value), _cast_fn(e.value.dtype, e.dtype)
        return lambda env: conv(a(env))

    def e_Select(self, e: Select) -> Fn:  # both sides evaluated, as in the IR's contract
        c, t, f = self.expr(e.condition), self.expr(e.true_value), self.expr(e.false_value)

        def sel(env: Env) -> Any:
            cv, tv, fv = c(env), t(env), f(env)
            return tv if cv else fv

        return sel

    def e_Let(self, e: Let) -> Fn:
        val, body, var = self.expr(e.value), self.expr(e.body), e.var

        def let(env: Env) -> Any:
            old = env.get(var, _MISSING)
            env[var] = val(env)
            try:
                return body(env)
            finally:
                _restore(env, var, old)

        return let

    def e_BufferLoad(self, e: BufferLoad) -> Fn:
        buf, idx = e.buffer, [self.expr(i) for i in e.indices]
        conv = _load_conv(buf.dtype)

        def load(env: Env) -> Any:
            arr = self._array(buf)
            ix = tuple(f(env) for f in idx)
            _bounds(buf, arr, ix, "load from")
            return conv(arr[ix])

        return load

    def e_Call(self, e: Call) -> Fn:
        args = [self.expr(a) for a in e.args]
        if e.op == "if_then_else":
            c, t, f = args
            return lambda env: t(env) if c(env) else f(env)
        if e.op == "reinterpret":
            a, f = args[0], _reinterpret_fn(e.args[0].dtype, e.dtype)
            return lambda env: f(a(env))
        if e.op == "isnan":
            a = args[0]
            return lambda env: bool(np.isnan(a(env)))
        if e.op == "abs" and not dt.is_float(e.dtype):
            a, wrap = args[0], _wrapper(e.dtype)
            return lambda env: wrap(abs(a(env)))
        if e.op == "fmod" and not dt.is_float(e.dtype):
            a, b, wrap = args[0], args[1], _wrapper(e.dtype)
            return lambda env: wrap(_int_fmod(a(env), b(env)))
        fn = _FLOAT_CALLS.get(e.op)
        if fn is None or not dt.is_float(e.dtype):
            raise NotImplementedError(f"interp: call {e.op} of dtype {e.dtype}")
        ty = np.dtype(e.dtype).type
        if len(args) == 1:
            a = args[0]
            return lambda env: ty(fn(a(env)))
        return lambda env: ty(fn(*(f(env) for f in args)))

    def e_Reduce(self, e: Reduce) -> Fn:
        raise InterpError("a te Reduce is not valid TIR; build the function with create_prim_func")

    def e_Ramp(self, e: Ramp | Broadcast) -> Fn:
        raise NotImplementedError(
            f"interp: vector expressions ({type(e).__name__}) appear only after lowering; "
            f"run the interpreter on the unlowered function"
        )

    e_Broadcast = e_Ramp

    # -- statements ---------------------------------------------------------------------
    def stmt(self, s: Stmt) -> Fn:
        fn = getattr(self, "s_" + type(s).__name__, None)
        if fn is None:
            raise NotImplementedError(f"interp: statement {type(s).__name__}")
        return fn(s)

    def s_SeqStmt(self, s: SeqStmt) -> Fn:
        parts = [self.stmt(x) for x in s.seq]

        def run_seq(env: Env) -> None:
            for p in parts:
                p(env)

        return run_seq

    def s_For(self, s: For) -> Fn:
        lo, ext, body, var = self.expr(s.min), self.expr(s.extent), self.stmt(s.body), s.loop_var

        def loop(env: Env) -> None:
            old = env.get(var, _MISSING)
            start = lo(env)
            for x in range(start, start + ext(env)):
                env[var] = x
                body(env)
            _restore(env, var, old)

        return loop

    def s_BufferStore(self, s: BufferStore) -> Fn:
        buf = s.buffer
        if s.value.dtype != buf.dtype:
            raise InterpError(
                f"store of a {s.value.dtype} value into the {buf.dtype} buffer {buf.name}"
            )
        val, idx = self.expr(s.value), [self.expr(i) for i in s.indices]
        narrow = dt.is_narrow(buf.dtype)
        storage = dt.storage_dtype(buf.dtype)

        def store(env: Env) -> None:
            arr = self._array(buf)
            ix = tuple(f(env) for f in idx)
            _bounds(buf, arr, ix, "store to")
            if narrow:
                arr.view(storage)[ix] = val(env)
            else:
                arr[ix] = val(env)

        return store

    def s_Evaluate(self, s: Evaluate) -> Fn:
        v = self.expr(s.value)
        return lambda env: v(env) and None

    def s_IfThenElse(self, s: IfThenElse) -> Fn:
        c, t = self.expr(s.condition), self.stmt(s.then_case)
        f = self.stmt(s.else_case) if s.else_case is not None else None

        def branch(env: Env) -> None:
            if c(env):
                t(env)
            elif f is not None:
                f(env)

        return branch

    def s_LetStmt(self, s: LetStmt) -> Fn:
        val, body, var = self.expr(s.value), self.stmt(s.body), s.var

        def let(env: Env) -> None:
            old = env.get(var, _MISSING)
            env[var] = val(env)
            body(env)
            _restore(env, var, old)

        return let

    def s_Allocate(self, s: Allocate) -> Fn:
        body, alloc = self.stmt(s.body), self._allocator(s.buffer)

        def run_alloc(env: Env) -> None:
            old = self.arrays.get(s.buffer)
            self.arrays[s.buffer] = alloc(env)
            body(env)
            _restore(self.arrays, s.buffer, old if old is not None else _MISSING)

        return run_alloc

    def s_Block(self, b: Block) -> Fn:
        if b.iter_vars:
            raise InterpError(f"block {b.name_hint} has iter vars but no BlockRealize binds them")
        return self.s_BlockRealize(BlockRealize((), IntImm(1, "bool"), b))

    def s_BlockRealize(self, r: BlockRealize) -> Fn:
        b = r.block
        name = b.name_hint
        if len(r.iter_values) != len(b.iter_vars):
            raise InterpError(
                f"block {name}: {len(b.iter_vars)} iter vars but {len(r.iter_values)} bindings"
            )
        pred = self.expr(r.predicate)
        values = [self.expr(v) for v in r.iter_values]
        doms = [(self.expr(iv.dom.min), self.expr(iv.dom.extent)) for iv in b.iter_vars]
        bvars = [iv.var for iv in b.iter_vars]
        reduce_ix = [k for k, iv in enumerate(b.iter_vars) if iv.iter_type == IterType.COMM_REDUCE]
        init = self.stmt(b.init) if b.init is not None else None
        body = self.stmt(b.body)
        allocs = [(buf, self._allocator(buf)) for buf in b.alloc_buffers]

        def realize(env: Env) -> None:
            if not pred(env):
                return
            vals = [f(env) for f in values]
            mins = []
            for k, (lo, ext) in enumerate(doms):
                m, x, v = lo(env), ext(env), vals[k]
                if not m <= v < m + x:
                    raise InterpError(
                        f"block {name}: iter var {bvars[k].name} is bound to {v}, outside its "
                        f"domain [{m}, {m + x})"
                    )
                mins.append(m)
            saved = [env.get(v, _MISSING) for v in bvars]
            for v, x in zip(bvars, vals, strict=True):
                env[v] = x
            saved_arrays = [(buf, self.arrays.get(buf)) for buf, _ in allocs]
            for buf, alloc in allocs:
                self.arrays[buf] = alloc(env)
            try:
                if init is not None and all(vals[k] == mins[k] for k in reduce_ix):
                    init(env)
                body(env)
            except InterpError as err:
                if not getattr(err, "located", False):
                    err.args = (f"in block {name}: {err.args[0]}",)
                    err.located = True  # type: ignore[attr-defined]
                raise
            for buf, old in saved_arrays:
                _restore(self.arrays, buf, old if old is not None else _MISSING)
            for v, old in zip(bvars, saved, strict=True):
                _restore(env, v, old)

        return realize

    # -- buffers ------------------------------------------------------------------------
    def _array(self, buf: Buffer) -> np.ndarray:
        try:
            return self.arrays[buf]
        except KeyError:
            raise InterpError(
                f"buffer {buf.name} is neither a parameter nor allocated where it is used"
            ) from None

    def _allocator(self, buf: Buffer) -> Callable[[Env], np.ndarray]:
        shape = [self.expr(s) for s in buf.shape]
        dtype = np.dtype(buf.dtype)

        def alloc(env: Env) -> np.ndarray:
            shp = tuple(f(env) for f in shape)
            if dt.is_float(buf.dtype):
                return np.full(shp, np.nan, dtype)
            if buf.dtype == "bool":
                return np.ones(shp, dtype)
            if dt.is_narrow(buf.dtype):
                return np.full(shp, 0x5A, dt.storage_dtype(buf.dtype)).view(dtype)
            return np.full(shp, dt.min_value(buf.dtype) + 7, dtype)

        return alloc


_MISSING = object()


def _restore(env: dict, key: Any, old: Any) -> None:
    if old is _MISSING:
        env.pop(key, None)
    else:
        env[key] = old


def _load_conv(dtype: str) -> Callable[[Any], Any]:
    if dtype == "bool":
        return bool
    if dt.is_narrow(dtype):  # a narrow value is its storage bits
        storage = dt.to_numpy(dt.storage_dtype(dtype))
        return lambda x: int(np.asarray(x).view(storage))
    if dt.is_float(dtype):
        return lambda x: x
    return int


def _reinterpret_fn(src: str, dst: str) -> Callable[[Any], Any]:
    """Scalar ``reinterpret``: ints and narrow values are Python ints, floats numpy scalars."""
    ubits = np.dtype(f"uint{dt.bits(src)}")
    mask = (1 << dt.bits(src)) - 1
    if dt.is_float(src):
        def to_bits(v: Any) -> int:
            return int(np.asarray(v, dt.to_numpy(src)).view(ubits))
    else:
        def to_bits(v: Any) -> int:
            return int(v) & mask
    if dt.is_float(dst):
        fdt = dt.to_numpy(dst)
        return lambda v: np.asarray(to_bits(v), ubits).view(fdt)[()]
    if dt.is_narrow(dst):
        return to_bits
    wrap = _wrapper(dst)
    return lambda v: wrap(to_bits(v))


def _bounds(buf: Buffer, arr: np.ndarray, ix: tuple, what: str) -> None:
    for d, i in enumerate(ix):
        if not 0 <= i < arr.shape[d]:
            raise InterpError(
                f"{what} buffer {buf.name} at index {list(ix)}: dimension {d} is out of "
                f"bounds for shape {arr.shape}"
            )

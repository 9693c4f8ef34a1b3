"""frontend.op: the registry, unary elementwise and broadcasting binary ops vs numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from op_helpers import check, ort_run, rand, run_op

from onnxtune.frontend.op import OpDef, OpPattern, get_op, list_ops


def test_registry_lists_and_rejects():
    names = list_ops()
    assert names == sorted(names)
    for n in ("add", "nn.conv2d", "matmul", "topk", "image.resize2d", "sum", "split"):
        assert n in names
    d = get_op("nn.conv2d")
    assert isinstance(d, OpDef) and d.pattern == OpPattern.OUT_EWISE_FUSABLE
    assert get_op("sum").pattern == OpPattern.COMM_REDUCE
    assert get_op("reshape").pattern == OpPattern.INJECTIVE
    assert get_op("add").pattern == OpPattern.BROADCAST
    assert get_op("exp").pattern == OpPattern.ELEMWISE
    assert get_op("topk").num_outputs == 2 and get_op("split").num_outputs is None
    with pytest.raises(KeyError, match="unknown op 'nn.conv9d'.*nn.conv2d"):
        get_op("nn.conv9d")


def _erf(x):
    return np.vectorize(math.erf)(x.astype(np.float64))


UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x),
    "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "erf": _erf,
    "relu": lambda x: np.maximum(x, 0), "abs": np.abs, "negative": np.negative,
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "reciprocal": lambda x: 1 / x,
    "sign": np.sign, "hard_swish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "softplus": lambda x: np.log1p(np.exp(x)), "identity": lambda x: x,
}
POSITIVE = {"log", "sqrt", "rsqrt"}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32(name):
    lo = 0.1 if name in POSITIVE else -4.0
    x = rand(3, 7, lo=lo, hi=4.0)
    if name == "round":
        x[0, :4] = [0.5, 1.5, -2.5, 2.5]  # half to even
    check(run_op(name, x), UNARY[name](x).astype(np.float32), 1e-5, 2e-6)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "relu", "abs", "negative"])
def test_unary_float16(name):
    x = rand(13, dtype="float16", lo=-3, hi=3)
    want = UNARY[name](x.astype(np.float32)).astype(np.float16)
    check(run_op(name, x), want)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_unary_int(dtype):
    x = rand(2, 5, dtype=dtype, lo=-5, hi=5)
    check(run_op("abs", x), np.abs(x))
    check(run_op("negative", x), -x)
    check(run_op("relu", x), np.maximum(x, 0))
    check(run_op("sign", x), np.sign(x))


def test_logical_not_and_astype():
    b = rand(4, 3, dtype="bool")
    check(run_op("logical_not", b), ~b)
    x = rand(5, 3, lo=-3, hi=3)
    x[0, 0] = 0.0
    check(run_op("astype", x, dtype="int32"), x.astype(np.int32))
    check(run_op("astype", x, dtype="bool"), x.astype(bool))
    check(run_op("astype", x, dtype="float16"), x.astype(np.float16))
    i = rand(7, dtype="int64")
    check(run_op("astype", i, dtype="float32"), i.astype(np.float32))
    check(run_op("astype", b, dtype="float32"), b.astype(np.float32))


def test_parametrized_activations():
    x = rand(4, 11, lo=-3, hi=3)
    check(run_op("leaky_relu", x, alpha=0.1), np.where(x >= 0, x, 0.1 * x))
    check(run_op("elu", x, alpha=0.7), np.where(x > 0, x, 0.7 * (np.exp(x) - 1)))
    a, g = 1.6732632423543772, 1.0507009873554805
    check(run_op("selu", x), (g * np.where(x > 0, x, a * (np.exp(x) - 1))).astype(np.float32))
    check(run_op("hard_sigmoid", x, alpha=0.3, beta=0.4), np.clip(0.3 * x + 0.4, 0, 1))
    check(run_op("clip", x, a_min=-0.5, a_max=1.0), np.clip(x, -0.5, 1.0))
    check(run_op("clip", x, a_max=1.0), np.minimum(x, 1.0))
    check(run_op("clip", x), x)
    xi = rand(9, dtype="int32")
    check(run_op("clip", xi, a_min=-2, a_max=3), np.clip(xi, -2, 3))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_vs_onnxruntime(approximate):
    x = rand(3, 17, lo=-4, hi=4)
    (want,) = ort_run("Gelu", [x], opset=20, approximate=approximate)
    check(run_op("gelu", x, approximate=approximate), want, 1e-5, 1e-5)


BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "equal": np.equal, "less": np.less,
    "greater": np.greater, "less_equal": np.less_equal, "greater_equal": np.greater_equal,
    "power": np.power, "floor_mod": np.mod, "fmod": np.fmod,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 5), (3, 5)), ((2, 1, 5), (3, 1)), ((1,), (7, 1))])
def test_binary_broadcast_float(name, shapes):
    a = rand(*shapes[0], lo=0.5 if name == "power" else -3, hi=3)
    b = rand(*shapes[1], lo=-3, hi=3)
    if name in ("divide", "floor_mod", "fmod"):
        b = np.where(np.abs(b) < 0.3, 1.0, b).astype(np.float32)
    b.flat[0] = a.flat[0]  # an equal pair for the comparisons
    check(run_op(name, a, b), BINARY[name](a, b), 1e-5, 1e-5)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_binary_int(dtype):
    a = rand(4, 6, dtype=dtype, lo=-20, hi=20)
    b = rand(6, dtype=dtype, lo=1, hi=6)
    b[::2] *= -1
    check(run_op("add", a, b), a + b)
    check(run_op("multiply", a, b), a * b)
    check(run_op("divide", a, b), (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))))
    check(run_op("floor_mod", a, b), np.mod(a, b))
    check(run_op("fmod", a, b), np.fmod(a, b))
    check(run_op("less", a, b), a < b)
    e = rand(6, dtype=dtype, lo=0, hi=3)
    check(run_op("power", np.abs(a) % 5, e), (np.abs(a) % 5) ** e)


def test_binary_float16_and_bool():
    a, b = rand(3, 4, dtype="float16"), rand(4, dtype="float16")
    check(run_op("add", a, b), a + b)
    check(run_op("multiply", a, b), a * b)
    p, q = rand(3, 4, dtype="bool"), rand(1, 4, dtype="bool")
    check(run_op("logical_and", p, q), p & q)
    check(run_op("logical_or", p, q), p | q)
    check(run_op("equal", p, q), p == q)


def test_where_and_broadcast_to():
    c = rand(3, 1, dtype="bool")
    x, y = rand(1, 5), rand(3, 5)
    check(run_op("where", c, x, y), np.where(c, x, y))
    xi, yi = rand(5, dtype="int64"), rand(2, 1, dtype="int64")
    check(run_op("where", c[:2], xi, yi), np.where(c[:2], xi, yi))
    z = rand(3, 1)
    check(run_op("broadcast_to", z, shape=(2, 3, 4)), np.broadcast_to(z, (2, 3, 4)))
    with pytest.raises(ValueError, match="broadcast"):
        run_op("broadcast_to", z, shape=(2, 4))


def test_incompatible_shapes_named():
    with pytest.raises(ValueError, match=r"add: shapes \[\(3, 5\), \(4,\)\]"):
        run_op("add", rand(3, 5), rand(4))

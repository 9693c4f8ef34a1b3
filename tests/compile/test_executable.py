"""compile.executable: programs of kernel calls, the memory plan, aliases, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune import compile as C
from onnxtune.compile.executable import Alias, Call, Executable, Program, VirtualMachine
from onnxtune.compile.memory_plan import Lifetime, plan_memory
from onnxtune.tir import te


def _kernel(fn, shapes, dtype="float32", n_out=1):
    ph = [te.placeholder(s, dtype, name=f"i{j}") for j, s in enumerate(shapes)]
    out = fn(*ph)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    assert len(outs) == n_out
    return te.create_prim_func(ph + outs)


def _matmul(m, k, n):
    def f(a, b):
        r = te.reduce_axis((0, k), name="k")
        return te.compute((m, n), lambda i, j: te.sum(a[i, r] * b[r, j], axis=r), name="mm")

    return _kernel(f, [(m, k), (k, n)])


def _bias_add(m, n):
    return _kernel(lambda a, b: te.compute((m, n), lambda i, j: a[i, j] + b[j], name="add"),
                   [(m, n), (n,)])


def _relu(*shape):
    return _kernel(lambda a: te.compute(shape, lambda *i: te.max(a[i], te.const(0.0)),
                                        name="relu"), [shape])


def _scale(shape, c):
    return _kernel(lambda a: te.compute(shape, lambda *i: a[i] * te.const(c), name="scale"),
                   [shape])


def _three_kernel_program():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    prog = Program(
        inputs=[("x", (7, 8), "float32")],
        constants={"W": w, "b": b},
        kernels={"mm": _matmul(7, 8, 5), "bias": _bias_add(7, 5), "relu": _relu(7, 5)},
        calls=[("mm", ["x", "W", "t0"]), ("bias", ["t0", "b", "t1"]), ("relu", ["t1", "y"])],
        outputs=[("y", "y")],
    )
    return prog, lambda x: np.maximum(x @ w + b, 0)


@pytest.mark.parametrize("driver", ["native", "python"])
def test_three_kernels_match_numpy(driver):
    prog, ref = _three_kernel_program()
    ex = Executable.build(prog, "llvm")
    vm = VirtualMachine(ex, driver=driver)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((7, 8)).astype(np.float32)
        np.testing.assert_allclose(vm["main"](x), ref(x), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(vm.run({"x": x})["y"], ref(x), rtol=1e-5, atol=1e-5)
    assert ex.get_inputs() == [("x", (7, 8), "float32")]
    assert ex.get_outputs() == [("y", (7, 5), "float32")]
    assert isinstance(C.VirtualMachine(ex), VirtualMachine)


@pytest.mark.parametrize("driver", ["native", "python"])
def test_profile_times_each_call_in_order(driver):
    prog, ref = _three_kernel_program()
    vm = VirtualMachine(Executable.build(prog), driver=driver)
    x = np.random.default_rng(3).standard_normal((7, 8)).astype(np.float32)
    prof = vm.profile(x, repeat=3)
    assert [name for name, _ in prof] == ["mm", "bias", "relu"]
    assert all(t > 0 for _, t in prof)
    # the VM still runs correctly afterwards (its own output arrays, not the profile's)
    np.testing.assert_allclose(vm["main"](x), ref(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        vm.profile(x, repeat=0)
    with pytest.raises(ValueError, match="has shape"):
        vm.profile(np.zeros((2, 2), np.float32))


def test_outputs_are_fresh_arrays():
    prog, ref = _three_kernel_program()
    vm = VirtualMachine(Executable.build(prog))
    x1 = np.ones((7, 8), np.float32)
    y1 = vm["main"](x1)
    y1_copy = y1.copy()
    vm["main"](np.full((7, 8), -1.0, np.float32))
    np.testing.assert_array_equal(y1, y1_copy)


def test_chain_reuses_memory():
    n = 12
    shape = (64, 33)
    calls = [("scale", ["x" if k == 0 else f"t{k - 1}", f"t{k}"]) for k in range(n)]
    prog = Program([("x", shape, "float32")], {}, {"scale": _scale(shape, 1.5)}, calls,
                   [("out", f"t{n - 1}")])
    ex = Executable.build(prog)
    plan = ex.plan
    plan.check()
    one = 64 * 33 * 4
    assert len(plan.offsets) == n - 1  # the last one is the output, not in the arena
    assert plan.arena_bytes < plan.total_bytes
    assert plan.arena_bytes <= 2 * (one + 64)  # two buffers ping-pong
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(VirtualMachine(ex)["main"](x), x * 1.5 ** n, rtol=1e-5)


def test_alias_reshape_is_free_and_outputs_through_aliases():
    prog = Program(
        inputs=[("x", (4, 6), "float32")],
        constants={},
        kernels={"relu": _relu(4, 6), "scale": _scale((3, 8), 2.0), "relu1": _relu(24)},
        calls=[
            ("relu", ["x", "a"]),
            Alias("a", "a2", (3, 8)),
            Call("scale", ("a2", "b")),
            Alias("x", "x_flat", (24,)),
            ("relu1", ["x_flat", "c"]),
            Alias("b", "b_flat", (24,)),
        ],
        outputs=[("b", "b_flat"), ("c", "c"), ("b_again", "b"), ("x_echo", "x_flat")],
    )
    ex = Executable.build(prog)
    assert ex.slots["a2"].root == "a" and ex.slots["b_flat"].root == "b"
    assert len(ex.module.functions) == 4  # three kernels and the driver; aliases call nothing
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    out = VirtualMachine(ex).run({"x": x})
    want_b = (np.maximum(x, 0).reshape(3, 8) * 2).reshape(24)
    np.testing.assert_allclose(out["b"], want_b, rtol=1e-6)
    np.testing.assert_allclose(out["b_again"], want_b.reshape(3, 8), rtol=1e-6)
    np.testing.assert_allclose(out["c"], np.maximum(x, 0).reshape(24), rtol=1e-6)
    np.testing.assert_array_equal(out["x_echo"], x.reshape(24))
    assert not np.shares_memory(out["b"], out["b_again"])
    assert not np.shares_memory(out["x_echo"], x)


def test_multi_output_kernel_and_constant_output():
    def split(a):
        lo = te.compute((2, 5), lambda i, j: a[i, j], name="lo")
        hi = te.compute((3, 5), lambda i, j: a[i + 2, j], name="hi")
        return lo, hi

    c = np.arange(6, dtype=np.int64)
    prog = Program(
        inputs=[("x", (5, 5), "float32")],
        constants={"c": c},
        kernels={"split": _kernel(split, [(5, 5)], n_out=2), "relu": _relu(3, 5)},
        calls=[("split", ["x", "lo", "hi"]), ("relu", ["hi", "r"])],
        outputs=[("r", "r"), ("c", "c")],
    )
    ex = Executable.build(prog)
    assert set(ex.plan.offsets) == {"lo", "hi"}  # lo is written but never read
    x = np.random.default_rng(3).standard_normal((5, 5)).astype(np.float32)
    r, cc = VirtualMachine(ex)["main"](x)
    np.testing.assert_array_equal(r, np.maximum(x[2:], 0))
    np.testing.assert_array_equal(cc, c)


def test_input_validation_names_the_input():
    prog, _ = _three_kernel_program()
    vm = VirtualMachine(Executable.build(prog))
    x = np.zeros((7, 8), np.float32)
    with pytest.raises(ValueError, match=r"takes 1 inputs \(x\), got 2"):
        vm["main"](x, x)
    with pytest.raises(ValueError, match=r"input 'x' has shape \(8, 7\); expected \(7, 8\)"):
        vm["main"](np.zeros((8, 7), np.float32))
    with pytest.raises(ValueError, match="input 'x' has dtype float64; expected float32"):
        vm["main"](np.zeros((7, 8)))
    with pytest.raises(ValueError, match="input 'x' is not C-contiguous"):
        vm["main"](np.zeros((8, 7), np.float32).T)
    with pytest.raises(ValueError, match="input 'x' is a list"):
        vm["main"]([[0.0] * 8] * 7)
    with pytest.raises(ValueError, match=r"unknown inputs \['y'\].*missing inputs \['x'\]"):
        vm.run({"y": x})
    with pytest.raises(KeyError, match="only the function 'main'"):
        vm["other"]


def test_program_errors():
    k = {"relu": _relu(4, 6)}
    with pytest.raises(ValueError, match="no kernel 'nope'"):
        Executable.build(Program([("x", (4, 6), "float32")], {}, k, [("nope", ["x", "y"])],
                                 [("y", "y")]))
    with pytest.raises(ValueError, match=r"expects float32\[4, 6\], slot 'x' holds"):
        Executable.build(Program([("x", (4, 5), "float32")], {}, k, [("relu", ["x", "y"])],
                                 [("y", "y")]))
    with pytest.raises(ValueError, match="undefined slot 'z'"):
        Executable.build(Program([("x", (4, 6), "float32")], {}, k, [("relu", ["x", "y"])],
                                 [("y", "z")]))
    with pytest.raises(ValueError, match="cannot view"):
        Executable.build(Program([("x", (4, 6), "float32")], {}, k,
                                 [Alias("x", "v", (5, 5))], [("v", "v")]))


def test_export_library_round_trip(tmp_path):
    from onnxtune.compile.export import load_executable

    prog, ref = _three_kernel_program()
    path = str(tmp_path / "model.onnxtune")
    Executable.build(prog).export_library(path)
    vm = VirtualMachine(load_executable(path))
    x = np.random.default_rng(7).standard_normal((7, 8)).astype(np.float32)
    np.testing.assert_allclose(vm["main"](x), ref(x), rtol=1e-5, atol=1e-5)


def test_memory_plan_random_lifetimes_never_overlap():
    rng = np.random.default_rng(4)
    for _ in range(50):
        bufs = []
        for k in range(int(rng.integers(1, 30))):
            s = int(rng.integers(0, 20))
            bufs.append(Lifetime(f"b{k}", int(rng.integers(0, 5000)), s,
                                 s + int(rng.integers(0, 6))))
        plan = plan_memory(bufs)
        plan.check()
        assert plan.arena_bytes <= plan.total_bytes
        assert all(o % 64 == 0 for o in plan.offsets.values())


def test_memory_plan_reuses_disjoint_lifetimes():
    bufs = [Lifetime("a", 1000, 0, 1), Lifetime("b", 1000, 1, 2), Lifetime("c", 1000, 2, 3),
            Lifetime("d", 500, 3, 4)]
    plan = plan_memory(bufs)
    plan.check()
    assert plan.offsets["a"] == plan.offsets["c"]
    assert plan.arena_bytes == 2 * 1024 < plan.total_bytes
    with pytest.raises(ValueError, match="unique"):
        plan_memory([Lifetime("a", 1, 0, 0), Lifetime("a", 1, 1, 1)])


def test_scheduled_parallel_kernel_in_a_program():
    from onnxtune.tir import Schedule

    func = _matmul(64, 32, 48)
    sch = Schedule(func)
    i, j, _ = sch.get_loops(sch.get_sblock("mm"))
    io, _ = sch.split(i, [None, 8])
    _, ji = sch.split(j, [None, 16])
    sch.parallel(io)
    sch.vectorize(ji)
    w = np.random.default_rng(5).standard_normal((32, 48)).astype(np.float32)
    prog = Program([("a", (64, 32), "float32")], {"w": w},
                   {"mm": sch.mod["main"], "relu": _relu(64, 48)},
                   [("mm", ["a", "w", "t"]), ("relu", ["t", "y"])], [("y", "y")])
    vm = VirtualMachine(Executable.build(prog))
    a = np.random.default_rng(6).standard_normal((64, 32)).astype(np.float32)
    np.testing.assert_allclose(vm["main"](a), np.maximum(a @ w, 0), rtol=1e-5, atol=1e-5)


def test_program_write_and_read_errors():
    k = {"relu": _relu(4, 6)}
    with pytest.raises(ValueError, match="writes parameter relu into slot 'x', which is "
                                         "already defined"):
        Executable.build(Program([("x", (4, 6), "float32")], {}, k, [("relu", ["x", "x"])],
                                 [("x", "x")]))
    with pytest.raises(ValueError, match="reads slot 'q' .* before anything defines it"):
        Executable.build(Program([("x", (4, 6), "float32")], {}, k, [("relu", ["q", "y"])],
                                 [("y", "y")]))


def test_random_dags_match_numpy():
    """Random DAGs of two kernels plus reshape aliases and random outputs: the planned
    arena never lets a live buffer be overwritten, on either driver."""
    shape, flat = (4, 6), (24,)

    def add(a, b):
        return te.compute(shape, lambda i, j: a[i, j] + b[i, j] * te.const(0.5), name="add")

    def neg1(a):
        return te.compute(flat, lambda i: te.const(1.0) - a[i], name="neg1")

    kernels = {"add": _kernel(add, [shape, shape]), "neg1": _kernel(neg1, [flat])}
    rng = np.random.default_rng(8)
    for trial in range(4):
        env_fns: list = []
        calls: list = []
        shapes = {"x": "2d", "c": "2d"}
        names = ["x", "c"]
        for k in range(25):
            t = f"t{k}"
            kind = rng.integers(0, 3)
            if kind == 0:
                a, b = (str(rng.choice([n for n in names if shapes[n] == "2d"]))
                        for _ in range(2))
                calls.append(("add", [a, b, t]))
                env_fns.append((t, lambda e, a=a, b=b: e[a] + e[b] * np.float32(0.5)))
                shapes[t] = "2d"
            elif kind == 1:
                a = str(rng.choice([n for n in names if shapes[n] == "1d"] or ["x"]))
                if shapes[a] == "2d":
                    calls.append(Alias(a, t + "f", flat))
                    env_fns.append((t + "f", lambda e, a=a: e[a].reshape(flat)))
                    shapes[t + "f"] = "1d"
                    names.append(t + "f")
                    a = t + "f"
                calls.append(("neg1", [a, t]))
                env_fns.append((t, lambda e, a=a: np.float32(1.0) - e[a]))
                shapes[t] = "1d"
            else:
                a = str(rng.choice([n for n in names if shapes[n] == "1d"] or ["x"]))
                if shapes[a] == "1d":
                    calls.append(Alias(a, t, shape))
                    env_fns.append((t, lambda e, a=a: e[a].reshape(shape)))
                    shapes[t] = "2d"
                else:
                    calls.append(Alias(a, t, flat))
                    env_fns.append((t, lambda e, a=a: e[a].reshape(flat)))
                    shapes[t] = "1d"
            names.append(t)
        outs = sorted({str(n) for n in rng.choice(names, 5)})
        c = rng.standard_normal(shape).astype(np.float32)
        prog = Program([("x", shape, "float32")], {"c": c}, kernels, calls,
                       [(f"out_{n}", n) for n in outs])
        ex = Executable.build(prog)
        ex.plan.check()
        x = rng.standard_normal(shape).astype(np.float32)
        env = {"x": x, "c": c}
        for name, fn in env_fns:
            env[name] = fn(env)
        for driver in ("native", "python"):
            got = VirtualMachine(ex, driver=driver).run({"x": x})
            for n in outs:
                np.testing.assert_allclose(got[f"out_{n}"], env[n], rtol=1e-6,
                                           err_msg=f"trial {trial} output {n}")

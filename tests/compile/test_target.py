"""compile.target: parsing TVM's string and JSON forms, defaults from the host, errors."""

from __future__ import annotations

import json
import os

import llvmlite.binding as llvm
import pytest

from onnxtune.compile.target import Target


def test_host_defaults():
    t = Target("llvm")
    assert t.kind == "llvm" and t.keys == ("cpu",)
    assert t.mcpu == llvm.get_host_cpu_name()
    assert t.num_cores == len(os.sched_getaffinity(0))
    assert t.triple == llvm.get_process_triple()
    assert t.opt_level == 3
    assert t.mattr == ()
    assert "+64bit" in t.features.split(",") or t.features  # the host's feature string
    assert str(t) == f"llvm -keys=cpu -mcpu={t.mcpu} -num-cores={t.num_cores}"
    assert Target.host() == t
    assert Target(str(t)) == t and hash(Target(str(t))) == hash(t)
    assert t.is_host


def test_host_vector_width_follows_features():
    t = Target.host()
    feats = set(t.features.split(","))
    want = 512 if "+avx512f" in feats else 256 if "+avx2" in feats else 128
    assert t.vector_width == want
    assert t.vector_lanes("float32") == want // 32
    assert t.vector_lanes("int8") == want // 8
    assert t.vector_lanes("bool") == want // 8
    assert t.vector_lanes("float64") == want // 64
    desc = t.describe()
    assert t.mcpu in desc and f"{t.num_cores} core" in desc
    if "+avx512f" in feats:
        assert "avx512f" in desc and "512-bit" in desc


def test_full_string_form():
    t = Target("llvm -mcpu=skylake-avx512 -mattr=+avx2,+fma -num-cores=4 -opt-level=2 "
               "-mtriple=x86_64-pc-linux-gnu")
    assert (t.mcpu, t.mattr, t.num_cores, t.opt_level) == ("skylake-avx512", ("+avx2", "+fma"),
                                                           4, 2)
    assert t.triple == "x86_64-pc-linux-gnu" and t.features == "+avx2,+fma"
    assert t.vector_width == 512  # -mattr adds to what the CPU has
    assert str(t) == ("llvm -keys=cpu -mcpu=skylake-avx512 -mtriple=x86_64-pc-linux-gnu "
                      "-mattr=+avx2,+fma -num-cores=4 -opt-level=2")
    assert Target(str(t)) == t
    assert not t.is_host


@pytest.mark.parametrize("cpu,width", [("skylake-avx512", 512), ("znver4", 512),
                                       ("haswell", 256), ("znver3", 256), ("x86-64", 128)])
def test_vector_width_of_named_cpus(cpu, width):
    t = Target(f"llvm -mcpu={cpu}")
    if t.is_host:
        pytest.skip("the host CPU's features decide")
    assert t.vector_width == width
    assert t.vector_lanes("float16") == width // 16


def test_mattr_minus_turns_off():
    t = Target("llvm -mcpu=skylake-avx512 -mattr=-avx512f")
    assert not t.has_feature("avx512f") and not t.has_feature("avx512bw")
    assert t.has_feature("avx2") and t.vector_width == 256
    t = Target("llvm -mcpu=skylake-avx512 -mattr=-avx2")
    assert t.vector_width == 128
    assert Target("llvm -mcpu=x86-64 -mattr=+avx512f").vector_width == 512


def test_dict_form_and_json_roundtrip():
    d = {"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2, "mattr": ["+avx512f"],
         "keys": ["cpu"]}
    t = Target(d)
    assert t.num_cores == 2 and t.mattr == ("+avx512f",) and t.vector_width == 512
    assert Target({"kind": "llvm", "mcpu": "skylake-avx512", "num_cores": 2,
                   "mattr": "+avx512f"}) == t
    j = t.as_json()
    assert j["kind"] == "llvm" and j["num-cores"] == 2 and j["mattr"] == ["+avx512f"]
    assert Target.from_json(j) == t
    assert Target.from_json(json.dumps(j)) == t
    assert Target(t) == t and Target(t) is not t
    host = Target.host()
    assert Target.from_json(host.as_json()) == host


def test_equality_and_hash():
    a = Target("llvm -mcpu=haswell -num-cores=2")
    b = Target({"kind": "llvm", "mcpu": "haswell", "num-cores": 2})
    c = Target("llvm -mcpu=haswell -num-cores=4")
    assert a == b and hash(a) == hash(b) and a != c
    assert len({a, b, c}) == 2
    assert a == "llvm -mcpu=haswell -num-cores=2"
    assert a != "not a target"


def test_cuda_is_described_not_built():
    t = Target("cuda -arch=sm_80")
    assert t.kind == "cuda" and t.arch == "sm_80" and t.keys == ("cuda", "gpu")
    assert str(t).startswith("cuda -keys=cuda,gpu -arch=sm_80")
    assert Target.from_json(t.as_json()) == t
    assert Target({"kind": "cuda", "arch": "sm_86", "max_num_threads": 512}).attrs[
        "max_num_threads"] == 512
    assert "sm_80" in t.describe()
    assert Target("cuda").arch == "sm_80"
    assert t != Target("llvm")


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("tvm", "unknown target kind 'tvm'"),
        ("", "empty"),
        ("llvm -mcpu", "malformed option '-mcpu'"),
        ("llvm mcpu=znver4", "malformed option 'mcpu=znver4'"),
        ("llvm -foo=1", "unknown option 'foo'"),
        ("llvm -num-cores=two", "not an integer"),
        ("llvm -num-cores=0", "at least 1"),
        ("llvm -opt-level=5", "out of range"),
        ("llvm -mattr=avx2", "must start with '+' or '-'"),
        ("llvm -mcpu=", "needs a value"),
        ("cuda -mcpu=znver4", "unknown option 'mcpu'"),
    ],
)
def test_errors_name_the_bad_part_and_what_is_accepted(text, fragment):
    with pytest.raises(ValueError, match="Accepted") as info:
        Target(text)
    assert fragment in str(info.value)


def test_error_lists_options_of_the_kind():
    with pytest.raises(ValueError) as info:
        Target("llvm -bogus=3")
    msg = str(info.value)
    assert "-mcpu=" in msg and "-num-cores=" in msg and "-mattr=" in msg
    with pytest.raises(ValueError, match="'llvm', 'cuda'"):
        Target("opencl")
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        Target({"kind": "llvm", "colour": "red"})
    with pytest.raises(ValueError, match="kind"):
        Target({"mcpu": "znver4"})
    with pytest.raises(TypeError, match="string, a dict or a Target"):
        Target(42)
    with pytest.raises(ValueError, match="unknown dtype 'complex64'"):
        Target.host().vector_lanes("complex64")


def test_data_layout_comes_from_llvm():
    layout = Target.host().data_layout
    assert layout.startswith("e-") and "i64:64" in layout

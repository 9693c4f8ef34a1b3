"""``Target``: what code is generated for (kind, CPU, features, cores), in TVM's forms."""

from __future__ import annotations

import functools
import json
import os
import shlex
from collections.abc import Mapping
from typing import Any

KINDS = ("llvm", "cuda")

#: options each kind accepts (TVM's spelling; ``_`` may stand for ``-`` in dicts)
OPTIONS: dict[str, tuple[str, ...]] = {
    "llvm": ("keys", "mcpu", "mtriple", "mattr", "num-cores", "opt-level"),
    "cuda": ("keys", "arch", "max_num_threads", "thread_warp_size",
             "max_shared_memory_per_block"),
}
_DEFAULT_KEYS = {"llvm": ("cpu",), "cuda": ("cuda", "gpu")}
_CUDA_DEFAULTS = {"max_num_threads": 1024, "thread_warp_size": 32,
                  "max_shared_memory_per_block": 49152}
_INT_OPTIONS = {"num-cores", "opt-level", "max_num_threads", "thread_warp_size",
                "max_shared_memory_per_block"}

# CPUs (LLVM names) whose widest vectors are 512 / 256 bits, for targets naming a -mcpu
# other than the host's without -mattr
_AVX512_CPUS = {
    "knl", "knm", "skylake-avx512", "skx", "cascadelake", "cooperlake", "cannonlake",
    "icelake-client", "icelake-server", "tigerlake", "rocketlake", "sapphirerapids",
    "emeraldrapids", "graniterapids", "graniterapids-d", "diamondrapids", "znver4", "znver5",
    "x86-64-v4",
}
_AVX2_CPUS = {
    "haswell", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "arrowlake",
    "arrowlake-s", "lunarlake", "pantherlake", "gracemont", "sierraforest", "grandridge",
    "clearwaterforest", "znver1", "znver2", "znver3", "bdver4", "x86-64-v3",
}
_BITS = {"bool": 8, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "float16": 16,
         "bfloat16": 16, "int32": 32, "uint32": 32, "float32": 32, "int64": 64,
         "uint64": 64, "float64": 64}


def host_num_cores() -> int:
    """The number of cores this process may run on (its CPU affinity, else cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.cache
def _process_triple() -> str:
    import llvmlite.binding as llvm

    return llvm.get_process_triple()


@functools.cache
def _host_cpu() -> tuple[str, tuple[str, ...]]:
    """The host CPU's LLVM name and feature list."""
    import llvmlite.binding as llvm

    name = llvm.get_host_cpu_name()
    try:
        feats = tuple(llvm.get_host_cpu_features().flatten().split(","))
    except RuntimeError:  # LLVM cannot list the features of this host
        feats = ()
    return name, feats


@functools.cache
def _host_feature_set() -> frozenset[str]:
    return frozenset(_host_cpu()[1])


def _implied_off(off: set[str]) -> tuple[str, ...]:
    """Feature-name prefixes that turning off ``off`` turns off too."""
    out: tuple[str, ...] = ()
    if off & {"avx", "avx2", "avx512f"}:
        out += ("avx512",)
    if "avx" in off:
        out += ("avx2", "fma", "f16c")
    return out


def _bad(what: str, kind: str | None = None) -> ValueError:
    if kind is None:
        accepted = "a kind (" + ", ".join(repr(k) for k in KINDS) + ")"
    else:
        accepted = f"for {kind!r}: " + ", ".join(f"-{o}=..." for o in OPTIONS[kind])
    return ValueError(
        f"Target: {what}. Accepted: {accepted}; e.g. 'llvm -mcpu=znver4 -num-cores=2', "
        f"'cuda -arch=sm_80', or a dict {{'kind': 'llvm', 'mcpu': ..., 'num-cores': 2}}"
    )


class Target:
    """A compilation target. ``Target("llvm")`` is the host CPU; also accepted:
    ``"llvm -mcpu=znver4 -mattr=+avx2,+fma -num-cores=2 -mtriple=... -opt-level=3"``,
    TVM's JSON form as a dict (``{"kind": "llvm", "mcpu": ..., "num-cores": 2}``), another
    Target, and ``"cuda -arch=sm_80"`` (described only: building for it is not supported).

    Attributes: ``kind``, ``keys``, ``mcpu``, ``mattr`` (the features given, e.g.
    ``("+avx2",)``), ``features`` (LLVM's feature string: ``mattr``, or the host's features
    when the CPU is the host's), ``num_cores``, ``triple``, ``opt_level``,
    ``vector_width`` (bits) and, for cuda, ``arch`` and its limits.
    """

    __slots__ = ("kind", "keys", "attrs", "_str", "_fset")

    def __init__(self, target: Any = "llvm"):
        if isinstance(target, Target):
            self.kind, self.keys, self.attrs = target.kind, target.keys, dict(target.attrs)
            self._str, self._fset = target._str, target._fset
            return
        if isinstance(target, str):
            kind, opts = self._parse_string(target)
        elif isinstance(target, Mapping):
            kind, opts = self._parse_dict(target)
        else:
            raise TypeError(
                f"Target: expected a string, a dict or a Target, got {type(target).__name__}"
            )
        self.kind = kind
        keys = opts.pop("keys", None)
        self.keys = tuple(keys) if keys else _DEFAULT_KEYS[kind]
        self.attrs = self._resolve(kind, opts)
        self._fset: frozenset[str] | None = None
        self._str = self._canonical()

    # -- parsing --------------------------------------------------------------------------
    @staticmethod
    def _parse_string(text: str) -> tuple[str, dict[str, Any]]:
        try:
            tokens = shlex.split(text)
        except ValueError as e:
            raise _bad(f"cannot split {text!r} into words ({e})") from None
        if not tokens:
            raise _bad("the target string is empty")
        kind = tokens[0]
        if kind not in KINDS:
            raise _bad(f"unknown target kind {kind!r} in {text!r}")
        opts: dict[str, Any] = {}
        for tok in tokens[1:]:
            if not tok.startswith("-") or "=" not in tok:
                hint = f" (write {tok}=<value>)" if tok.startswith("-") else ""
                raise _bad(f"malformed option {tok!r} in {text!r}{hint}", kind)
            key, value = tok.lstrip("-").split("=", 1)
            opts[Target._check_key(kind, key)] = Target._value(kind, key, value)
        return kind, opts

    @staticmethod
    def _parse_dict(d: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        kind = d.get("kind")
        if kind not in KINDS:
            raise _bad(f"unknown or missing target kind {kind!r} in {dict(d)!r}")
        opts: dict[str, Any] = {}
        for key, value in d.items():
            if key in ("kind", "tag", "host") or value is None:
                continue
            key = Target._check_key(kind, key)
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            opts[key] = Target._value(kind, key, str(value))
        return kind, opts

    @staticmethod
    def _check_key(kind: str, key: str) -> str:
        if key in OPTIONS[kind]:
            return key
        alt = key.replace("_", "-") if kind == "llvm" else key.replace("-", "_")
        if alt in OPTIONS[kind]:
            return alt
        raise _bad(f"unknown option {key!r} for target kind {kind!r}", kind)

    @staticmethod
    def _value(kind: str, key: str, value: str) -> Any:
        key = Target._check_key(kind, key)
        if key in ("keys", "mattr"):
            items = tuple(v.strip() for v in value.split(",") if v.strip())
            if key == "mattr":
                for it in items:
                    if it[0] not in "+-":
                        raise _bad(f"-mattr entry {it!r} must start with '+' or '-' "
                                   f"(e.g. '+{it}')", kind)
            return items
        if key in _INT_OPTIONS:
            try:
                n = int(value)
            except ValueError:
                raise _bad(f"-{key}={value!r} is not an integer", kind) from None
            if key == "opt-level" and not 0 <= n <= 3:
                raise _bad(f"-opt-level={n} is out of range (0 to 3)", kind)
            if key != "opt-level" and n < 1:
                raise _bad(f"-{key}={n} must be at least 1", kind)
            return n
        if not value:
            raise _bad(f"-{key}= needs a value", kind)
        return value

    @staticmethod
    def _resolve(kind: str, opts: dict[str, Any]) -> dict[str, Any]:
        if kind == "cuda":
            out = dict(_CUDA_DEFAULTS)
            out.update(opts)
            out.setdefault("arch", "sm_80")
            return out
        out = dict(opts)
        out.setdefault("num-cores", host_num_cores())
        out.setdefault("opt-level", 3)
        out.setdefault("mtriple", _process_triple())
        return out

    def _canonical(self) -> str:
        parts = [self.kind, "-keys=" + ",".join(self.keys)]
        if self.kind == "cuda":
            parts += [f"-{k}={self.attrs[k]}" for k in OPTIONS["cuda"][1:]]
            return " ".join(parts)
        parts.append(f"-mcpu={self.mcpu}")
        if self.triple != _process_triple():
            parts.append(f"-mtriple={self.triple}")
        if self.mattr:
            parts.append("-mattr=" + ",".join(self.mattr))
        parts.append(f"-num-cores={self.num_cores}")
        if self.opt_level != 3:
            parts.append(f"-opt-level={self.opt_level}")
        return " ".join(parts)

    # -- attributes -----------------------------------------------------------------------
    @property
    def mcpu(self) -> str:
        """The LLVM CPU name (the host's unless given)."""
        if "mcpu" not in self.attrs and self.kind == "llvm":
            self.attrs["mcpu"] = _host_cpu()[0]
        return self.attrs.get("mcpu", "")

    @property
    def mattr(self) -> tuple[str, ...]:
        """The features given with -mattr (``()`` when none were)."""
        return self.attrs.get("mattr", ())

    @property
    def is_host(self) -> bool:
        """Whether this is an llvm target for this very machine's CPU and triple."""
        if self.kind != "llvm":
            return False
        return self.mcpu == _host_cpu()[0] and self.triple == _process_triple()

    @property
    def features(self) -> str:
        """LLVM's feature string: -mattr, else the host's features for the host CPU."""
        if self.kind != "llvm":
            return ""
        feats = list(self.mattr) if self.mattr else (
            list(_host_cpu()[1]) if self.is_host else [])
        if feats and "+avx512f" in feats and not any("prefer-256-bit" in f for f in feats):
            # newer Intel CPUs default to 256-bit auto-vectorization; our kernels are
            # compute-bound and gain from full 512-bit vectors
            feats.append("-prefer-256-bit")
        return ",".join(feats)

    def has_feature(self, name: str) -> bool:
        """Whether the target has a CPU feature (``"avx512f"``, ``"avx2"``, ``"fma"``...):
        as -mattr says, else as the CPU has (the host's own features for the host CPU),
        with LLVM's implications (``-avx2`` also turns off AVX-512)."""
        name = name.lstrip("+")
        if self._fset is None:
            self._fset = frozenset(self.mattr)
        mattr = self._fset
        if f"+{name}" in mattr:
            return True
        off = {f[1:] for f in mattr if f[0] == "-"}
        if name in off or any(name.startswith(p) for p in _implied_off(off)):
            return False
        if self.is_host:
            return f"+{name}" in _host_feature_set()
        cpu = self.mcpu
        if name.startswith("avx512"):
            return cpu in _AVX512_CPUS and name in ("avx512f", "avx512bw", "avx512dq",
                                                     "avx512vl", "avx512cd")
        if name in ("avx2", "fma", "avx", "f16c"):
            return cpu in _AVX512_CPUS or cpu in _AVX2_CPUS
        return False

    @property
    def num_cores(self) -> int:
        return int(self.attrs.get("num-cores", 1))

    @property
    def triple(self) -> str:
        if self.kind == "cuda":
            return "nvptx64-nvidia-cuda"
        return self.attrs["mtriple"]

    @property
    def opt_level(self) -> int:
        return int(self.attrs.get("opt-level", 3))

    @property
    def arch(self) -> str:
        """The CUDA architecture (``sm_80``); ``""`` for CPU targets."""
        return self.attrs.get("arch", "") if self.kind == "cuda" else ""

    @property
    def vector_width(self) -> int:
        """The widest native vector register in bits: 512 with AVX-512, 256 with AVX2."""
        if self.kind != "llvm":
            return 128
        if self.has_feature("avx512f"):
            return 512
        if self.has_feature("avx2"):
            return 256
        return 128

    def vector_lanes(self, dtype: str) -> int:
        """How many ``dtype`` elements fill one native vector register."""
        bits = _BITS.get(str(dtype))
        if bits is None:
            raise ValueError(f"Target.vector_lanes: unknown dtype {dtype!r}; accepted: "
                             f"{', '.join(_BITS)}")
        return max(1, self.vector_width // bits)

    @property
    def data_layout(self) -> str:
        """LLVM's data layout string for this target (from its target machine)."""
        from .llvm_engine import data_layout

        return data_layout(self)

    @classmethod
    def host(cls) -> Target:
        """The CPU this process runs on."""
        return cls("llvm")

    def describe(self) -> str:
        """A short human-readable description: CPU, notable features and cores."""
        if self.kind == "cuda":
            return f"CUDA GPU {self.arch}, up to {self.attrs['max_num_threads']} threads/block"
        notable = ("avx512f", "avx512bw", "avx512vnni", "avx512bf16", "avx2", "fma", "f16c",
                   "neon", "sve")
        feats = [f for f in notable if self.has_feature(f)] or ["no SIMD extensions listed"]
        cores = f"{self.num_cores} core" + ("s" if self.num_cores != 1 else "")
        return (f"{self.mcpu} ({self.triple}): {', '.join(feats)}; {self.vector_width}-bit "
                f"vectors; {cores}")

    # -- serialization, identity -------------------------------------------------------------
    def as_json(self) -> dict[str, Any]:
        """TVM's JSON form: ``{"kind": "llvm", "keys": [...], "mcpu": ..., ...}``."""
        out: dict[str, Any] = {"kind": self.kind, "keys": list(self.keys)}
        if self.kind == "llvm":
            out["mcpu"] = self.mcpu
            out["mtriple"] = self.triple
            if self.mattr:
                out["mattr"] = list(self.mattr)
            out["num-cores"] = self.num_cores
            out["opt-level"] = self.opt_level
        else:
            out.update({k: self.attrs[k] for k in OPTIONS["cuda"][1:]})
        return out

    @staticmethod
    def from_json(obj: Any) -> Target:
        """Inverse of ``as_json`` (also accepts the JSON text or a target string)."""
        if isinstance(obj, str) and obj.lstrip().startswith("{"):
            obj = json.loads(obj)
        return Target(obj)

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"Target({self._str!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Target(other)
            except ValueError:
                return False
        return isinstance(other, Target) and self._str == other._str

    def __hash__(self) -> int:
        return hash(self._str)

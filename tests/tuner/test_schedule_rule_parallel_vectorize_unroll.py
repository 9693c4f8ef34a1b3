"""ParallelizeVectorizeUnroll: the root block's parallel / vectorize / unroll annotations."""

from __future__ import annotations

from onnxtune.compile.target import Target
from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.schedule_rule import ParallelizeVectorizeUnroll
from onnxtune.tuner.schedule_rule import analysis as A


class _Ctx:
    def __init__(self, cores: int):
        self.target = Target(f"llvm -num-cores={cores}")


def _llvm(cores: int = 2, **kw) -> ParallelizeVectorizeUnroll:
    args = dict(max_jobs_per_core=16, max_vectorize_extent=64,
                unroll_max_steps=[0, 16, 64, 512], unroll_explicit=True)
    args.update(kw)
    r = ParallelizeVectorizeUnroll(**args)
    r._initialize_with_tune_context(_Ctx(cores))
    return r


def test_root_gets_the_three_annotations():
    func, _ = testing.matmul(8, 8, 8)
    seen = set()
    for seed in range(40):
        sch = Schedule(func, seed=seed * 2654435761 % (2**31 - 1))  # spread small seeds
        (out,) = _llvm(cores=4).apply(sch, sch.get_block("root"))
        ann = out.func.body.block.annotations
        assert ann[A.PARALLEL] == 64 and ann[A.VECTORIZE] == 64
        seen.add(ann[A.UNROLL_EXPLICIT])
        assert A.UNROLL_IMPLICIT not in ann
    assert seen == {0, 16, 64, 512}
    cat = [i for i in out.trace.insts if i.kind.name == "SampleCategorical"][0]
    assert list(cat.attrs[0]) == [0, 16, 64, 512]
    assert [round(p, 6) for p in cat.attrs[1]] == [0.25] * 4


def test_other_blocks_spatial_functions_and_switches():
    func, _ = testing.matmul(8, 8, 8)
    sch = Schedule(func)
    assert _llvm().apply(sch, sch.get_block("C")) == [sch] and len(sch.trace) == 1
    add, _ = testing.add((4, 4), (4, 4))
    sch = Schedule(add)
    (out,) = _llvm().apply(sch, sch.get_block("root"))
    ann = out.func.body.block.annotations
    assert A.UNROLL_EXPLICIT not in ann and A.PARALLEL in ann  # all spatial: no unroll
    sch = Schedule(func)
    rule = _llvm(max_jobs_per_core=-1, max_vectorize_extent=-1, unroll_explicit=False)
    (out,) = rule.apply(sch, sch.get_block("root"))
    ann = out.func.body.block.annotations
    assert set(ann) == {A.UNROLL_IMPLICIT}

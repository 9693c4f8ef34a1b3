"""The default schedule rules of each target kind (TVM's ScheduleRule::DefaultLLVM)."""

from __future__ import annotations

from .schedule_rule import ScheduleRule


def llvm_rules() -> list[ScheduleRule]:
    """The CPU rules, in the order PostOrderApply applies them, with TVM's llvm
    parameters."""
    from .add_rfactor import AddRFactor
    from .apply_custom_rule import ApplyCustomRule
    from .auto_inline import AutoInline
    from .multi_level_tiling import MultiLevelTiling, ReuseType
    from .parallel_vectorize_unroll import ParallelizeVectorizeUnroll
    from .random_compute_location import RandomComputeLocation

    return [
        ApplyCustomRule(),
        AutoInline(into_producer=False, into_consumer=True, inline_const_tensor=True,
                   disallow_if_then_else=True, require_injective=True, require_ordered=True,
                   disallow_op=["tir.exp"]),
        AddRFactor(max_jobs_per_core=16, max_innermost_factor=64),
        MultiLevelTiling(structure="SSRSRS", tile_binds=None, max_innermost_factor=64,
                         vector_load_lens=None, reuse_read=None,
                         reuse_write=ReuseType(req="may", levels=[1, 2], scope="global")),
        ParallelizeVectorizeUnroll(max_jobs_per_core=16, max_vectorize_extent=64,
                                   unroll_max_steps=[0, 16, 64, 512], unroll_explicit=True),
        RandomComputeLocation(),
    ]

"""Schedule rules: per-block design-space expansion."""

from .add_rfactor import AddRFactor
from .apply_custom_rule import ApplyCustomRule, register_rule, unregister_rule
from .auto_inline import AutoInline, InlineConstantScalars
from .multi_level_tiling import MultiLevelTiling, ReuseType
from .parallel_vectorize_unroll import ParallelizeVectorizeUnroll
from .random_compute_location import RandomComputeLocation
from .schedule_rule import PyScheduleRule, ScheduleRule

__all__ = [
    "AddRFactor",
    "ApplyCustomRule",
    "AutoInline",
    "InlineConstantScalars",
    "MultiLevelTiling",
    "ParallelizeVectorizeUnroll",
    "PyScheduleRule",
    "RandomComputeLocation",
    "ReuseType",
    "ScheduleRule",
    "register_rule",
    "unregister_rule",
]

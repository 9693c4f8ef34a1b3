"""Schedule rules: per-block design-space expansion."""

from .schedule_rule import PyScheduleRule, ScheduleRule

__all__ = ["PyScheduleRule", "ScheduleRule"]

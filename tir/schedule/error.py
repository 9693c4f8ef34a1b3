"""ScheduleError: the one exception an illegal schedule primitive raises."""

from __future__ import annotations


class ScheduleError(ValueError):
    """An illegal use of a schedule primitive.

    The message names the primitive, the block or loop involved and the condition that
    was broken, e.g. ``vectorize: cannot vectorize loop j: extent 7 is not a constant
    power...``. The schedule is left unchanged when this is raised.
    """

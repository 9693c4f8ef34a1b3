"""Measure callbacks run after each measured batch."""

from .measure_callback import MeasureCallback, PyMeasureCallback

__all__ = ["MeasureCallback", "PyMeasureCallback"]

"""Postprocessors applied to every sampled schedule."""

from .postproc import Postproc, PyPostproc

__all__ = ["Postproc", "PyPostproc"]

"""Mutators of traces for evolutionary search."""

from .mutator import Mutator, PyMutator

__all__ = ["Mutator", "PyMutator"]

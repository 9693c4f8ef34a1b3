"""Builders: scheduled IRModule -> loadable artifact."""

from .builder import Builder, BuilderInput, BuilderResult, PyBuilder

__all__ = ["Builder", "BuilderInput", "BuilderResult", "PyBuilder"]

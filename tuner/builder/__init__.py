"""Builders: scheduled IRModule -> loadable artifact."""

from .artifact import BuiltModule, load_artifact, write_artifact
from .builder import Builder, BuilderInput, BuilderResult, PyBuilder
from .local_builder import LocalBuilder, default_build, default_export

__all__ = ["Builder", "BuilderInput", "BuilderResult", "BuiltModule", "LocalBuilder",
           "PyBuilder", "default_build", "default_export", "load_artifact", "write_artifact"]

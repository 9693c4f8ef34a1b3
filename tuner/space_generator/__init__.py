"""Design-space generators."""

from .space_generator import PySpaceGenerator, SpaceGenerator

__all__ = ["PySpaceGenerator", "SpaceGenerator"]

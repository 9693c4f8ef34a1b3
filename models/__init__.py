"""onnxtune.models."""

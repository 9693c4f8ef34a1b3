"""onnxtune.frontend."""

"""onnxtune.compile."""

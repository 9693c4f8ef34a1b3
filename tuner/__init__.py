"""onnxtune.tuner."""

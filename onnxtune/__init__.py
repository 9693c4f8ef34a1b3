"""onnxtune: a MetaSchedule-style deep-learning compiler for ONNX models."""

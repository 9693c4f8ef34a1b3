"""The artifact container: round trip, and clear errors for damaged or foreign files."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.compile.artifact_format import ArtifactError, read_artifact, write_artifact


def _write(tmp_path):
    path = tmp_path / "model.otm"
    w = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    write_artifact(path, {"kernels": ["k0"], "shape": [3, 5]},
                   {"obj": b"\x7fELF" + bytes(range(200)), "w": w.tobytes()})
    return path, w


def test_round_trip(tmp_path):
    path, w = _write(tmp_path)
    manifest, blobs = read_artifact(path)
    assert manifest == {"kernels": ["k0"], "shape": [3, 5]}
    assert blobs["obj"][:4] == b"\x7fELF" and len(blobs["obj"]) == 204
    np.testing.assert_array_equal(np.frombuffer(blobs["w"], np.float32).reshape(3, 5), w)


def test_truncated_file_is_reported(tmp_path):
    path, _ = _write(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="damaged"):
        read_artifact(path)
    path.write_bytes(data[:10])
    with pytest.raises(ArtifactError, match="truncated"):
        read_artifact(path)


def test_tampered_byte_is_reported(tmp_path):
    path, _ = _write(tmp_path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        read_artifact(path)


def test_foreign_file_and_version(tmp_path):
    other = tmp_path / "x.onnx"
    other.write_bytes(b"\x08\x07" + bytes(100))
    with pytest.raises(ArtifactError, match="not an onnxtune artifact"):
        read_artifact(other)
    path, _ = _write(tmp_path)
    data = bytearray(path.read_bytes())
    data[8] = 99  # version field
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="format version 99"):
        read_artifact(path)
    with pytest.raises(ArtifactError, match="cannot read"):
        read_artifact(tmp_path / "missing.otm")

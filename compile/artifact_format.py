"""The single-file artifact format of an exported Executable (no pickle, checked on load).

Layout (all integers little-endian)::

    magic      8 bytes   b"ONNXTUNE"
    version    u32       FORMAT_VERSION
    n_header   u64       length of the JSON header
    header     n_header  UTF-8 JSON: {"manifest": {...}, "blobs": [{"name", "offset",
                         "size", "sha256"}, ...]}
    blobs      ...       raw bytes, each at header-relative ``offset`` from the end of the
                         header, 64-byte aligned
    digest     32 bytes  SHA-256 of everything before it

``read_artifact`` checks the magic, the version, the digest and every blob's hash, so a
truncated or altered file gives an ``ArtifactError`` saying what is wrong instead of a
crash or, worse, wrong results. The manifest is plain JSON; blobs are raw bytes (object
code, constant arrays), never pickled objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping
from typing import Any

MAGIC = b"ONNXTUNE"
FORMAT_VERSION = 1
_ALIGN = 64
_PREFIX = struct.Struct("<8sIQ")


class ArtifactError(ValueError):
    """An artifact file is not one onnxtune can load (wrong kind, version, or damaged)."""


def is_artifact(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that starts like an onnxtune artifact (the magic)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def write_artifact(path: str | os.PathLike, manifest: Mapping[str, Any],
                   blobs: Mapping[str, bytes]) -> None:
    """Write ``manifest`` (JSON-able) and named byte ``blobs`` to ``path`` atomically."""
    entries, offset = [], 0
    for name, data in blobs.items():
        data = bytes(data)
        entries.append({"name": name, "offset": offset, "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
        offset += len(data) + (-len(data)) % _ALIGN
    header = json.dumps({"manifest": manifest, "blobs": entries},
                        separators=(",", ":")).encode()
    header += b" " * ((-(len(header) + _PREFIX.size)) % _ALIGN)
    h = hashlib.sha256()
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        def put(b: bytes) -> None:
            f.write(b)
            h.update(b)

        put(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)))
        put(header)
        for data in blobs.values():
            data = bytes(data)
            put(data)
            put(b"\0" * ((-len(data)) % _ALIGN))
        f.write(h.digest())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_artifact(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read and check an artifact: ``(manifest, blobs)``. Raises ArtifactError."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ArtifactError(f"cannot read artifact {path!r}: {e.strerror}") from None
    if len(raw) < _PREFIX.size + 32:
        raise ArtifactError(
            f"{path!r} is not an onnxtune artifact: only {len(raw)} bytes (truncated?)")
    magic, version, n_header = _PREFIX.unpack_from(raw)
    if magic != MAGIC:
        raise ArtifactError(f"{path!r} is not an onnxtune artifact (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path!r} has artifact format version {version}; this onnxtune reads version "
            f"{FORMAT_VERSION} (re-export it with this version)")
    body, digest = raw[:-32], raw[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError(
            f"{path!r} is damaged: its checksum does not match (truncated or modified after "
            "export)")
    start = _PREFIX.size
    try:
        header = json.loads(raw[start:start + n_header].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path!r} has an unreadable header: {e}") from None
    base = start + n_header
    blobs: dict[str, bytes] = {}
    for e in header.get("blobs", []):
        lo, hi = base + int(e["offset"]), base + int(e["offset"]) + int(e["size"])
        if hi > len(body):
            raise ArtifactError(f"{path!r} is damaged: blob {e['name']!r} runs past the end")
        data = body[lo:hi]
        if hashlib.sha256(data).hexdigest() != e["sha256"]:
            raise ArtifactError(f"{path!r} is damaged: blob {e['name']!r} fails its checksum")
        blobs[e["name"]] = data
    return header["manifest"], blobs

"""compile_model / InferenceSession / export → load in a clean process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

import onnxtune
from onnxtune import models
from onnxtune.compile.artifact_format import ArtifactError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def model():
    return models.get_model("bert_tiny")


@pytest.fixture(scope="module")
def executable(model):
    return onnxtune.compile_model(model)


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal((1, 32, 128)).astype(np.float32)


def test_session_matches_onnxruntime(model, executable):
    sess = onnxtune.InferenceSession(executable)
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.shape, inp.type) == ("hidden_states", [1, 32, 128], "tensor(float)")
    assert out.name == "output"
    ours = sess.run(None, {"hidden_states": _x()})[0]
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"hidden_states": _x()})[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert sess.run(["output"], {"hidden_states": _x()})[0].shape == (1, 32, 128)


def test_wrong_inputs_are_named(executable):
    sess = onnxtune.InferenceSession(executable)
    with pytest.raises(ValueError, match=r"unknown input name\(s\) \['x'\].*missing.*hidden"):
        sess.run(None, {"x": _x()})
    with pytest.raises(ValueError, match=r"'hidden_states' has shape \[1, 31, 128\]"):
        sess.run(None, {"hidden_states": _x()[:, :31]})
    with pytest.raises(ValueError, match="'hidden_states' has dtype float64"):
        sess.run(None, {"hidden_states": _x().astype(np.float64)})
    with pytest.raises(ValueError, match=r"unknown output name\(s\) \['y'\]"):
        sess.run(["y"], {"hidden_states": _x()})


def test_export_then_load_in_a_process_without_the_tuner(executable, tmp_path):
    path = tmp_path / "bert_tiny.otm"
    executable.export_library(str(path))
    expect = onnxtune.InferenceSession(executable).run(None, {"hidden_states": _x()})[0]
    np.save(tmp_path / "x.npy", _x())
    script = textwrap.dedent(f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("onnx", "onnxruntime", "xgboost", "networkx",
                                          "hypothesis", "pytest"):
                    raise ImportError("blocked: " + name)
                return None
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {ROOT!r})
        import numpy as np
        import onnxtune
        sess = onnxtune.InferenceSession({str(path)!r})
        out = sess.run(None, {{"hidden_states": np.load({str(tmp_path / 'x.npy')!r})}})[0]
        np.save({str(tmp_path / 'out.npy')!r}, out)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("onnx", "xgboost"))
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(tmp_path))
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expect)


def test_damaged_artifact_is_a_clear_error(executable, tmp_path):
    path = tmp_path / "m.otm"
    executable.export_library(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ArtifactError, match="damaged"):
        onnxtune.load(path)


def test_a_folder_without_a_database_is_an_error_and_stays_untouched(model, tmp_path):
    """Pointing compile_model at the parent of a work_dir must not build an untuned model
    silently (nor leave an empty database there): the error names the folder and the
    sub-folder that holds the records."""
    from onnxtune.tuner.database import JSONDatabase

    work = tmp_path / "onnxtune"
    JSONDatabase(work_dir=str(work))  # a work_dir's two files
    with pytest.raises(FileNotFoundError) as err:
        onnxtune.compile_model(model, database=str(tmp_path))
    assert str(tmp_path) in str(err.value) and str(work) in str(err.value)
    assert sorted(os.listdir(tmp_path)) == ["onnxtune"]


def test_an_empty_database_warns_that_nothing_is_tuned(model, tmp_path):
    from onnxtune.tuner.database import JSONDatabase

    JSONDatabase(work_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="holds no records"):
        onnxtune.compile_model(model, database=str(tmp_path))

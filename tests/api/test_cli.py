"""The command line: every subcommand on a small model, and its error paths."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnxtune.cli import main


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """Conv + bias + relu + global pool + matmul: a few tasks, quick to tune."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, 3, 3],
                           rng.standard_normal(216).astype(np.float32))
    b = helper.make_tensor("b", TensorProto.FLOAT, [8], rng.standard_normal(8).astype(np.float32))
    fc = helper.make_tensor("fc", TensorProto.FLOAT, [8, 5],
                            rng.standard_normal(40).astype(np.float32))
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, 12, 12])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 5])], [w, b, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("model") / "small.onnx"
    onnx.save(model, str(path))
    return str(path)


def test_tune_report_compile_run_bench(small_model, tmp_path, capsys):
    work = str(tmp_path / "work")
    assert main(["tune", small_model, "--trials", "4", "--trials-per-iter", "2",
                 "--work-dir", work, "--seed", "1", "--json", "--no-bench",
                 "--cache-flush"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trials"] == 4 and data["accuracy"]["ok"]
    assert os.path.isfile(os.path.join(work, "report.html"))
    assert main(["report", work]) == 0
    assert "onnxtune report" in capsys.readouterr().out
    art = str(tmp_path / "small.otm")
    assert main(["compile", small_model, "--database", work, "-o", art]) == 0
    assert "tuned" in capsys.readouterr().out
    x = np.random.default_rng(0).standard_normal((1, 3, 12, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = str(tmp_path / "y.npy")
    assert main(["run", art, "--input", str(tmp_path / "x.npy"), "-o", out]) == 0
    assert np.load(out).shape == (1, 5)
    assert "y: shape [1, 5]" in capsys.readouterr().out
    assert main(["bench", art, "--model", small_model, "--seconds", "0.1", "--json"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["accuracy"]["ok"] and bench["ours_ms"] > 0 and bench["onnxruntime_ms"] > 0


def test_tasks_and_models(small_model, capsys):
    assert main(["tasks", small_model, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["weight"] >= 1 for r in rows)
    assert main(["models"]) == 0
    assert "resnet50" in capsys.readouterr().out


def test_errors_are_one_clear_line(small_model, tmp_path, capsys):
    assert main(["tasks", str(tmp_path / "missing.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("onnxtune: error: FileNotFoundError") and "Traceback" not in err
    assert main(["report", str(tmp_path)]) == 1
    assert "has no report.json" in capsys.readouterr().err
    bad = tmp_path / "bad.otm"
    bad.write_bytes(b"ONNXTUNE" + b"\0" * 50)
    assert main(["run", str(bad), "--input", "x.npy"]) == 1
    assert "ArtifactError" in capsys.readouterr().err
    assert main(["tasks", "no_such_model"]) == 1
    assert "bundled models" in capsys.readouterr().err
    assert main(["tune", small_model, "--trials", "2", "--work-dir", str(tmp_path / "w"),
                 "--verify-top-k", "-1", "--quiet"]) == 1
    assert "verify_top_k must be an int >= 0" in capsys.readouterr().err
    art = str(tmp_path / "a.otm")
    assert main(["compile", small_model, "-o", art, "--quiet"]) == 0
    np.save(tmp_path / "wrong.npy", np.zeros((1, 3, 5, 5), np.float32))
    assert main(["run", art, "--input", str(tmp_path / "wrong.npy")]) == 1
    assert "'x' has shape [1, 3, 5, 5]" in capsys.readouterr().err

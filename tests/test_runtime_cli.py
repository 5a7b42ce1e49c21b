"""`explorer export`, `predict --runtime`, `bench --runtime` and `verify --runtime` on a small random-weight model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.benchmarks.store import MeasurementStore
from explorer.cli.main import main
from explorer.models.torchvision_zoo import TorchvisionRunner

MODEL = "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
SMALL = ["--model", MODEL, "--random-weights", "--min-size", "64", "--max-size", "96"]


@pytest.fixture(autouse=True)
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_export_then_predict_and_bench_reuse_the_cached_export(tmp_path: Path, cache: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    assert main(["export", *SMALL, "--runtime", "onnxruntime"]) == 0
    captured = capsys.readouterr()
    assert "exported to ONNX Runtime" in captured.out and "parity with PyTorch: passed" in captured.err
    assert "exported now: backbone" in captured.err
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(images / "a.png")
    torch.manual_seed(0)  # the same random weights: the export comes from the cache
    assert main(["predict", *SMALL, "--runtime", "onnxruntime", "--images", str(images), "--out",
                 str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "export: from the cache" in captured.err and (tmp_path / "out" / "results.json").is_file()
    json.loads((tmp_path / "out" / "results.json").read_text())
    torch.manual_seed(0)
    assert main(["bench", *SMALL, "--runtime", "onnxruntime", "--runs", "1", "--warmup", "0", "--width", "80",
                 "--height", "60"]) == 0
    assert "runtime onnxruntime" in capsys.readouterr().out
    stored = MeasurementStore(cache / "measurements.sqlite").frame()
    assert list(stored["runtime"]) == ["onnxruntime"] and list(stored["execution_provider"]) == ["CPUExecutionProvider"]


def test_a_model_that_cannot_be_exported_is_one_error_line(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(TorchvisionRunner, "runtime_parts", ("nothing_here",))
    assert main(["export", *SMALL, "--runtime", "openvino"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ") and "names no network part" in error


def test_export_needs_a_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", *SMALL]) == 2
    assert "--runtime onnxruntime or --runtime openvino" in capsys.readouterr().err

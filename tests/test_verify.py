"""`verify` (explorer.engine.verify and its command): runs a model over an annotation file's images and compares its
COCO AP with the zoo's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from explorer.cli import convert, verify
from explorer.detections import Detections
from explorer.engine.verify import VerifyError

BOXES = {1: [10.0, 12.0, 30.0, 40.0], 2: [5.0, 6.0, 50.0, 20.0]}  # image id -> one car box [x, y, w, h]
SIZES = {1: (60, 80), 2: (50, 70)}  # image id -> (height, width)


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    images, annotations = [], []
    for image_id, (height, width) in SIZES.items():
        name = f"{image_id:012d}.png"
        Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(folder / name)
        images.append({"id": image_id, "file_name": name, "height": height, "width": width})
        width_px, height_px = BOXES[image_id][2:]
        annotations.append({"id": image_id, "image_id": image_id, "category_id": 3, "bbox": BOXES[image_id],
                            "area": width_px * height_px, "iscrowd": 0})
    images.append({"id": 3, "file_name": "missing.png", "height": 10, "width": 10})
    gt = tmp_path / "instances.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations,
                              "categories": [{"id": 3, "name": "car", "supercategory": "vehicle"}]}))
    return folder, gt


class _PerfectRunner:
    """Finds exactly the ground-truth car in each test image (recognised by its size)."""

    def predict(self, images: list[np.ndarray], **_: Any) -> list[Detections]:
        out = []
        for image in images:
            image_id = next(i for i, size in SIZES.items() if size == image.shape[:2])
            x, y, w, h = BOXES[image_id]
            out.append(Detections(width=image.shape[1], height=image.shape[0],
                                  boxes=np.array([[x, y, x + w, y + h]], np.float32),
                                  scores=np.array([0.9], np.float32), labels=np.array([3]), names=["car"]))
        return out


def _run(argv: list[str]) -> str:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    convert.add_parser(commands)
    verify.add_parser(commands)
    args = parser.parse_args(argv)
    return args.run(args)


def test_verify_evaluates_the_found_images_against_the_published_ap(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder, gt = _dataset(tmp_path)
    seen: list[Any] = []
    monkeypatch.setattr("explorer.engine.runners.load_runner",
                        lambda spec, device, weights, progress=None: seen.append(spec) or _PerfectRunner())
    out = _run(["verify", "--model", "35857345", "--images", str(folder), "--annotations", str(gt),
                "--device", "cpu"])
    assert seen[0].uid == "detectron:35857345"
    assert "on 2 of 3 images" in out
    assert "bbox      AP 100.0  published  36.7  difference +63.3" in out
    assert "subset" in out
    limited = _run(["verify", "--model", "35857345", "--images", str(folder), "--annotations", str(gt),
                    "--device", "cpu", "--limit", "1"])
    assert "on 1 of 3 images" in limited


def test_verify_refuses_proposal_models_and_empty_folders(tmp_path: Path) -> None:
    folder, gt = _dataset(tmp_path)
    with pytest.raises(VerifyError, match="proposals only"):
        _run(["verify", "--model", "35998814", "--images", str(folder), "--annotations", str(gt)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="none of the annotation file's images"):
        _run(["verify", "--model", "35857345", "--images", str(empty), "--annotations", str(gt)])


def test_verify_model_is_a_library_call_that_reports_skipped_images(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer.engine.verify import images_to_run, verify_model
    from explorer.evaluation.inputs.ground_truth import load_ground_truth
    from explorer.zoo.table import load_zoo

    folder, gt = _dataset(tmp_path)
    (folder / "missing.png").write_bytes(b"not a png")  # image 3 is there now, but cannot be decoded
    assert [image_id for image_id, _ in images_to_run(load_ground_truth(gt), folder, None)] == [1, 2, 3]
    assert [image_id for image_id, _ in images_to_run(load_ground_truth(gt), folder, 2)] == [1, 2]
    monkeypatch.setattr("explorer.engine.runners.load_runner",
                        lambda spec, device, weights, progress=None: _PerfectRunner())
    report = verify_model(load_zoo(), "detectron:35857345", folder, gt, device="cpu")
    assert (report.images_run, report.images_annotated) == (2, 3) and report.subset
    assert len(report.skipped) == 1 and report.skipped[0].startswith("missing.png")
    [result] = report.results
    assert result.kind == "bbox" and result.measured == pytest.approx(100.0)
    assert result.published == pytest.approx(36.7) and result.difference == pytest.approx(63.3)


def test_verify_reports_the_ap_difference_a_runtime_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a generated set, a random-weight model under ONNX Runtime scores what it scores under PyTorch."""
    import torch

    from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
    from tests.model_factory import torchvision_spec

    folder, gt = _dataset(tmp_path)
    dataset = json.loads(gt.read_text())  # every COCO id a random model may predict is a category here
    dataset["categories"] = [{"id": i, "name": f"class {i}", "supercategory": "x"} for i in range(1, 92)]
    gt.write_text(json.dumps(dataset))
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    spec = torchvision_spec("FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1", 20).with_test(score_thresh=0.0)
    torch.manual_seed(0)
    small = load_runner(spec, "cpu", RANDOM_WEIGHTS)
    monkeypatch.setattr("explorer.engine.runners.load_runner", lambda *args, **kwargs: small)
    out = _run(["verify", "--model", "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1", "--images",
                str(folder), "--annotations", str(gt), "--runtime", "onnxruntime"])
    [line] = [line for line in out.splitlines() if "under ONNX Runtime" in line]
    assert line.startswith("bbox") and ("difference +0.00" in line or "difference -0.00" in line)
    assert "parity with PyTorch: passed" in out

"""Export to ONNX Runtime / OpenVINO: parity per model kind, the export cache, and the errors a user sees.

Random-weight models at input 96/128 with score threshold 0 (so every kind yields detections to compare); the
torchvision box model is the MobileNet-v3 320 one, the smallest there is. Exports go to a per-module folder.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
from explorer.models.catalog import ModelSpec, spec_for_uid
from explorer.models.detectron.config import detectron_config
from explorer.runtimes.backends import backend_for
from explorer.runtimes.cache import CHECKSUMS, export_key, is_intact
from explorer.runtimes.errors import NotExportableError, ParityError, RuntimeUnavailableError, UnknownRuntimeError
from explorer.runtimes.export import RuntimeRunner, export_runner
from explorer.runtimes.records import read_records, record_lines
from explorer.zoo.table import load_zoo
from tests.model_factory import random_image, torchvision_spec
from tests.runtime_factory import small_runner

BOXES = "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
MODELS = {"masks": "MaskRCNN_ResNet50_FPN_Weights.COCO_V1", "keypoints": "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1",
          "retinanet": "RetinaNet_ResNet50_FPN_Weights.COCO_V1"}
RPN_C4 = "detectron:35998355"
MASK_C4 = "detectron:35858791"
IMAGES = [random_image(72, 96, seed=1), random_image(100, 64, seed=2)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


def _tv(model_id: str) -> ModelSpec:
    return torchvision_spec(model_id, detections=10).with_test(score_thresh=0.0)


def _detectron(uid: str) -> ModelSpec:
    spec = spec_for_uid(load_zoo(["detectron"]), uid)
    config = detectron_config(spec)
    arch = dataclasses.replace(config.arch, rpn_pre_nms_top_n=200, rpn_post_nms_top_n=50, proposal_limit=50)
    spec = dataclasses.replace(spec, family_config=dataclasses.replace(config, arch=arch))
    return spec.with_sizes(96, 128).with_test(detections_per_image=10, score_thresh=0.0)


def _export(spec: ModelSpec, runtime: str, root: Path, seed: int = 0) -> RuntimeRunner:
    torch.manual_seed(seed)
    return export_runner(load_runner(spec, "cpu", RANDOM_WEIGHTS), runtime, images=IMAGES, root=root)


def _assert_parity(runner: RuntimeRunner, parts: set[str]) -> None:
    info = runner.info
    assert parts <= set(info.parts), info.parts
    assert info.parity is not None and info.parity.passed and info.parity.matched > 0
    assert set(info.parity.parts) == set(info.parts) and max(info.parity.parts.values()) < 1e-3


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_boxes_model_exports_and_matches_pytorch(runtime: str, root: Path) -> None:
    runner = _export(_tv(BOXES), runtime, root)
    _assert_parity(runner, {"backbone", "rpn.head", "roi_heads.box_head", "roi_heads.box_predictor"})
    assert runner.info.runtime_version == backend_for(runtime).version
    assert any("parity with PyTorch: passed" in line for line in runner.info.lines())


@pytest.mark.parametrize(("kind", "parts", "field"), [
    ("masks", {"backbone", "roi_heads.mask_head", "roi_heads.mask_predictor"}, "masks"),
    ("keypoints", {"backbone", "roi_heads.keypoint_head", "roi_heads.keypoint_predictor"}, "keypoints"),
    ("retinanet", {"backbone", "head"}, "boxes"),
])
def test_each_torchvision_kind_matches_pytorch(kind: str, parts: set[str], field: str, root: Path) -> None:
    runner = export_runner(small_runner(_tv(MODELS[kind]), kind), "onnxruntime", images=IMAGES, root=root)
    _assert_parity(runner, parts)
    found = runner.predict(IMAGES[:1])[0]
    assert len(found) > 0 and getattr(found, field) is not None


def test_detectron_proposals_model_runs_under_openvino(root: Path) -> None:
    runner = _export(_detectron(RPN_C4), "openvino", root)
    assert {"body", "rpn"} <= set(runner.info.parts)
    assert runner.info.parity is not None and runner.info.parity.passed and runner.info.parity.matched > 0
    assert runner.predict(IMAGES[:1])[0].kind == "proposals"


def test_detectron_c4_mask_model_runs_its_shared_res5_under_the_runtime(root: Path) -> None:
    """A C4 mask head calls the box head's res5 itself: the runtime runs that res5 for both heads (swapping the
    whole box head left the mask head without its res5)."""
    runner = _export(_detectron(MASK_C4), "onnxruntime", root)
    assert {"body", "rpn", "box_head.res5", "box_outputs"} <= set(runner.info.parts)
    assert "box_head" not in runner.info.parts
    assert runner.info.parity is not None and runner.info.parity.passed and runner.info.parity.matched > 0
    assert runner.predict(IMAGES[:1])[0].masks is not None


def test_same_weights_come_from_the_cache_and_changed_weights_do_not(root: Path) -> None:
    first = _export(_tv(BOXES), "onnxruntime", root)
    again = _export(_tv(BOXES), "onnxruntime", root)
    assert not again.info.built and again.info.folders == first.info.folders
    torch.manual_seed(0)
    runner = load_runner(_tv(BOXES), "cpu", RANDOM_WEIGHTS)
    with torch.no_grad():
        runner.model.roi_heads.box_predictor.cls_score.bias.add_(0.5)
    changed = export_runner(runner, "onnxruntime", images=IMAGES, root=root)
    assert changed.info.built == ("roi_heads.box_predictor",)
    assert len(set(changed.info.folders) - set(first.info.folders)) == 1


def test_export_key_changes_with_each_field() -> None:
    base = {"uid": "torchvision:x", "part": "backbone", "weights": "ab", "runtime": "onnxruntime",
            "runtime_version": "1.0", "torch": "2.0", "preprocessing": "96/128", "test": "t"}
    assert export_key(base) == export_key(dict(reversed(base.items())))
    for name in base:
        assert export_key({**base, name: "changed"}) != export_key(base), name


def test_a_corrupt_cached_export_is_rebuilt(root: Path) -> None:
    first = _export(_tv(BOXES), "onnxruntime", root)
    index = first.info.parts.index("roi_heads.box_predictor")
    folder = first.info.folders[index]
    with (folder / "model.onnx").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00garbage\x00")
    assert not is_intact(folder, ("model.onnx",))
    again = _export(_tv(BOXES), "onnxruntime", root)
    assert again.info.built == ("roi_heads.box_predictor",) and is_intact(folder, ("model.onnx",))
    assert (folder / CHECKSUMS).is_file() and again.info.parity is not None and again.info.parity.passed


def test_a_model_without_exportable_parts_says_why_in_one_line(root: Path) -> None:
    torch.manual_seed(0)
    runner = load_runner(_tv(BOXES), "cpu", RANDOM_WEIGHTS)
    runner.runtime_parts = ("no_such_part",)
    with pytest.raises(NotExportableError) as raised:
        export_runner(runner, "onnxruntime", images=IMAGES, root=root)
    message = str(raised.value)
    assert "\n" not in message and "names no network part" in message and "no_such_part" in message
    [record] = [found for found in read_records(runner.spec.uid, root) if found["runtime"] == "onnxruntime"]
    assert record_lines(record) == [f"ONNX Runtime {backend_for('onnxruntime').version}: not usable — {message}"]


def test_a_part_that_takes_no_tensors_stays_in_pytorch_with_its_reason(root: Path) -> None:
    """torchvision's RoI pooling takes the image sizes as tuples of ints: it is kept eager, and the card says why."""
    torch.manual_seed(0)
    runner = load_runner(_tv(BOXES), "cpu", RANDOM_WEIGHTS)
    runner.runtime_parts = ("backbone", "roi_heads.box_roi_pool")
    exported = export_runner(runner, "onnxruntime", images=IMAGES, root=root)
    assert exported.info.parts == ("backbone",)
    assert "not tensors" in exported.info.kept_in_torch["roi_heads.box_roi_pool"]
    assert any(line.startswith("kept in PyTorch: roi_heads.box_roi_pool") for line in exported.info.lines())
    [record] = [found for found in read_records(runner.spec.uid, root) if found["runtime"] == "onnxruntime"]
    lines = record_lines(record)  # what the model card shows
    assert any("kept in PyTorch: roi_heads.box_roi_pool" in line and "not tensors" in line for line in lines)


def test_a_parity_failure_is_an_error_and_leaves_pytorch_in_place(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import explorer.runtimes.export as export_module

    real = export_module.backend_for("onnxruntime")

    def skewed(folder: Path):
        session = real.open(folder)
        return lambda inputs: [value * 1.05 for value in session(inputs)]

    monkeypatch.setattr(export_module, "backend_for", lambda runtime: dataclasses.replace(real, open=skewed))
    torch.manual_seed(0)
    runner = load_runner(_tv(BOXES), "cpu", RANDOM_WEIGHTS)
    backbone = runner.model.backbone
    with pytest.raises(ParityError, match="differ"):
        export_runner(runner, "onnxruntime", images=IMAGES, root=root)
    assert runner.model.backbone is backbone


def test_missing_runtime_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(RuntimeUnavailableError, match=r"pip install \.\[deploy\]"):
        backend_for("openvino")
    with pytest.raises(UnknownRuntimeError, match="onnxruntime, openvino"):
        backend_for("tensorrt")

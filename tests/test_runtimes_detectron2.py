"""Detectron2 models under ONNX Runtime / OpenVINO: each kind and layout exports its parts and matches PyTorch.

Real zoo rows (their layout, heads, norms and test settings) narrowed to test widths by the Detectron2 test
factory's `small` (Fast R-CNN: its RPN row too), random weights, score threshold 0 so every kind yields detections
to compare, inputs 96/128. Exports go to a per-module folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
from explorer.models.catalog import ModelSpec, spec_for_uid
from explorer.models.detectron2.config import detectron2_config
from explorer.runtimes.errors import NotExportableError
from explorer.runtimes.export import RuntimeRunner, export_runner
from explorer.zoo.table import load_zoo
from tests.detectron2_factory import small
from tests.model_factory import random_image

FASTER_FPN, FASTER_DC5 = "detectron2:137257794", "detectron2:137847829"
MASK_FPN, MASK_C4, MASK_REGNET = "detectron2:137260431", "detectron2:137259246", "detectron2:42047771"
KEYPOINTS, RETINANET = "detectron2:137261548", "detectron2:190397773"
RPN_FPN, RPN_C4, FAST = "detectron2:137258492", "detectron2:137258005", "detectron2:137635226"
IMAGES = [random_image(72, 96, seed=1), random_image(100, 64, seed=2)]
DENSE = {"backbone", "proposal_generator.rpn_head"}
BOX = {"roi_heads.box_head", "roi_heads.box_predictor"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


def _narrow(spec: ModelSpec) -> ModelSpec:
    """The row's architecture at test widths, input 96/128, 10 detections at score threshold 0."""
    config = detectron2_config(spec)
    proposals = _narrow(config.proposals) if config.proposals is not None else None
    net = small(config.net, rpn_pre_nms_topk=100, rpn_post_nms_topk=30, proposal_topk=30)
    spec = dataclasses.replace(spec, family_config=dataclasses.replace(config, net=net, proposals=proposals))
    return spec.with_sizes(96, 128).with_test(detections_per_image=10, score_thresh=0.0)


def _spec(uid: str) -> ModelSpec:
    return _narrow(spec_for_uid(load_zoo(["detectron2"]), uid))


_EXPORTED: dict[tuple[str, str, Path], RuntimeRunner] = {}


def _export(uid: str, runtime: str, root: Path) -> RuntimeRunner:
    """The row exported once per module (a test that reads a runner another test made does not export again)."""
    key = (uid, runtime, root)
    if key not in _EXPORTED:
        torch.manual_seed(0)
        _EXPORTED[key] = export_runner(load_runner(_spec(uid), "cpu", RANDOM_WEIGHTS), runtime, images=IMAGES,
                                       root=root)
    return _EXPORTED[key]


def _assert_parity(runner: RuntimeRunner, parts: set[str]) -> None:
    info = runner.info
    assert set(info.parts) == parts, (info.parts, info.kept_in_torch)
    assert not info.kept_in_torch
    assert info.parity is not None and info.parity.passed and info.parity.matched > 0
    assert set(info.parity.parts) == parts and max(info.parity.parts.values()) < 1e-3


@pytest.mark.parametrize(("uid", "parts", "field"), [
    (FASTER_FPN, DENSE | BOX, "boxes"),
    (MASK_FPN, DENSE | BOX | {"roi_heads.mask_head"}, "masks"),
    (KEYPOINTS, DENSE | BOX | {"roi_heads.keypoint_head"}, "keypoints"),
    (RETINANET, {"backbone", "head"}, "boxes"),
    (MASK_C4, DENSE | {"roi_heads.res5", "roi_heads.box_predictor", "roi_heads.mask_head"}, "masks"),
    (FASTER_DC5, DENSE | BOX, "boxes"),
    (MASK_REGNET, DENSE | BOX | {"roi_heads.mask_head"}, "masks"),
], ids=["faster-fpn", "mask-fpn", "keypoints", "retinanet", "mask-c4", "faster-dc5", "mask-regnet"])
def test_each_detectron2_kind_exports_to_onnxruntime_and_matches_pytorch(uid: str, parts: set[str], field: str,
                                                                         root: Path) -> None:
    runner = _export(uid, "onnxruntime", root)
    _assert_parity(runner, parts)
    found = runner.predict(IMAGES[:1])[0]
    assert len(found) > 0 and getattr(found, field) is not None


def test_detectron2_proposals_run_under_onnxruntime(root: Path) -> None:
    runner = _export(RPN_FPN, "onnxruntime", root)
    _assert_parity(runner, DENSE)
    assert runner.predict(IMAGES[:1])[0].kind == "proposals"


def test_a_fast_rcnn_row_runs_its_proposal_model_under_the_runtime_too(root: Path) -> None:
    """A Fast R-CNN row's prediction starts with its RPN row's model: those parts run in the runtime as well
    (named "proposals.<part>"), so the whole prediction is one setup; parity covers both networks."""
    runner = _export(FAST, "onnxruntime", root)
    _assert_parity(runner, BOX | {"backbone"} | {f"proposals.{name}" for name in DENSE})
    assert any(line.startswith("in the runtime:") and "proposals.backbone" in line for line in runner.info.lines())
    proposal_model = runner.inner.proposal_runner.model
    assert type(proposal_model.backbone).__name__ == "RuntimePart"


@pytest.mark.parametrize(("uid", "parts"), [
    (FASTER_FPN, DENSE | BOX),
    (RPN_C4, DENSE),
], ids=["faster-fpn", "rpn-c4"])
def test_detectron2_models_run_under_openvino(uid: str, parts: set[str], root: Path) -> None:
    _assert_parity(_export(uid, "openvino", root), parts)


def test_the_rpn_and_retinanet_heads_take_every_level_in_one_runtime_call(root: Path) -> None:
    """One call per image, not one per level: the head is swapped for one runtime part fed the whole list."""
    for uid, name in ((RPN_FPN, "proposal_generator.rpn_head"), (RETINANET, "head")):
        runner = _export(uid, "onnxruntime", root)
        part = runner.inner.model.get_submodule(name)
        calls: list[int] = []
        handle = part.register_forward_pre_hook(lambda _module, args, calls=calls: calls.append(len(args[0])))
        try:
            runner.predict(IMAGES[:1])
        finally:
            handle.remove()
        assert type(part).__name__ == "RuntimePart" and calls == [5], (uid, calls)


def test_a_detectron2_part_that_will_not_export_says_why_in_one_line(root: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A part whose export fails stays in PyTorch with the exporter's one-line reason; if nothing is left, the
    whole model is NotExportableError, one line naming each part."""
    import explorer.runtimes.parts as parts

    def refuse(_model: torch.nn.Module, name: str, _recorded: object) -> bytes:
        raise NotExportableError(f"part {name!r} cannot be exported to ONNX: made up for the test")

    monkeypatch.setattr(parts, "export_onnx", refuse)
    torch.manual_seed(0)
    runner = load_runner(_spec(RETINANET), "cpu", RANDOM_WEIGHTS)
    with pytest.raises(NotExportableError) as raised:
        export_runner(runner, "onnxruntime", images=IMAGES, root=root / "refused")
    message = str(raised.value)
    assert "\n" not in message and "'backbone'" in message and "'head'" in message and "made up" in message

"""Detectron2 networks: real-format checkpoints of every architecture load and run, end to end, on small inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.models.catalog import ModelSpec
from explorer.models.detectron2.checkpoint.loading import build_model, load_weights
from explorer.models.detectron2.inference.pipeline import Pipeline, default_settings
from explorer.models.detectron2.netconfig import NetConfig
from explorer.models.detectron2.network.model import Detectron2Model
from explorer.models.detectron2.runner import Detectron2Runner
from tests.detectron2_factory import KNOWN_NAMES, TINY_REGNET, small, write_checkpoint

C4_SIZES = ((32.0, 64.0, 128.0, 256.0, 512.0),)
RETINA_SIZES = tuple((s, s * 2 ** (1 / 3), s * 2 ** (2 / 3)) for s in (32.0, 64.0, 128.0, 256.0, 512.0))

ARCHITECTURES: dict[str, NetConfig] = {
    "mask_fpn": NetConfig("mask_fpn", mask_on=True),
    "faster_fpn_x101": NetConfig("faster_x101", depth=101, num_groups=32, width_per_group=8, stride_in_1x1=False),
    "mask_c4": NetConfig("mask_c4", layout="C4", mask_on=True, box_pooler_resolution=14, anchor_sizes=C4_SIZES,
                         size_divisibility=0),
    "faster_dc5": NetConfig("faster_dc5", layout="DC5", res5_dilation=2, anchor_sizes=C4_SIZES,
                            size_divisibility=0),
    "retinanet": NetConfig("retinanet", meta="retinanet", anchor_sizes=RETINA_SIZES),
    "keypoint": NetConfig("keypoint", keypoint_on=True, num_classes=1),
    "rpn_fpn": NetConfig("rpn_fpn", meta="rpn"),
    "rpn_c4": NetConfig("rpn_c4", meta="rpn", layout="C4", anchor_sizes=C4_SIZES, size_divisibility=0),
    "fast": NetConfig("fast", precomputed_proposals=True),
    "lsj_regnet": NetConfig("lsj_regnet", backbone="regnet", regnet=TINY_REGNET, backbone_norm="BN", fpn_norm="BN",
                            box_convs=4, box_fcs=1, box_norm="BN", mask_on=True, mask_norm="BN", rpn_convs=2,
                            lsj=True, pixel_std=(57.375, 57.12, 58.395)),
    "lsj_resnet": NetConfig("lsj_resnet", backbone_norm="BN", fpn_norm="BN", box_convs=4, box_fcs=1, box_norm="BN",
                            mask_on=True, mask_norm="BN", rpn_convs=2, lsj=True),
}


def _image(seed: int = 0, height: int = 60, width: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _spec(config: NetConfig) -> ModelSpec:
    return ModelSpec(uid=f"detectron2:{config.config}", zoo="detectron2", model_id=config.config, name=config.config,
                     family="detectron2", builder=config.config, outputs=config.outputs)


def test_full_size_names_and_shapes_are_detectron2s() -> None:
    with torch.device("meta"):
        state = Detectron2Model(NetConfig("mask", mask_on=True)).state_dict()
    for name, shape in KNOWN_NAMES.items():
        assert tuple(state[name].shape) == shape, name
    assert sum(t.numel() for t in state.values()) == 44_449_456  # Detectron2's Mask R-CNN R-50-FPN


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_a_zoo_format_checkpoint_loads_and_runs(name: str, tmp_path: Path) -> None:
    config = small(ARCHITECTURES[name])
    arrays = write_checkpoint(tmp_path / "model_final_abc.pkl", config)
    weights = load_weights(tmp_path / "model_final_abc.pkl", config)
    expected = {key for key in arrays if not key.endswith("num_batches_tracked") and not key.startswith("pixel_")}
    assert set(weights.state_dict) == expected
    for key, value in weights.state_dict.items():
        np.testing.assert_array_equal(value.numpy(), arrays[key])
    folded = build_model(config, weights, "cpu")
    plain = build_model(config, load_weights(tmp_path / "model_final_abc.pkl", config), "cpu", fold=False)
    image = _image()
    outputs = []
    for model in (folded, plain):
        proposal_runner = None
        if config.precomputed_proposals:
            rpn = small(ARCHITECTURES["rpn_fpn"])
            proposal_runner = Detectron2Runner(_spec(rpn), "cpu", Pipeline(build_model(rpn, None, "cpu"),
                                                                           default_settings(rpn)))
        runner = Detectron2Runner(_spec(config), "cpu", Pipeline(model, default_settings(config)), proposal_runner)
        outputs.append(runner.predict([image])[0])
    fast, slow = outputs
    assert (fast.width, fast.height) == (80, 60)
    assert len(fast) == len(slow)
    np.testing.assert_allclose(fast.boxes, slow.boxes, rtol=1e-3, atol=1e-2)
    assert fast.timings["model"] > 0
    if config.meta == "rpn":
        assert fast.kind == "proposals" and len(fast) > 0
        assert np.all((fast.scores >= 0) & (fast.scores <= 1))
    else:
        assert len(fast) <= config.detections_per_image
    if len(fast):
        assert np.all(fast.boxes[:, 2] >= fast.boxes[:, 0]) and np.all(fast.boxes[:, 2] <= 80)
        assert np.all(fast.boxes[:, 3] <= 60)
    assert (fast.masks is not None) == config.mask_on
    if config.mask_on:
        assert fast.masks.shape == (len(fast), 60, 80) and fast.masks.dtype == bool
    if config.keypoint_on:
        assert fast.keypoints.shape == (len(fast), 17, 2) and fast.keypoint_scores.shape == (len(fast), 17)
        assert set(fast.names) <= {"person"}



def test_complexity_is_counted_as_torchvision_counts_its_own_mask_rcnn() -> None:
    from explorer.zoo_build.counting import detectron2_complexity, torchvision_complexity

    ours = detectron2_complexity(NetConfig("mask", mask_on=True))
    theirs = torchvision_complexity("maskrcnn_resnet50_fpn", image_side=800, detections=100)
    assert (ours.input_size, ours.rois, ours.detections) == (800, 1000, 100)
    # the same architecture family: 80 + 1 classes here, 91 there; the rest matches to within a percent
    assert ours.gflops == pytest.approx(theirs.gflops, rel=0.03)
    assert ours.detection_heads_gflops == pytest.approx(theirs.detection_heads_gflops, rel=0.03)
    assert ours.params_m == pytest.approx(44.343, abs=0.001)
    c4 = detectron2_complexity(NetConfig("c4", layout="C4", mask_on=True, box_pooler_resolution=14,
                                         anchor_sizes=C4_SIZES, rpn_pre_nms_topk=6000, size_divisibility=0))
    assert c4.gflops > 3 * ours.gflops  # res5 on 1000 RoIs: C4's well-known cost

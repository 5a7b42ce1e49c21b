"""Detectron zoo rows as catalog specs, and one small end-to-end run per model family on the CPU.

Runs use random weights (or a generated checkpoint through the converter) on a 72x96 image at input size
96/128, with the RPN trimmed to 50 proposals so a run takes about a second.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.detections import Detections
from explorer.engine.runners import RANDOM_WEIGHTS, load_runner
from explorer.models.catalog import ModelSpec, is_runnable, spec_for_uid
from explorer.models.detectron.checkpoint.loading import runtime_config
from explorer.models.detectron.coco import COCO_CATEGORY_IDS, COCO_NAMES
from explorer.models.detectron.config import detectron_config
from explorer.zoo.table import load_zoo
from tests.detectron_factory import checkpoint, write_pickle
from tests.model_factory import random_image

MASK_FPN, TTA_UID = "35858933", "detectron:37129812:tta"


@pytest.fixture(scope="module")
def specs() -> dict[str, ModelSpec]:
    table = load_zoo(["detectron"])
    return {uid: spec_for_uid(table, uid) for uid in table["uid"]}


def small(spec: ModelSpec, **arch_changes: object) -> ModelSpec:
    """The spec at input size 96/128, 8 detections, RPN cut to 50 proposals (and its proposal model too)."""
    config = detectron_config(spec)
    arch = dataclasses.replace(config.arch, rpn_pre_nms_top_n=200, rpn_post_nms_top_n=50,
                               proposal_limit=50, **arch_changes)
    proposals = small(config.proposals) if config.proposals is not None else None
    config = dataclasses.replace(config, arch=arch, proposals=proposals)
    return dataclasses.replace(spec, family_config=config).with_sizes(96, 128).with_test(detections_per_image=8,
                                                                                         score_thresh=0.0)


def test_every_detectron_row_is_runnable(specs: dict[str, ModelSpec]) -> None:
    table = load_zoo(["detectron"])
    assert all(is_runnable(row) for row in table.to_dict("records")) and len(specs) == 75
    mask = specs[f"detectron:{MASK_FPN}"]
    assert mask.outputs == {"boxes", "masks"} and mask.builder == "e2e_mask_rcnn_R-50-FPN_1x"
    assert mask.preprocessing.channel_order == "BGR" and mask.preprocessing.pixel_std is None
    assert mask.preprocessing.pixel_mean == (102.9801, 115.9465, 122.7717)
    assert (mask.preprocessing.min_size, mask.preprocessing.max_size) == (800, 1333)
    assert (mask.test.score_thresh, mask.test.nms_thresh, mask.test.detections_per_image) == (0.05, 0.5, 100)
    assert mask.weights is not None and mask.weights.url.endswith("model_final.pkl")
    assert mask.weights.checksum_url == mask.weights.url + ".md5sum"
    fast = specs["detectron:36225147"]
    assert detectron_config(fast).proposals.uid == "detectron:35998814" and detectron_config(fast).arch.kind == "fast"
    assert detectron_config(specs["detectron:37651787"]).proposals.uid == "detectron:35998996"  # person-only RPN


def test_only_the_tta_row_augments(specs: dict[str, ModelSpec]) -> None:
    tta, plain = specs[TTA_UID], specs["detectron:37129812"]
    tta_arch, plain_arch = detectron_config(tta).arch, detectron_config(plain).arch
    assert tta_arch.tta and tta_arch.bbox_vote and tta_arch.bbox_vote_th == 0.9
    assert not plain_arch.tta and not plain_arch.bbox_vote
    config = runtime_config(tta, tta_arch, (10.0, 10.0, 5.0, 5.0))
    assert config.tta_scales == (400, 500, 600, 700, 900, 1000, 1100, 1200) and config.tta_max_size == 2000
    assert config.vote_thresh == 0.9
    assert runtime_config(tta.with_sizes(400, 666), tta_arch, (1.0,) * 4).tta_scales[:2] == (200, 250)


def test_catalog_needs_no_torch() -> None:
    code = ("import sys; from explorer.zoo.table import load_zoo; from explorer.models.catalog import spec_for_uid; "
            "t = load_zoo(['detectron']); [spec_for_uid(t, uid) for uid in t['uid']]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def _check(detections: Detections, spec: ModelSpec, image: np.ndarray) -> None:
    height, width = image.shape[:2]
    assert detections.width == width and detections.height == height
    assert np.isfinite(detections.boxes).all() and np.isfinite(detections.scores).all()
    if detections.kind == "proposals":
        assert set(detections.names) <= {"object"} and len(detections) > 0
        return
    assert 0 < len(detections) <= 8
    assert (detections.boxes[:, 0] >= 0).all() and (detections.boxes[:, 2] <= width).all()
    assert (detections.boxes[:, 3] <= height).all() and (np.diff(detections.scores) <= 0).all()
    assert all(COCO_CATEGORY_IDS[COCO_NAMES.index(n)] == c for n, c in zip(detections.names, detections.labels,
                                                                               strict=True))
    assert (detections.masks is not None) == ("masks" in spec.outputs)
    if "keypoints" in spec.outputs:
        assert detections.keypoints is not None and detections.keypoints.shape == (len(detections), 17, 2)
        assert set(detections.names) == {"person"}


FAMILY_ROWS = {
    "35857345": "Faster R-50-FPN", MASK_FPN: "Mask R-50-FPN", "35857197": "Faster R-50-C4", "35858791": "Mask R-50-C4",
    "36768636": "RetinaNet R-50-FPN", "37697547": "Keypoint R-50-FPN", "35998814": "RPN R-50-FPN",
    "35998355": "RPN R-50-C4", "36225147": "Fast R-50-FPN on RPN proposals",
    "37651787": "Keypoint on person-RPN proposals", "36224121": "Mask R-50-C4 on RPN proposals",
}


@pytest.mark.parametrize("model_id", list(FAMILY_ROWS), ids=list(FAMILY_ROWS.values()))
def test_each_family_runs_end_to_end(specs: dict[str, ModelSpec], model_id: str) -> None:
    torch.manual_seed(0)
    spec = small(specs[f"detectron:{model_id}"])
    runner = load_runner(spec, "cpu", RANDOM_WEIGHTS)
    image = random_image()
    detections = runner.predict([image])[0]
    _check(detections, spec, image)
    assert set(detections.timings) == {"preprocess", "model", "postprocess"}
    if detectron_config(spec).arch.kind == "fast":
        assert runner.proposal_runner is not None and runner.proposal_runner.arch.kind == "rpn"


def test_tta_with_box_voting_and_mask_averaging_runs(specs: dict[str, ModelSpec]) -> None:
    """The X-152 TTA path (flip, scales, voting, soft-averaged masks) on an R-50 body, so it stays quick."""
    torch.manual_seed(0)
    spec = small(specs[f"detectron:{MASK_FPN}"], tta=True, tta_scales=(400,), tta_max_size=2000,
                 tta_h_flip=True, tta_scale_h_flip=False, tta_mask_aug=True, bbox_vote=True, bbox_vote_th=0.9)
    runner = load_runner(spec, "cpu", RANDOM_WEIGHTS)
    assert runner.pipeline.config.tta_scales == (48,) and runner.pipeline.config.vote_thresh == 0.9
    image = random_image()
    _check(runner.predict([image])[0], spec, image)


def test_generated_checkpoint_runs_through_the_engine(specs: dict[str, ModelSpec], tmp_path: Path) -> None:
    """pkl -> safe load -> conversion -> cached .pt -> runner, and the second load reads the cache."""
    spec = small(specs[f"detectron:{MASK_FPN}"])
    pkl = write_pickle(tmp_path / "model_final.pkl", checkpoint(spec.builder, with_leftovers=False))
    image = random_image()
    first = load_runner(spec, "cpu", pkl).predict([image])[0]
    _check(first, spec, image)
    second = load_runner(spec, "cpu", pkl).predict([image])[0]
    assert np.array_equal(first.boxes, second.boxes) and np.array_equal(first.scores, second.scores)


def test_tta_transforms_come_in_detectrons_order() -> None:
    from types import SimpleNamespace

    from explorer.models.detectron.inference.tta import _transforms

    pipe = SimpleNamespace(config=SimpleNamespace(scale=800, max_size=1333, tta_scales=(400, 1200), tta_max_size=2000))
    assert _transforms(pipe, True, True) == [(800, 1333, True), (400, 2000, False), (400, 2000, True),
                                             (1200, 2000, False), (1200, 2000, True)]
    assert _transforms(pipe, False, False) == [(400, 2000, False), (1200, 2000, False)]


def test_autocast_is_refused_on_the_cpu(specs: dict[str, ModelSpec]) -> None:
    runner = load_runner(small(specs["detectron:35998355"]), "cpu", RANDOM_WEIGHTS)
    with pytest.raises(ValueError, match="GPUs"):
        runner.predict([random_image()], autocast="fp16")

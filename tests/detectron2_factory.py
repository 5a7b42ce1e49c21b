"""Synthetic Detectron2 checkpoints in the zoo's format, and small architectures to make them for.

A Detectron2 `model_final_*.pkl` is a pickle of ``{"model": {module name: numpy array}, "__author__": ...,
"matching_heuristics": ...}``. `write_checkpoint` writes exactly that for a `NetConfig`, with random weights,
plus what real files hold beyond the network: BN step counters (`num_batches_tracked`, LSJ rows) and, as
some files do, the `pixel_mean`/`pixel_std` buffers. The names come from our network's state dict, so the
tests also check a list of names read from Detectron2's code (`KNOWN_NAMES`) independently.

`small(...)` shrinks an architecture where Detectron2's configs allow it (RES2_OUT_CHANNELS,
STEM_OUT_CHANNELS, WIDTH_PER_GROUP, FPN.OUT_CHANNELS, head widths), so tests run in seconds.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.models.detectron2.netconfig import NetConfig, RegNetParams
from explorer.models.detectron2.network.model import Detectron2Model

#: Parameter names and shapes of a full-size Mask R-CNN R-50-FPN checkpoint, from Detectron2's modules
#: (resnet.py BasicStem/BottleneckBlock, fpn.py, rpn.py StandardRPNHead, roi_heads FastRCNNConvFCHead,
#: FastRCNNOutputLayers, MaskRCNNConvUpsampleHead).
KNOWN_NAMES: dict[str, tuple[int, ...]] = {
    "backbone.bottom_up.stem.conv1.weight": (64, 3, 7, 7),
    "backbone.bottom_up.stem.conv1.norm.running_var": (64,),
    "backbone.bottom_up.res2.0.shortcut.weight": (256, 64, 1, 1),
    "backbone.bottom_up.res3.0.conv1.weight": (128, 256, 1, 1),
    "backbone.bottom_up.res5.2.conv3.norm.bias": (2048,),
    "backbone.fpn_lateral2.weight": (256, 256, 1, 1),
    "backbone.fpn_output5.bias": (256,),
    "proposal_generator.rpn_head.conv.weight": (256, 256, 3, 3),
    "proposal_generator.rpn_head.objectness_logits.weight": (3, 256, 1, 1),
    "proposal_generator.rpn_head.anchor_deltas.weight": (12, 256, 1, 1),
    "roi_heads.box_head.fc1.weight": (1024, 12544),
    "roi_heads.box_head.fc2.bias": (1024,),
    "roi_heads.box_predictor.cls_score.weight": (81, 1024),
    "roi_heads.box_predictor.bbox_pred.weight": (320, 1024),
    "roi_heads.mask_head.mask_fcn4.weight": (256, 256, 3, 3),
    "roi_heads.mask_head.deconv.weight": (256, 256, 2, 2),
    "roi_heads.mask_head.predictor.weight": (80, 256, 1, 1),
}

TINY_REGNET = RegNetParams(depth=8, w_a=8.0, w_0=8, w_m=2.0, group_width=8, stem_width=8, se_ratio=0.25)


def small(config: NetConfig, **changes: Any) -> NetConfig:
    """`config` at test size: narrow widths, 64-pixel input, few detections."""
    values: dict[str, Any] = dict(res2_out=32, stem_out=8, width_per_group=8, fpn_dim=16, box_fc_dim=32,
                                  box_conv_dim=16, mask_conv_dim=16, keypoint_conv_dims=(16, 16), min_size=64,
                                  max_size=96, detections_per_image=5, rpn_pre_nms_topk=200, rpn_post_nms_topk=50,
                                  retinanet_topk=50)
    if config.backbone == "regnet":
        values["regnet"] = TINY_REGNET
    values.update(changes)
    return dataclasses.replace(config, **values)


def random_state(config: NetConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for every parameter, positive variances for every norm."""
    torch.manual_seed(seed)
    model = Detectron2Model(config)
    state = {}
    for name, tensor in model.state_dict().items():
        value = torch.randn(tensor.shape) * 0.05
        if name.endswith("running_var"):
            value = value.abs() + 0.5
        elif name.endswith("norm.weight") or name.endswith("bn.weight"):
            value = value + 1.0
        state[name] = value.numpy().astype(np.float32)
    return state


def write_checkpoint(path: Path, config: NetConfig, *, seed: int = 0, protocol: int = 4,
                     extras: bool = True, drop: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """A zoo-format pkl of random weights for `config`; returns its `model` dict."""
    state = random_state(config, seed)
    if extras:
        if config.backbone_norm == "BN":
            for name in [n for n in state if n.endswith(".running_var")]:
                state[name.removesuffix("running_var") + "num_batches_tracked"] = np.array(1000, dtype=np.int64)
        state["pixel_mean"] = np.asarray(config.pixel_mean, dtype=np.float32).reshape(3, 1, 1)
        state["pixel_std"] = np.asarray(config.pixel_std, dtype=np.float32).reshape(3, 1, 1)
    for name in drop:
        state.pop(name)
    payload = {"model": state, "__author__": "Detectron2 Model Zoo", "matching_heuristics": False}
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    return state


def write_detectron_checkpoint(path: Path) -> None:
    """A Detectron (Caffe2) pkl: {"blobs": {...}, "cfg": yaml text}."""
    blobs = {"conv1_w": np.zeros((64, 3, 7, 7), np.float32), "res_conv1_bn_s": np.ones(64, np.float32)}
    path.write_bytes(pickle.dumps({"blobs": blobs, "cfg": "MODEL:\n  TYPE: generalized_rcnn\n"}, protocol=2))

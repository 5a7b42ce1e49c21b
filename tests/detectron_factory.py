"""Synthetic Detectron checkpoints: the blob names and shapes a real `model_final.pkl` carries, per architecture.

Written from Detectron's modeling code (ResNet.py, FPN.py, rpn_heads.py, fast_rcnn_heads.py,
mask_rcnn_heads.py, keypoint_rcnn_heads.py, retinanet_heads.py, detector.py, utils/net.py), *not* from the
converter's mapping, so a test that converts these files checks the converter against an independent reading
of Detectron. Like real files they also hold blobs the detector never reads: SGD momentum of trainable
parameters, the ImageNet classifier (`fc1000_*`) and the zero biases of the pretrained backbone's convs
(`conv1_b`, `res*_branch*_b`), which Detectron's loader keeps as "preserved" blobs.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

Shapes = dict[str, tuple[int, ...]]

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
STAGE_OUT = (256, 512, 1024, 2048)


def _conv(blobs: Shapes, name: str, dim_in: int, dim_out: int, kernel: int, groups: int = 1,
          bias: bool = True) -> None:
    blobs[f"{name}_w"] = (dim_out, dim_in // groups, kernel, kernel)
    if bias:
        blobs[f"{name}_b"] = (dim_out,)


def _conv_affine(blobs: Shapes, name: str, dim_in: int, dim_out: int, kernel: int, groups: int = 1) -> None:
    """detector.ConvAffine: conv without bias, AffineChannel `<name>_bn` with `_s` and `_b`."""
    _conv(blobs, name, dim_in, dim_out, kernel, groups, bias=False)
    blobs[f"{name}_bn_s"] = (dim_out,)
    blobs[f"{name}_bn_b"] = (dim_out,)


def _stage(blobs: Shapes, prefix: str, count: int, dim_in: int, dim_out: int, inner: int, groups: int) -> None:
    """ResNet.add_stage of bottleneck_transformation blocks with basic_bn_shortcut."""
    for index in range(count):
        name = f"{prefix}_{index}"
        _conv_affine(blobs, f"{name}_branch2a", dim_in, inner, 1)
        _conv_affine(blobs, f"{name}_branch2b", inner, inner, 3, groups)
        _conv_affine(blobs, f"{name}_branch2c", inner, dim_out, 1)
        if dim_in != dim_out:
            _conv_affine(blobs, f"{name}_branch1", dim_in, dim_out, 1)
        dim_in = dim_out


def resnet(depth: int, groups: int = 1, width: int = 64, stages: int = 4) -> Shapes:
    """basic_bn_stem + res2..res<stages + 1>; the inner width doubles every stage."""
    blobs: Shapes = {}
    _conv(blobs, "conv1", 3, 64, 7, bias=False)
    blobs["res_conv1_bn_s"] = (64,)
    blobs["res_conv1_bn_b"] = (64,)
    dim_in, inner = 64, groups * width
    for stage in range(stages):
        _stage(blobs, f"res{stage + 2}", BLOCKS[depth][stage], dim_in, STAGE_OUT[stage], inner, groups)
        dim_in, inner = STAGE_OUT[stage], inner * 2
    return blobs


def fpn(depth: int, min_level: int = 2, extra_convs: bool = False) -> Shapes:
    """add_fpn: `fpn_inner_<res>` (coarsest), `fpn_inner_<res>_lateral`, `fpn_<res>` 3x3, and for RetinaNet
    `fpn_6` on C5 and `fpn_7`."""
    blobs: Shapes = {}
    sums = {stage: f"res{stage}_{BLOCKS[depth][stage - 2] - 1}_sum" for stage in (5, 4, 3, 2)}
    stages = [s for s in (5, 4, 3, 2) if s >= min_level]
    _conv(blobs, f"fpn_inner_{sums[5]}", 2048, 256, 1)
    for stage in stages[1:]:
        _conv(blobs, f"fpn_inner_{sums[stage]}_lateral", STAGE_OUT[stage - 2], 256, 1)
    for stage in stages:
        _conv(blobs, f"fpn_{sums[stage]}", 256, 256, 3)
    if extra_convs:
        _conv(blobs, "fpn_6", 2048, 256, 3)
        _conv(blobs, "fpn_7", 256, 256, 3)
    return blobs


def rpn(fpn_on: bool) -> Shapes:
    """add_single_scale_rpn_outputs (15 anchors on res4) or add_fpn_rpn_outputs (3 anchors, level-2 names)."""
    blobs: Shapes = {}
    if fpn_on:
        _conv(blobs, "conv_rpn_fpn2", 256, 256, 3)
        _conv(blobs, "rpn_cls_logits_fpn2", 256, 3, 1)
        _conv(blobs, "rpn_bbox_pred_fpn2", 256, 12, 1)
    else:
        _conv(blobs, "conv_rpn", 1024, 1024, 3)
        _conv(blobs, "rpn_cls_logits", 1024, 15, 1)
        _conv(blobs, "rpn_bbox_pred", 1024, 60, 1)
    return blobs


def box_head(fpn_on: bool, num_classes: int = 81, groups: int = 1, width: int = 64) -> Shapes:
    """add_roi_2mlp_head (fc6 on 256x7x7) or add_ResNet_roi_conv5_head (res5), plus add_fast_rcnn_outputs."""
    blobs: Shapes = {}
    if fpn_on:
        blobs.update({"fc6_w": (1024, 256 * 7 * 7), "fc6_b": (1024,), "fc7_w": (1024, 1024), "fc7_b": (1024,)})
        dim = 1024
    else:
        _stage(blobs, "res5", 3, 1024, 2048, groups * width * 8, groups)
        dim = 2048
    blobs.update({"cls_score_w": (num_classes, dim), "cls_score_b": (num_classes,),
                  "bbox_pred_w": (4 * num_classes, dim), "bbox_pred_b": (4 * num_classes,)})
    return blobs


def mask_head(fpn_on: bool, num_classes: int = 81) -> Shapes:
    """v1up4convs (`_[mask]_fcn1..4`, conv5_mask) or v0upshare (conv5_mask on the shared res5), + logits."""
    blobs: Shapes = {}
    if fpn_on:
        for i in range(4):
            _conv(blobs, f"_[mask]_fcn{i + 1}", 256, 256, 3)
        blobs.update({"conv5_mask_w": (256, 256, 2, 2), "conv5_mask_b": (256,)})
    else:
        blobs.update({"conv5_mask_w": (2048, 256, 2, 2), "conv5_mask_b": (256,)})
    _conv(blobs, "mask_fcn_logits", 256, num_classes, 1)
    return blobs


def keypoint_head() -> Shapes:
    """add_roi_pose_head_v1convX (8 x 512) and add_keypoint_outputs (deconv output + bilinear x2)."""
    blobs: Shapes = {}
    dim = 256
    for i in range(8):
        _conv(blobs, f"conv_fcn{i + 1}", dim, 512, 3)
        dim = 512
    blobs.update({"kps_score_lowres_w": (512, 17, 4, 4), "kps_score_lowres_b": (17,),
                  "kps_score_w": (17, 17, 4, 4), "kps_score_b": (17,)})
    return blobs


def retinanet_head(num_classes: int = 81) -> Shapes:
    """add_fpn_retinanet_outputs: two 4-conv towers named after level 3, 9 anchors, class-agnostic boxes."""
    blobs: Shapes = {}
    for i in range(4):
        _conv(blobs, f"retnet_cls_conv_n{i}_fpn3", 256, 256, 3)
        _conv(blobs, f"retnet_bbox_conv_n{i}_fpn3", 256, 256, 3)
    _conv(blobs, "retnet_cls_pred_fpn3", 256, 9 * (num_classes - 1), 3)
    _conv(blobs, "retnet_bbox_pred_fpn3", 256, 9 * 4, 3)
    return blobs


#: The architectures the tests use: (config name in zoo_data, blob builder).
def model_shapes(config: str) -> Shapes:
    """All parameter blobs of a 12_2017 config, by the rules above."""
    depth = 152 if "X-152" in config else 101 if "-101-" in config else 50
    groups, width = (64, 4) if "64x4d" in config else (32, 8) if "32x8d" in config else (1, 64)
    fpn_on = "FPN" in config
    num_classes = 2 if "keypoint" in config or "person_only" in config else 81
    if config.startswith("retinanet"):
        return {**resnet(depth, groups, width), **fpn(depth, 3, True), **retinanet_head()}
    blobs = resnet(depth, groups, width, 4 if fpn_on else 3)
    if fpn_on:
        blobs.update(fpn(depth))
    if config.startswith(("rpn", "e2e")):
        blobs.update(rpn(fpn_on))
    if not config.startswith("rpn"):
        blobs.update(box_head(fpn_on, num_classes, groups, width))
    if "mask_rcnn" in config:
        blobs.update(mask_head(fpn_on, num_classes))
    if "keypoint_rcnn" in config:
        blobs.update(keypoint_head())
    return blobs


def leftovers(shapes: Shapes, frozen_prefixes: tuple[str, ...] = ("conv1", "res_conv1", "res2_")) -> Shapes:
    """Blobs real files carry besides the parameters: momentum of trainable ones, ImageNet leftovers."""
    extra: Shapes = {"fc1000_w": (1000, 2048), "fc1000_b": (1000,), "conv1_b": (64,)}
    for name, shape in shapes.items():
        if name.startswith("res") and "_branch" in name and name.endswith("_w"):
            extra[name[:-2] + "_b"] = (shape[0],)  # pretrained backbone conv biases (zeros)
        if not name.startswith(frozen_prefixes) and not name.endswith(("_bn_s", "_bn_b")) \
                and name not in ("kps_score_w", "kps_score_b"):
            extra[f"{name}_momentum"] = shape
    return extra


def arrays(shapes: Shapes, seed: int = 0, scale: float = 0.01) -> dict[str, np.ndarray]:
    """Small random float32 values of the given shapes (one shared pool, so even 40M values are quick);
    AffineChannel scales are 1 so activations neither vanish nor explode."""
    rng = np.random.default_rng(seed)
    pool = (rng.standard_normal(1 << 20) * scale).astype(np.float32)
    out: dict[str, np.ndarray] = {}
    for index, (name, shape) in enumerate(sorted(shapes.items())):
        size = int(np.prod(shape))
        start = (index * 7919) % pool.size
        if name.endswith("_bn_s"):
            out[name] = np.ones(shape, np.float32)
        elif size <= pool.size - start:
            out[name] = pool[start:start + size].reshape(shape).copy()
        else:
            out[name] = np.resize(np.roll(pool, -start), shape)
    return out


def unused_pretrained(config: str) -> Shapes:
    """ImageNet blobs the model has no layer for, which Detectron's loader preserves: res5 of a C4 RPN."""
    if config.startswith("rpn") and "C4" in config:
        blobs: Shapes = {}
        _stage(blobs, "res5", 3, 1024, 2048, 512, 1)
        return blobs
    return {}


def checkpoint(config: str, seed: int = 0, with_leftovers: bool = True) -> dict[str, np.ndarray]:
    shapes = model_shapes(config)
    extra = {**leftovers(shapes), **unused_pretrained(config)} if with_leftovers else {}
    return arrays({**shapes, **extra}, seed)


CFG_TEXT = "MODEL:\n  BBOX_REG_WEIGHTS: (10.0, 10.0, 5.0, 5.0)\n  TYPE: generalized_rcnn\n"


def write_pickle(path: Path, blobs: dict[str, np.ndarray], cfg_text: str = CFG_TEXT) -> Path:
    """A Python 3 protocol-2 pickle of Detectron's layout (numpy's reduce uses _codecs.encode for bytes)."""
    path.write_bytes(pickle.dumps({"blobs": blobs, "cfg": cfg_text}, protocol=2))
    return path


# ---------------------------------------------------------------------------------------- Python 2 layout


def _short_string(data: bytes) -> bytes:
    """Python 2's str (SHORT_BINSTRING / BINSTRING): how cPickle wrote names and array bytes."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _py2_array(array: np.ndarray) -> Iterator[bytes]:
    """numpy 1.x's ndarray.__reduce__ as Python 2 cPickle (protocol 2) wrote it."""
    yield b"cnumpy.core.multiarray\n_reconstruct\n"
    yield b"cnumpy\nndarray\n" + _int(0) + b"\x85" + _short_string(b"b") + b"\x87R"
    shape = b"".join(_int(dim) for dim in array.shape)
    dtype = b"cnumpy\ndtype\n" + _short_string(array.dtype.str[1:].encode()) + _int(0) + _int(1) + b"\x87R"
    dtype_state = b"(" + _int(3) + _short_string(b"<") + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"tb"
    data = _short_string(np.ascontiguousarray(array).tobytes())
    yield b"(" + _int(1) + b"(" + shape + b"t" + dtype + dtype_state + b"\x89" + data + b"tb"


def python2_pickle(blobs: dict[str, np.ndarray], cfg_text: str = CFG_TEXT) -> bytes:
    """Bytes of `{'blobs': {...}, 'cfg': '...'}` exactly as Detectron's Python 2 `save_object` wrote them."""
    parts = [b"\x80\x02}(", _short_string(b"blobs"), b"}("]
    for name, array in blobs.items():
        parts.append(_short_string(name.encode()))
        parts.extend(_py2_array(array))
    parts += [b"u", _short_string(b"cfg"), _short_string(cfg_text.encode()), b"u."]
    return b"".join(parts)

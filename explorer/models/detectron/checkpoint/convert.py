"""Detectron blobs -> a PyTorch state dict for `DetectronModel`, checked blob by blob, and cached.

Every tensor of the model names its blob (see `layers`); conversion fills each from exactly that blob, after
checking it exists and has the right shape, and asserts that no tensor is left unfilled (a converter that left
random weights would produce plausible-looking garbage). Blobs the model does not read must be explained by
a rule, or conversion fails naming them:

* `*_momentum`: SGD momentum saved with every trainable parameter;
* `fc1000_w/_b`, `pred_w/_b`: the ImageNet classifier of the pretrained backbone, kept by Detectron's loader;
* `<conv>_b` of a bias-free conv (`conv1_b`, `res2_0_branch2a_b`, ...): biases of the pretrained backbone's
  convolutions, which Detectron replaced by AffineChannel and never reads;
* (the other way round) `kps_score_w/_b`, the keypoint head's fixed bilinear x2 upsampling, are computed as
  Detectron initialises them if a file lacks them: Detectron never trains them, so their value is known;
* `res<N>_*` blocks of a ResNet stage the model does not have at all (res5 in a C4 RPN-only model): the
  ImageNet weights of that stage, kept by the loader. A stage the model has must match block for block, so
  an R-101 checkpoint still fails on an R-50 architecture.

The converted checkpoint is a plain `torch.save` dict (format tag, config, source size and time, Detectron's
bbox regression weights, the state dict), loaded back with `torch.load(weights_only=True)`. Published
checkpoints are cached next to the downloaded pkl, other pkls under `$EXPLORER_CACHE/detectron/converted/`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.checkpoint.pickle_safe import load_checkpoint
from explorer.models.detectron.errors import (
    BlobShapeError,
    CheckpointFormatError,
    DetectronWeightsError,
    MissingBlobError,
    UnexpectedBlobError,
    few,
)
from explorer.models.detectron.network.layers import bias_free_convs, blob_map, fold_affines
from explorer.models.detectron.network.model import DetectronModel
from explorer.weights.cache import cache_lock
from explorer.weights.sources import explorer_cache_dir
from explorer.weights.transport import write_atomic_with

FORMAT = "explorer.detectron/1"
IMAGENET_LEFTOVERS = frozenset({"fc1000_w", "fc1000_b", "pred_w", "pred_b"})
UNIT_BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
BACKBONE_BLOB = re.compile(r"^res(\d)_\d+_branch(?:1|2[abc])(?:_bn)?_[wbs]$")
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class ConversionReport:
    """What conversion did: tensors filled, blobs ignored (by reason), unexplained blobs kept out."""

    filled: int = 0
    ignored: dict[str, list[str]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)  # absent from the file, filled with Detectron's constant
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.filled} tensors filled"]
        if self.constant:
            parts.append(f"{few(self.constant)} set to Detectron's fixed values (absent from the file)")
        parts += [f"{len(names)} {reason} ignored" for reason, names in sorted(self.ignored.items())]
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexplained blobs ignored: {few(self.unexpected)}")
        return ", ".join(parts) + f" in {self.seconds:.2f} s"


@dataclass(frozen=True)
class ConvertedWeights:
    """A state dict for `DetectronModel(arch)` and the box regression weights Detectron would use with it."""

    config: str
    state_dict: dict[str, torch.Tensor]
    bbox_reg_weights: tuple[float, ...]
    report: ConversionReport | None = None


def build_empty(arch: DetectronArch) -> DetectronModel:
    """The architecture without allocating or initialising weights (shapes only)."""
    with torch.device("meta"):
        return DetectronModel(arch)


def bilinear_upsampling_kernel(channels: int, up_scale: int) -> np.ndarray:
    """Detectron's fixed ConvTranspose kernel for bilinear upsampling (detector.BilinearInterpolation): a
    (2 * up_scale)^2 tent filter on the diagonal (channel i -> channel i), zeros elsewhere."""
    size = 2 * up_scale
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - np.abs(np.arange(size) - centre) / factor
    kernel = np.zeros((channels, channels, size, size), dtype=np.float32)
    kernel[np.arange(channels), np.arange(channels)] = np.outer(ramp, ramp)
    return kernel


def constant_blobs(arch: DetectronArch) -> dict[str, np.ndarray]:
    """Blobs whose value Detectron fixes rather than learns, for files that do not store them."""
    if not (arch.keypoints_on and arch.keypoint_up_scale > 1):
        return {}
    return {"kps_score_w": bilinear_upsampling_kernel(arch.num_keypoints, arch.keypoint_up_scale),
            "kps_score_b": np.zeros(arch.num_keypoints, dtype=np.float32)}


def ignore_reason(name: str, bias_free: set[str], stages: set[int]) -> str | None:
    """Why a blob the model does not read may be ignored, or None when nothing explains it. `stages` are the
    ResNet stages the model has."""
    if name.endswith("_momentum"):
        return "momentum blobs"
    if name in IMAGENET_LEFTOVERS:
        return "ImageNet classifier blobs"
    if name.endswith("_b") and name[:-2] in bias_free:
        return "biases of bias-free convolutions"
    match = BACKBONE_BLOB.match(name)
    if match and int(match.group(1)) not in stages:
        return "ImageNet blobs of an unused ResNet stage"
    return None


def _stages(blobs: set[str]) -> set[int]:
    return {int(match.group(1)) for name in blobs if (match := BACKBONE_BLOB.match(name))}


def check_blobs(blobs: Mapping[str, Any], arch: DetectronArch, *, strict: bool = True,
                model: DetectronModel | None = None) -> tuple[dict[str, str], ConversionReport]:
    """Check names and shapes only (values untouched; anything with `.shape` will do): state key -> blob."""
    model = model if model is not None else build_empty(arch)
    mapping = blob_map(model)
    expected = model.state_dict()
    unmapped = set(expected) - set(mapping)
    assert not unmapped, f"converter bug: no blob fills {few(unmapped)}"
    constants = constant_blobs(arch)
    missing = sorted({blob for blob in mapping.values() if blob not in blobs and blob not in constants})
    if missing:
        raise MissingBlobError(f"the checkpoint lacks {len(missing)} blobs that {arch.config} needs: {few(missing)}"
                               " (is it the checkpoint of another model?)")
    wrong = [f"{blob} is {tuple(blobs[blob].shape)}, expected {tuple(expected[key].shape)}"
             for key, blob in mapping.items()
             if blob in blobs and tuple(blobs[blob].shape) != tuple(expected[key].shape)]
    if wrong:
        raise BlobShapeError(f"{len(wrong)} blobs do not fit {arch.config}: " + "; ".join(wrong[:4])
                             + (f"; and {len(wrong) - 4} more" if len(wrong) > 4 else ""))
    report = ConversionReport()
    report.constant = sorted(blob for blob in mapping.values() if blob not in blobs)
    used = set(mapping.values())
    _classify_leftovers(set(blobs) - used, bias_free_convs(model), _stages(used), report, arch, strict)
    return mapping, report


def convert_blobs(blobs: Mapping[str, np.ndarray], arch: DetectronArch, *, strict: bool = True,
                  model: DetectronModel | None = None) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Fill every tensor of `DetectronModel(arch)` from its blob; raise on missing, misshapen or unknown blobs."""
    started = time.perf_counter()
    model = model if model is not None else build_empty(arch)
    mapping, report = check_blobs(blobs, arch, strict=strict, model=model)
    constants = constant_blobs(arch)
    state = {key: torch.from_numpy(np.ascontiguousarray(blobs[blob] if blob in blobs else constants[blob],
                                                        dtype=np.float32))
             for key, blob in mapping.items()}
    assert set(state) == set(model.state_dict()), "converter bug: the state dict does not cover the model"
    report.filled = len(state)
    report.seconds = time.perf_counter() - started
    return state, report


def _classify_leftovers(leftovers: set[str], bias_free: set[str], stages: set[int], report: ConversionReport,
                        arch: DetectronArch, strict: bool) -> None:
    ignored: dict[str, list[str]] = defaultdict(list)
    unknown = []
    for name in sorted(leftovers):
        reason = ignore_reason(name, bias_free, stages)
        if reason is None:
            unknown.append(name)
        else:
            ignored[reason].append(name)
    if unknown and strict:
        raise UnexpectedBlobError(f"the checkpoint has {len(unknown)} blobs that {arch.config} does not use: "
                                  f"{few(unknown)} (is it the checkpoint of another model? `convert "
                                  "--ignore-unknown` converts anyway)")
    report.ignored = dict(ignored)
    report.unexpected = unknown


def bbox_reg_weights_for(cfg_text: str, arch: DetectronArch) -> tuple[float, ...]:
    """Detectron's rule (utils/net.py: configure_bbox_reg_weights): a checkpoint whose saved config predates
    MODEL.BBOX_REG_WEIGHTS was trained with unit weights. The text is searched, never parsed."""
    if cfg_text and "BBOX_REG_WEIGHTS" not in cfg_text:
        return UNIT_BBOX_REG_WEIGHTS
    return arch.bbox_reg_weights


def convert_pickle(path: Path, arch: DetectronArch, *, strict: bool = True) -> ConvertedWeights:
    """Read a Detectron `.pkl` safely and convert it for `arch`."""
    checkpoint = load_checkpoint(path)
    state, report = convert_blobs(checkpoint.blobs, arch, strict=strict)
    return ConvertedWeights(arch.config, state, bbox_reg_weights_for(checkpoint.cfg_text, arch), report)


# ---------------------------------------------------------------------------------------- converted files


def save_converted(weights: ConvertedWeights, path: Path, source: Path | None = None) -> Path:
    """Write a converted checkpoint atomically (temporary file, fsync, rename: explorer.weights writes it)."""
    stat = source.stat() if source is not None else None
    payload: dict[str, Any] = {
        "format": FORMAT, "config": weights.config, "bbox_reg_weights": list(weights.bbox_reg_weights),
        "source_size": stat.st_size if stat else -1, "source_mtime_ns": stat.st_mtime_ns if stat else -1,
        "state_dict": weights.state_dict,
    }
    return write_atomic_with(path, lambda file: torch.save(payload, file), durable=True)


def is_converted_file(path: Path) -> bool:
    with Path(path).open("rb") as file:
        return file.read(4) == ZIP_MAGIC


def load_converted(path: Path, arch: DetectronArch, source: Path | None = None) -> ConvertedWeights:
    """Load a file written by `save_converted`; CheckpointFormatError if it is not one or is for another
    config; a stale cache entry (its source changed) raises too, so the caller reconverts."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointFormatError(f"{path} is not a converted Detectron checkpoint: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointFormatError(f"{path} is not a converted Detectron checkpoint (format {FORMAT})")
    if payload.get("config") != arch.config:
        raise CheckpointFormatError(f"{path} was converted for {payload.get('config')}, not {arch.config}")
    if source is not None:
        stat = source.stat()
        if (payload.get("source_size"), payload.get("source_mtime_ns")) != (stat.st_size, stat.st_mtime_ns):
            raise CheckpointFormatError(f"{path} was converted from an older {source.name}")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointFormatError(f"{path} has no state dict of tensors")
    _check_state(state, arch, path)
    try:
        reg_weights = tuple(float(v) for v in payload["bbox_reg_weights"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointFormatError(f"{path} has no usable bbox_reg_weights ({error!r})") from error
    if len(reg_weights) != 4:
        raise CheckpointFormatError(f"{path}: bbox_reg_weights must be 4 numbers, got {len(reg_weights)}")
    return ConvertedWeights(arch.config, state, reg_weights)


def _check_state(state: Mapping[str, torch.Tensor], arch: DetectronArch, path: Path) -> None:
    expected = build_empty(arch).state_dict()
    missing, extra = set(expected) - set(state), set(state) - set(expected)
    if missing or extra:
        raise CheckpointFormatError(f"{path} does not fit {arch.config}: missing {few(missing) or 'nothing'}, "
                                    f"extra {few(extra) or 'nothing'}")
    wrong = [key for key, value in expected.items() if tuple(state[key].shape) != tuple(value.shape)]
    if wrong:
        raise BlobShapeError(f"{path} does not fit {arch.config}: wrong shapes for {few(wrong)}")


def cache_path(pkl: Path) -> Path:
    """Where the converted copy of `pkl` is cached: beside it inside the explorer cache, else under it."""
    pkl = Path(pkl).expanduser().resolve()
    root = explorer_cache_dir().expanduser().resolve()
    if root in pkl.parents:
        return pkl.with_name(pkl.stem + ".converted.pt")
    digest = hashlib.sha256(str(pkl).encode("utf-8")).hexdigest()[:16]
    return root / "detectron" / "converted" / f"{pkl.stem}-{digest}.pt"


def load_weights(path: Path, arch: DetectronArch, *, notice: Callable[[str], None] | None = None,
                 ) -> ConvertedWeights:
    """Weights for `arch` from a converted file or a Detectron pkl (converted once, then read from the cache)."""
    path = Path(path)
    if is_converted_file(path):
        return load_converted(path, arch)
    cached = cache_path(path)
    with cache_lock(cached):  # the actors of a sweep on one machine convert once and share the result
        if cached.is_file():
            try:
                return load_converted(cached, arch, source=path)
            except DetectronWeightsError:
                pass  # stale or foreign: convert again below
        converted = convert_pickle(path, arch)
        try:
            save_converted(converted, cached, source=path)
        except OSError as error:
            if notice is not None:
                notice(f"could not cache the converted weights at {cached} ({error}); they will be converted again")
        return converted


def build_model(arch: DetectronArch, weights: ConvertedWeights | None, device: str, *,
                fold: bool = True) -> DetectronModel:
    """`DetectronModel(arch)` on `device`, filled from `weights` (None: PyTorch's random initialisation).

    `fold` folds each AffineChannel into the conv before it (inference only; the state dict then no longer
    has the checkpoint's layout).
    """
    if weights is None:
        model = DetectronModel(arch)
    else:
        model = build_empty(arch)
        state = {key: value.clone() for key, value in weights.state_dict.items()} if fold else weights.state_dict
        model.load_state_dict(state, strict=True, assign=True)
    model = model.eval().requires_grad_(False)
    if fold:
        fold_affines(model)
    return model.to(device)

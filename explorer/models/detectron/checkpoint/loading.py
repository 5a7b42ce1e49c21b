"""Build a `DetectronRunner` for a spec: weights (converted or cached), test settings, proposal model.

The loader fetches nothing: it receives the paths of every file the spec declares (its own checkpoint and
its proposal model's, fetched by `explorer.weights.model_files.fetch_model_files` under the checkpoint limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from explorer.models.catalog import ModelSpec
from explorer.models.detectron.arch import DetectronArch
from explorer.models.detectron.checkpoint.convert import build_model, load_weights
from explorer.models.detectron.config import detectron_config
from explorer.models.detectron.inference.pipeline import Pipeline, TestConfig
from explorer.models.detectron.runner import DetectronRunner


def runtime_config(spec: ModelSpec, arch: DetectronArch, bbox_reg_weights: tuple[float, ...]) -> TestConfig:
    """The config's test settings with the spec's input size and thresholds.

    TTA scales are absolute sizes in the config (400..1200 around a test scale of 800); when a spec runs at
    another size (quick previews, tests) they are scaled by the same factor, so the augmentation stays
    "smaller and larger than the test scale".
    """
    pre, test = spec.preprocessing, spec.test
    scale_factor = pre.min_size / arch.test_scale
    max_factor = pre.max_size / arch.test_max_size
    return TestConfig(
        scale=pre.min_size, max_size=pre.max_size,
        score_thresh=test.score_thresh if test.score_thresh is not None else arch.test_score_thresh,
        nms_thresh=test.nms_thresh if test.nms_thresh is not None else arch.test_nms,
        detections_per_im=(test.detections_per_image if test.detections_per_image is not None
                           else arch.test_detections_per_im),
        bbox_reg_weights=bbox_reg_weights,
        tta_scales=tuple(max(1, round(s * scale_factor)) for s in arch.tta_scales) if arch.tta else (),
        tta_max_size=max(1, round(arch.tta_max_size * max_factor)),
        vote_thresh=arch.bbox_vote_th if arch.bbox_vote else None,
    )


def load_runner(spec: ModelSpec, device: str, files: Mapping[str, Path],
                notice: Callable[[str], None] | None = None) -> DetectronRunner:
    """The runner of `spec` from `files` (model uid -> checkpoint); no files build random weights (its and its
    proposal model's)."""
    arch = detectron_config(spec).arch
    weights_path = files.get(spec.uid)
    weights = load_weights(weights_path, arch, notice=notice) if weights_path is not None else None
    model = build_model(arch, weights, device)
    config = runtime_config(spec, arch, weights.bbox_reg_weights if weights is not None else arch.bbox_reg_weights)
    proposal_runner = None
    if arch.kind == "fast":
        proposal_runner = _proposal_runner(spec, device, files, random=weights_path is None, notice=notice)
    return DetectronRunner(spec, device, Pipeline(model, config), proposal_runner)


def _proposal_runner(spec: ModelSpec, device: str, files: Mapping[str, Path], *, random: bool,
                     notice: Callable[[str], None] | None) -> DetectronRunner:
    """The RPN model whose proposals this Fast R-CNN-style model was trained and tested on."""
    proposal_spec = detectron_config(spec).proposals
    if proposal_spec is None:
        raise ValueError(f"{spec.name} runs on precomputed proposals, but its spec names no proposal model")
    proposal_spec = proposal_spec.with_sizes(spec.preprocessing.min_size, spec.preprocessing.max_size)
    if random:
        return load_runner(proposal_spec, device, {}, notice)
    if proposal_spec.uid not in files:
        raise ValueError(f"{spec.name} runs on the proposals of {proposal_spec.name}, whose checkpoint was not "
                         "fetched (explorer.weights.model_files.fetch_model_files fetches every file the spec "
                         "declares)")
    return load_runner(proposal_spec, device, {proposal_spec.uid: files[proposal_spec.uid]}, notice)

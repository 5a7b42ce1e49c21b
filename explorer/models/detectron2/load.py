"""Build a `Detectron2Runner` for a spec from the fetched files (none: random weights), with its proposal model.

The loader fetches nothing: it receives the paths of every file the spec declares (its own checkpoint and its
proposal model's, fetched by `explorer.weights.model_files.fetch_model_files` under the checkpoint limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from explorer.models.catalog import ModelSpec
from explorer.models.detectron2.checkpoint.loading import build_model, load_weights
from explorer.models.detectron2.config import detectron2_config
from explorer.models.detectron2.inference.pipeline import Pipeline, TestSettings, default_settings
from explorer.models.detectron2.netconfig import NetConfig
from explorer.models.detectron2.runner import Detectron2Runner


def runtime_settings(spec: ModelSpec, config: NetConfig) -> TestSettings:
    """The config's test settings with the spec's input size and thresholds."""
    base, pre, test = default_settings(config), spec.preprocessing, spec.test
    return TestSettings(
        min_size=pre.min_size, max_size=pre.max_size,
        score_thresh=test.score_thresh if test.score_thresh is not None else base.score_thresh,
        nms_thresh=test.nms_thresh if test.nms_thresh is not None else base.nms_thresh,
        detections_per_image=(test.detections_per_image if test.detections_per_image is not None
                              else base.detections_per_image))


def load_runner(spec: ModelSpec, device: str, files: Mapping[str, Path]) -> Detectron2Runner:
    config = detectron2_config(spec).net
    path = files.get(spec.uid)
    weights = load_weights(path, config) if path is not None else None
    model = build_model(config, weights, device)
    proposal_runner = None
    if config.precomputed_proposals:
        proposal_runner = _proposal_runner(spec, device, files, random=path is None)
    return Detectron2Runner(spec, device, Pipeline(model, runtime_settings(spec, config)), proposal_runner)


def _proposal_runner(spec: ModelSpec, device: str, files: Mapping[str, Path], *, random: bool) -> Detectron2Runner:
    proposal_spec = detectron2_config(spec).proposals
    if proposal_spec is None:
        raise ValueError(f"{spec.name} runs on precomputed proposals, but its spec names no proposal model")
    proposal_spec = proposal_spec.with_sizes(spec.preprocessing.min_size, spec.preprocessing.max_size)
    if random:
        return load_runner(proposal_spec, device, {})
    if proposal_spec.uid not in files:
        raise ValueError(f"{spec.name} runs on the proposals of {proposal_spec.name}, whose checkpoint was not "
                         "fetched (explorer.weights.model_files.fetch_model_files fetches every file the spec "
                         "declares)")
    return load_runner(proposal_spec, device, {proposal_spec.uid: files[proposal_spec.uid]})

"""torchvision's COCO detection models as a model family (all weights of `torchvision.models.detection`).

torch and torchvision are imported inside functions only, so that listing and describing these models
costs nothing on the zoo pages.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer.detections import Detections
from explorer.errors import ExplorerError
from explorer.models.catalog import ModelSpec, Preprocessing, TestSettings, register
from explorer.models.runtime import autocast_context, synchronized_clock

#: Zoo `type` -> what the model outputs.
_TYPE_OUTPUTS: dict[str, frozenset[str]] = {
    "Faster": frozenset({"boxes"}),
    "RetinaNet": frozenset({"boxes"}),
    "FCOS": frozenset({"boxes"}),
    "SSD": frozenset({"boxes"}),
    "SSDlite": frozenset({"boxes"}),
    "Mask": frozenset({"boxes", "masks"}),
    "Kps": frozenset({"boxes", "keypoints"}),
}
#: SSD models resize to a fixed square input and take no min/max size.
_FIXED_SIZE_PREFIX = "ssd"
MASK_THRESHOLD = 0.5  # torchvision's masks are per-pixel probabilities


class WeightsMismatchError(ExplorerError, ValueError):
    """A weights file that does not fit the chosen architecture."""


@dataclass(frozen=True)
class TorchvisionConfig:
    """The torchvision facts of a spec (`ModelSpec.family_config`)."""

    fixed_input_size: bool = False  # SSD models resize to their own square input; min/max size do not apply

    def companions(self) -> tuple[ModelSpec, ...]:
        return ()


def _weights_enum(spec: ModelSpec) -> Any:
    from torchvision.models import get_model_weights

    enum_name, _, member = spec.model_id.partition(".")
    weights = get_model_weights(spec.builder)
    if weights.__name__ != enum_name:
        raise ValueError(f"{spec.model_id} is not a weights enum of {spec.builder}")
    return weights[member]


class TorchvisionFamily:
    """Specs and runners for torchvision detection weights."""

    name = "torchvision"

    def handles(self, row: Mapping[str, Any]) -> bool:
        return row.get("zoo") == "torchvision" and row.get("type") in _TYPE_OUTPUTS

    def companion_uids(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        return ()

    def spec(self, row: Mapping[str, Any], companions: Sequence[ModelSpec] = ()) -> ModelSpec:
        from explorer.weights.sources import torchvision_source

        fixed = str(row["config"]).startswith(_FIXED_SIZE_PREFIX)
        return ModelSpec(
            uid=f"torchvision:{row['model_id']}",
            zoo="torchvision",
            model_id=str(row["model_id"]),
            name=str(row["name"]),
            family=self.name,
            builder=str(row["config"]),
            outputs=_TYPE_OUTPUTS[str(row["type"])],
            weights=torchvision_source(str(row["model_url"]), description=str(row["name"])),
            preprocessing=Preprocessing(min_size=0, max_size=0) if fixed else Preprocessing(),
            test=TestSettings(),
            family_config=TorchvisionConfig(fixed_input_size=fixed),
        )

    def load(self, spec: ModelSpec, device: str, files: Mapping[str, Path]) -> TorchvisionRunner:
        import torch
        from torchvision.models import get_model

        weights_path = files.get(spec.uid)
        meta = _weights_enum(spec).meta
        categories = tuple(meta["categories"])
        kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": len(categories)}
        if "keypoints" in spec.outputs:
            kwargs["num_keypoints"] = len(meta["keypoint_names"])
        if not (isinstance(spec.family_config, TorchvisionConfig) and spec.family_config.fixed_input_size):
            kwargs.update(min_size=spec.preprocessing.min_size, max_size=spec.preprocessing.max_size)
        kwargs.update(_test_kwargs(spec))
        model = get_model(spec.builder, **kwargs)
        if weights_path is not None:
            try:  # weights_only: no code runs; anything unreadable is the file's fault, said plainly
                state = torch.load(weights_path, map_location="cpu", weights_only=True)
            except Exception as error:
                first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise WeightsMismatchError(
                    f"{weights_path.name} is not a readable PyTorch weights file: {first_line}") from error
            try:
                model.load_state_dict(state)
            except (RuntimeError, KeyError, TypeError, AttributeError, ValueError) as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise WeightsMismatchError(
                    f"{weights_path.name} does not fit {spec.builder}: {first_line}") from error
        model.eval().to(device)
        return TorchvisionRunner(spec=spec, device=device, model=model, categories=categories)


class TorchvisionRunner:
    """A loaded torchvision detector; `predict` takes RGB uint8 arrays in their original size."""

    #: The tensor-in, tensor-out submodules an export runs in a runtime (explorer.runtimes); those a model
    #: lacks are skipped. Anchors, NMS, RoI pooling and mask paste between them stay in torchvision.
    runtime_parts: tuple[str, ...] = (
        "backbone", "rpn.head", "head", "roi_heads.box_head", "roi_heads.box_predictor", "roi_heads.mask_head",
        "roi_heads.mask_predictor", "roi_heads.keypoint_head", "roi_heads.keypoint_predictor",
    )

    def __init__(self, spec: ModelSpec, device: str, model: Any, categories: tuple[str, ...]) -> None:
        self.spec = spec
        self.device = device
        self.model = model
        self.categories = categories

    def predict(self, images: list[np.ndarray], *, autocast: str | None = None) -> list[Detections]:
        import torch

        started = time.perf_counter()
        tensors = [torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(self.device).float().div_(255)
                   for image in images]
        prepared = synchronized_clock(self.device)
        with torch.inference_mode(), autocast_context(self.device, autocast):
            outputs = self.model(tensors)
        ran = synchronized_clock(self.device)
        results = [self._to_detections(output, image) for output, image in zip(outputs, images, strict=True)]
        finished = time.perf_counter()
        n = len(images)
        for result in results:
            result.timings.update(preprocess=(prepared - started) / n, model=(ran - prepared) / n,
                                  postprocess=(finished - ran) / n)
        return results

    def _to_detections(self, output: dict[str, Any], image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        labels = output["labels"].cpu().numpy().astype(np.int64)
        masks = keypoints = keypoint_scores = None
        if "masks" in output:
            masks = (output["masks"][:, 0] > MASK_THRESHOLD).cpu().numpy()
        if "keypoints" in output:
            keypoints = output["keypoints"][..., :2].float().cpu().numpy()
            keypoint_scores = output["keypoints_scores"].float().cpu().numpy()
        return Detections(
            width=width, height=height, boxes=output["boxes"].float().cpu().numpy(),
            scores=output["scores"].float().cpu().numpy(), labels=labels,
            names=[self.categories[i] for i in labels], masks=masks, keypoints=keypoints,
            keypoint_scores=keypoint_scores,
        )


def _test_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """TestSettings as the builder's keyword names (two-stage models prefix theirs with 'box_')."""
    two_stage = spec.builder.split("_")[0] in ("fasterrcnn", "maskrcnn", "keypointrcnn")
    names = {
        "score_thresh": "box_score_thresh" if two_stage else "score_thresh",
        "nms_thresh": "box_nms_thresh" if two_stage else "nms_thresh",
        "detections_per_image": "box_detections_per_img" if two_stage else "detections_per_img",
    }
    return {names[field]: value for field, value in vars(spec.test).items() if value is not None}


register(TorchvisionFamily)

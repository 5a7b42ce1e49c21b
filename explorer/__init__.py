"""Detectron Zoo Explorer: choose an object-detection model from the published zoos and see it work.

The names in `__all__` are the library's short face for a notebook: the zoo table and its ranking, a model by
name, predictions on images, drawing them, evaluating results and the analyses of their errors, and the result
types. Each is defined in its own module (`_EXPORTS` says which) and imported on first use (PEP 562), so
`import explorer` costs nothing: no torch, pandas or Streamlit until a name that needs them is asked for.

    import explorer
    zoo = explorer.load_zoo()
    model = explorer.get_model("35861858")  # Detectron's Mask R-101-FPN 2x, published weights
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (grouped as a notebook uses them).
_EXPORTS: dict[str, str] = {
    # the zoo tables: one pandas DataFrame, and the ranking by accuracy per second
    "load_zoo": "explorer.zoo.table",
    "Constraints": "explorer.zoo.ranking",
    "rank_models": "explorer.zoo.ranking",
    "recommend": "explorer.zoo.ranking",
    # a model by name, loaded with its published, random or own weights
    "get_model_spec": "explorer.engine.by_name",
    "get_model": "explorer.engine.by_name",
    "ModelSpec": "explorer.models.catalog",
    "Runner": "explorer.models.catalog",
    # predicting on images, and drawing what was found
    "load_image_file": "explorer.inputs.images",
    "predict_images": "explorer.engine.runners",
    "Detections": "explorer.detections",
    "draw_detections": "explorer.drawing.detections",
    "RenderOptions": "explorer.drawing.detections",
    # evaluating COCO results, and the analyses of where AP is lost
    "load_ground_truth": "explorer.evaluation.inputs.ground_truth",
    "GroundTruth": "explorer.evaluation.inputs.ground_truth",
    "evaluate": "explorer.evaluation.coco.pipeline",
    "Evaluation": "explorer.evaluation.coco.results",
    "tide": "explorer.evaluation.analyses.tide",
    "TideErrors": "explorer.evaluation.analyses.tide",
    "analyse_keypoint_errors": "explorer.evaluation.analyses.keypoint_errors",
    "KeypointErrors": "explorer.evaluation.analyses.keypoint_errors",
    "confusion_matrix": "explorer.evaluation.analyses.confusion",
    "ConfusionMatrix": "explorer.evaluation.analyses.confusion",
    # the one base class of the errors a user can fix
    "ExplorerError": "explorer.errors",
}

#: The same names as _EXPORTS, spelled out for tools that read __all__ without running it (a test checks).
__all__ = ["ConfusionMatrix", "Constraints", "Detections", "Evaluation", "ExplorerError", "GroundTruth",
           "KeypointErrors", "ModelSpec", "RenderOptions", "Runner", "TideErrors", "analyse_keypoint_errors",
           "confusion_matrix", "draw_detections", "evaluate", "get_model", "get_model_spec", "load_ground_truth",
           "load_image_file", "load_zoo", "predict_images", "rank_models", "recommend", "tide"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports each on first use
    from explorer.detections import Detections
    from explorer.drawing.detections import RenderOptions, draw_detections
    from explorer.engine.by_name import get_model, get_model_spec
    from explorer.engine.runners import predict_images
    from explorer.errors import ExplorerError
    from explorer.evaluation.analyses.confusion import ConfusionMatrix, confusion_matrix
    from explorer.evaluation.analyses.keypoint_errors import KeypointErrors, analyse_keypoint_errors
    from explorer.evaluation.analyses.tide import TideErrors, tide
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.coco.results import Evaluation
    from explorer.evaluation.inputs.ground_truth import GroundTruth, load_ground_truth
    from explorer.inputs.images import load_image_file
    from explorer.models.catalog import ModelSpec, Runner
    from explorer.zoo.ranking import Constraints, rank_models, recommend
    from explorer.zoo.table import load_zoo


def __getattr__(name: str) -> Any:
    """Import a public name from its defining module the first time it is asked for, then keep it here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'explorer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

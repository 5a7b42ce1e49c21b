"""Map a zoo row to a runnable `ModelSpec`: builder, weights source, classes, preprocessing, outputs.

The catalog is the seam between the zoo tables and the engine. Each model family (torchvision today,
Detectron's own checkpoints next) registers a `ModelFamily`; the engine and the pages only ever see
`ModelSpec` and `Runner`, so a new family plugs in without touching them. Deciding whether a row is
runnable needs no torch import, so the zoo pages can mark runnable rows cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from explorer.detections import Detections
    from explorer.weights import WeightsSource


@dataclass(frozen=True)
class Preprocessing:
    """How the model wants its input; the family's runner applies it."""

    min_size: int = 800
    max_size: int = 1333
    channel_order: str = "RGB"  # "BGR" for Detectron
    pixel_mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, ...] | None = (0.229, 0.224, 0.225)
    input_scale: float = 1 / 255  # pixel values are multiplied by this before mean/std


@dataclass(frozen=True)
class TestSettings:
    """Post-processing thresholds at test time; None keeps the family's own default (the published one)."""

    score_thresh: float | None = None
    nms_thresh: float | None = None
    detections_per_image: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build, load and run one zoo model."""

    uid: str  # "zoo:model_id" as in the zoo tables
    zoo: str
    model_id: str
    name: str
    family: str  # key of FAMILIES
    builder: str  # family-specific architecture name, e.g. "maskrcnn_resnet50_fpn"
    outputs: frozenset[str]  # names of explorer.tasks.TASKS: "boxes", "masks", ...
    weights: WeightsSource | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    test: TestSettings = field(default_factory=TestSettings)
    extra: Mapping[str, Any] = field(default_factory=dict)  # family-specific facts (e.g. a Detectron config)

    def with_sizes(self, min_size: int, max_size: int) -> ModelSpec:
        """The same model at another input size (tests and quick previews run small)."""
        return replace(self, preprocessing=replace(self.preprocessing, min_size=min_size, max_size=max_size))

    def with_test(self, **settings: float | int | None) -> ModelSpec:
        """The same model with other test-time settings, e.g. fewer detections per image."""
        return replace(self, test=replace(self.test, **settings))


class Runner(Protocol):
    """A loaded model on a device: images in, one `Detections` per image out."""

    spec: ModelSpec
    device: str
    categories: tuple[str, ...]

    def predict(self, images: list[Any], *, autocast: str | None = None) -> list[Detections]: ...


class ModelFamily(Protocol):
    """How one family of models is recognised, described and built."""

    name: str

    def handles(self, row: Mapping[str, Any]) -> bool: ...

    def spec(self, row: Mapping[str, Any]) -> ModelSpec: ...

    def load(self, spec: ModelSpec, device: str, weights_path: Path | None) -> Runner:
        """Build the model; `weights_path=None` means random weights (tests, no download)."""
        ...


class NotRunnableError(ValueError):
    """A zoo row no family can run (yet); the message says why."""


FAMILIES: dict[str, ModelFamily] = {}


def register(family_factory: Callable[[], ModelFamily]) -> Callable[[], ModelFamily]:
    family = family_factory()
    FAMILIES[family.name] = family
    return family_factory


def family_for(row: Mapping[str, Any]) -> ModelFamily:
    _load_families()
    for family in FAMILIES.values():
        if family.handles(row):
            return family
    raise NotRunnableError(f"{row.get('zoo')} model {row.get('model_id')} ({row.get('name')}) cannot be run "
                           "here yet: no model family handles it")


def is_runnable(row: Mapping[str, Any]) -> bool:
    """Cheap check for the tables and plots (no torch import)."""
    _load_families()
    return any(family.handles(row) for family in FAMILIES.values())


def runnable_mask(table: Any) -> Any:
    """A boolean Series over a zoo DataFrame: which rows a family can run here (no torch import)."""
    import pandas as pd

    return pd.Series([is_runnable(row) for row in table.to_dict("records")], index=table.index, dtype=bool)


def companion_specs(spec: ModelSpec) -> tuple[ModelSpec, ...]:
    """Models whose outputs `spec` runs on (a Detectron Fast R-CNN row's RPN model, `extra["proposals"]`).

    Their checkpoints are fetched with the model's own, under the same size limit and with the same progress.
    """
    proposals = spec.extra.get("proposals")
    return (proposals,) if isinstance(proposals, ModelSpec) else ()


def spec_for(row: Mapping[str, Any]) -> ModelSpec:
    """The runnable spec of a zoo row (raises NotRunnableError)."""
    return family_for(row).spec(row)


def _load_families() -> None:
    """Import every family module (each registers itself on first import; later calls are dict look-ups).

    Not guarded by "FAMILIES is empty": a caller that imported one family module first would otherwise
    leave the others unregistered. The modules import torch only when a model is loaded.
    """
    from explorer.models import torchvision_zoo  # noqa: F401
    from explorer.models.detectron import family  # noqa: F401

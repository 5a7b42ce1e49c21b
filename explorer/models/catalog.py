"""Map a zoo row to a runnable `ModelSpec`: builder, weights source, classes, preprocessing, outputs.

The catalog is the seam between the zoo tables and the engine. It is a registry that imports nothing of
this project: each model family (torchvision, Detectron's own checkpoints) registers a `ModelFamily` when
its module is imported, and `explorer.models` imports every family module, so importing the catalog (which
imports its package first) always finds them all. The engine and the pages only ever see `ModelSpec` and
`Runner`, so a new family plugs in without touching them. Deciding whether a row is runnable needs no torch
import, so the zoo pages can mark runnable rows cheaply. Specs are looked up here, in one place: by uid, or
by whatever a user may type (`resolve_spec`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from explorer.errors import ExplorerError, UnknownModelError

if TYPE_CHECKING:
    from explorer.detections import Detections
    from explorer.weights.sources import WeightsSource


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
    family_config: FamilyConfig | None = None  # the family's own typed facts (e.g. a Detectron architecture)

    def with_sizes(self, min_size: int, max_size: int) -> ModelSpec:
        """The same model at another input size (tests and quick previews run small)."""
        return replace(self, preprocessing=replace(self.preprocessing, min_size=min_size, max_size=max_size))

    def with_test(self, **settings: float | int | None) -> ModelSpec:
        """The same model with other test-time settings, e.g. fewer detections per image."""
        return replace(self, test=replace(self.test, **settings))

    def companions(self) -> tuple[ModelSpec, ...]:
        """Models whose outputs this one runs on (a Detectron Fast R-CNN row's RPN model)."""
        return self.family_config.companions() if self.family_config is not None else ()

    def weights_files(self) -> tuple[WeightsFile, ...]:
        """Every published file a load of this model needs: its own first, then its companions'.

        One declaration for every caller that fetches weights (engine, sweep driver), so that companions'
        files get the same size limit and progress as the model's own
        (`explorer.weights.model_files.fetch_model_files`).
        """
        files = {self.uid: WeightsFile(self.uid, self.name, self.weights)} if self.weights is not None else {}
        for companion in self.companions():
            for file in companion.weights_files():
                files.setdefault(file.uid, file)
        return tuple(files.values())


@dataclass(frozen=True)
class WeightsFile:
    """One file a model load needs: the model it belongs to (uid, name for progress) and where it comes from."""

    uid: str
    name: str
    source: WeightsSource


class FamilyConfig(Protocol):
    """What the catalog needs of a family's typed payload (`ModelSpec.family_config`); the rest is the family's."""

    def companions(self) -> tuple[ModelSpec, ...]:
        """Specs of the models this model runs on, whose weights are fetched with its own."""
        ...


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

    def companion_uids(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """Uids of the zoo rows this row's model runs on; the catalog looks them up and passes their specs."""
        ...

    def spec(self, row: Mapping[str, Any], companions: Sequence[ModelSpec]) -> ModelSpec: ...

    def load(self, spec: ModelSpec, device: str, files: Mapping[str, Path]) -> Runner:
        """Build the model from the fetched `files` (`ModelSpec.weights_files` keys); none means random weights."""
        ...


class NotRunnableError(ExplorerError, ValueError):
    """A zoo row no family can run (yet); the message says why."""


FAMILIES: dict[str, ModelFamily] = {}


def register(family_factory: Callable[[], ModelFamily]) -> Callable[[], ModelFamily]:
    """Register a family under its name; each family module calls this once, when it is imported."""
    family = family_factory()
    FAMILIES[family.name] = family
    return family_factory


def family_named(name: str) -> ModelFamily:
    """The registered family of a spec (`ModelSpec.family`)."""
    if name not in FAMILIES:
        raise NotRunnableError(f"no model family {name!r} is registered; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def family_for(row: Mapping[str, Any]) -> ModelFamily:
    for family in FAMILIES.values():
        if family.handles(row):
            return family
    raise NotRunnableError(f"{row.get('zoo')} model {row.get('model_id')} ({row.get('name')}) cannot be run "
                           "here yet: no model family handles it")


def is_runnable(row: Mapping[str, Any]) -> bool:
    """Cheap check for the tables and plots (no torch import)."""
    return any(family.handles(row) for family in FAMILIES.values())


def runnable_mask(table: Any) -> Any:
    """A boolean Series over a zoo DataFrame: which rows a family can run here (no torch import)."""
    import pandas as pd

    return pd.Series([is_runnable(row) for row in table.to_dict("records")], index=table.index, dtype=bool)


def _unknown_model(model: str) -> UnknownModelError:
    return UnknownModelError(f"unknown model {model!r}; `python -m explorer zoo` lists model ids")


def spec_for_uid(table: Any, uid: str) -> ModelSpec:
    """The runnable spec of the zoo row `uid` of `table` (a `load_zoo` frame), its companions looked up in it too.

    Raises UnknownModelError for a uid the table lacks, NotRunnableError for a row no family runs.
    """
    rows = table[table["uid"] == uid]
    if rows.empty:
        raise _unknown_model(uid)
    row = rows.iloc[0].to_dict()
    family = family_for(row)
    companions = []
    for companion in family.companion_uids(row):
        if not (table["uid"] == companion).any():
            raise NotRunnableError(f"{row.get('name')} runs on the outputs of model {companion!r}, which the "
                                   "loaded zoo table does not list")
        companions.append(spec_for_uid(table, companion))
    return family.spec(row, companions)


def resolve_spec(table: Any, model: str) -> ModelSpec:
    """The spec of a model given by id ('35861858'), uid ('torchvision:...') or torchvision builder name.

    A model id published with and without TTA means its plain row; the uid names either.
    """
    rows = table[(table["model_id"] == model) | (table["uid"] == model)]
    if rows.empty:
        rows = table[(table["zoo"] == "torchvision") & (table["config"] == model)]
    if rows.empty:
        raise _unknown_model(model)
    tta = rows["tta"].astype(bool)
    plain = rows[~tta] if (~tta).any() else rows
    return spec_for_uid(table, str(plain.iloc[0]["uid"]))

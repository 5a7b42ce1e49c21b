"""A zoo model by the name a user types: the short way in for a notebook (`explorer.get_model`), in the spirit of
`torchvision.models.get_model(name, weights=...)` and detectron2's `model_zoo.get(config, trained=True)`.

A name is whatever the command line accepts: a zoo's model id ('35861858'), a uid ('detectron:35861858:tta') or a
torchvision weights or builder name. Looking a name up needs the zoo table only (no torch); loading builds the model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.engine.runners import RANDOM_WEIGHTS, RandomWeights, WeightsChoice, load_runner, resolve_device
from explorer.models.catalog import ModelSpec, Runner, resolve_spec

if TYPE_CHECKING:
    import pandas as pd

#: The `weights` words get_model understands besides a path.
PUBLISHED, RANDOM = "published", "random"


def get_model_spec(model: str, *, table: pd.DataFrame | None = None) -> ModelSpec:
    """The spec of `model` (id, uid or torchvision name) in `table`, by default every zoo (`load_zoo()`).

    Raises UnknownModelError for a name no zoo has and NotRunnableError for a row no family can run here.
    """
    from explorer.zoo.table import load_zoo

    return resolve_spec(load_zoo() if table is None else table, model)


def weights_choice(weights: str | Path | RandomWeights | None) -> WeightsChoice:
    """None or 'published': the zoo's weights (downloaded once into the cache); 'random': no download; else a path."""
    if weights is None or weights == PUBLISHED:
        return None
    if isinstance(weights, RandomWeights) or weights == RANDOM:
        return RANDOM_WEIGHTS
    return Path(weights)


def get_model(model: str | ModelSpec, *, weights: str | Path | RandomWeights | None = None, device: str = "cpu",
              table: pd.DataFrame | None = None,
              progress: Callable[[int, int | None], None] | None = None) -> Runner:
    """A loaded model ready to `predict([image, ...])`: `model` by name (see get_model_spec) or spec.

    `weights`: None or 'published' (the zoo's own file, fetched and checksummed once), 'random' (the architecture
    with random weights: no download, for trying the pipeline), or the path of a local file (a `.pth` state dict or
    a Detectron `.pkl`). `device`: 'cpu', 'cuda', 'cuda:1', or 'auto' (a GPU when there is one). `progress`
    (bytes done, total) follows a download.
    """
    spec = model if isinstance(model, ModelSpec) else get_model_spec(model, table=table)
    return load_runner(spec, resolve_device(device), weights_choice(weights), progress)

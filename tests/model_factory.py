"""Small random-weight models and images for engine, page and CLI tests (no downloads)."""

from __future__ import annotations

import numpy as np

from explorer.models.catalog import ModelSpec, resolve_spec
from explorer.zoo.table import load_zoo

SMALL_MIN_SIZE = 96
SMALL_MAX_SIZE = 128


def torchvision_spec(model_id: str, detections: int = 8) -> ModelSpec:
    """The catalog's spec for a torchvision row, shrunk so a CPU forward pass takes well under a second."""
    table = load_zoo(["torchvision"])
    spec = resolve_spec(table, model_id).with_sizes(SMALL_MIN_SIZE, SMALL_MAX_SIZE)
    return spec.with_test(detections_per_image=detections)


def random_image(height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)

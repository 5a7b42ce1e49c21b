"""Every file one model load needs (its own checkpoint and its companions', e.g. a Fast R-CNN row's RPN model).

One function fetches them all, so the checkpoint size limit and the progress report apply to each of them the
same way whoever loads the model: the engine, the Detectron loader (which only receives paths) and the sweep's
driver. A spec declares its files (`explorer.models.catalog.ModelSpec.weights_files`); the Protocols below are
what this module needs of it, so the weights package imports nothing of the models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from explorer.weights.cache import NoticeCallback, ensure_weights
from explorer.weights.errors import LocalWeightsError
from explorer.weights.sources import WeightsSource, checkpoint_limit_bytes
from explorer.weights.transport import ProgressCallback


class DeclaredFile(Protocol):
    """One file of a model load (`explorer.models.catalog.WeightsFile`): whose it is and where it comes from."""

    @property
    def uid(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> WeightsSource: ...


class DeclaresWeights(Protocol):
    """What `fetch_model_files` needs of a model spec (`explorer.models.catalog.ModelSpec` has it)."""

    @property
    def uid(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def weights(self) -> WeightsSource | None: ...

    def weights_files(self) -> Sequence[DeclaredFile]: ...


def check_local_size(path: Path, limit: int) -> None:
    """A user's weights file over the checkpoint limit is refused before anything reads it."""
    if path.is_file() and path.stat().st_size > limit:
        raise LocalWeightsError(f"Weights file {path.name} is {path.stat().st_size / 1e6:.0f} MB, over the "
                                f"{limit / 1e6:.0f} MB checkpoint limit; raise it with EXPLORER_MAX_CHECKPOINT_MB.")


def fetch_model_files(
    spec: DeclaresWeights,
    *,
    local_path: Path | str | None = None,
    progress: Callable[[str], ProgressCallback | None] | None = None,
    max_bytes: int | None = None,
    notice: NoticeCallback | None = None,
) -> dict[str, Path]:
    """Every file `spec.weights_files()` declares, fetched (or found cached), keyed by the uid of its model.

    ``local_path`` (the user's file) stands for the model's own published weights, which are then not fetched;
    its companions' files still are. Every file, a companion's too, obeys ``max_bytes`` (default: the
    EXPLORER_MAX_CHECKPOINT_MB limit) and reports to ``progress(model name)``, the callback for that file's
    download (one callback for all: ``lambda name: bar``). A spec without published weights needs a local file.
    """
    limit = checkpoint_limit_bytes() if max_bytes is None else max_bytes
    paths: dict[str, Path] = {}
    if local_path is not None:
        check_local_size(Path(local_path), limit)
        paths[spec.uid] = Path(local_path) if spec.weights is None else ensure_weights(spec.weights,
                                                                                        local_path=local_path)
    elif spec.weights is None:
        raise ValueError(f"{spec.name} has no published weights; pass a weights file")
    for file in spec.weights_files():
        if file.uid not in paths:
            paths[file.uid] = ensure_weights(file.source, progress=progress(file.name) if progress else None,
                                             max_bytes=limit, notice=notice)
    return paths

"""Verify a zoo model: run it over an annotated image folder, COCO-evaluate what it finds, compare with the zoo.

`verify_model` is what `python -m explorer verify` runs (the command only parses and prints). It lives here, not
in explorer/models, because it joins the engine (loading a runner), the image readers, the evaluation and the
zoo table: a model family knows none of them. Only the images the annotation file lists and the folder holds
are run, in image-id order, so `limit` picks the same subset every time; an image that cannot be decoded is
skipped and reported, and the AP is computed over the images that ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from explorer.engine import runners
from explorer.errors import ExplorerError, MissingPathError
from explorer.models.catalog import resolve_spec
from explorer.tasks import EVALUATED


class VerifyError(ExplorerError, ValueError):
    """This model or these images cannot be verified; the message says why."""


@dataclass(frozen=True)
class KindResult:
    """One COCO evaluation kind: the AP measured here and the zoo's (NaN where the zoo publishes none), in points."""

    kind: str  # the COCO IoU type
    measured: float
    published: float
    measure: str = "AP"  # the summary stat compared (explorer.tasks.Task.measure)
    runtime: float = math.nan  # the same stat with the network under the report's runtime (NaN: not run)

    @property
    def difference(self) -> float:
        return self.measured - self.published

    @property
    def runtime_difference(self) -> float:
        """What the export cost (or gained): the runtime's stat minus eager PyTorch's, on the same images."""
        return self.runtime - self.measured


@dataclass
class VerifyReport:
    """What a verification ran and found."""

    model_name: str
    images_run: int
    images_annotated: int
    seconds_per_image: float
    skipped: list[str] = field(default_factory=list)
    results: list[KindResult] = field(default_factory=list)
    runtime: str = "torch"  # the export runtime also evaluated ("torch": none)
    runtime_lines: list[str] = field(default_factory=list)  # what the export ran and how its parity check went

    @property
    def subset(self) -> bool:
        """Fewer images than the annotation file's: the AP differs from the published one by chance too."""
        return self.images_run < self.images_annotated


def verify_model(table: pd.DataFrame, model: str, images: Path, annotations: Path, *, limit: int | None = None,
                 device: str = "auto", weights: Path | None = None,
                 progress: Callable[[int, int], None] | None = None, runtime: str = "torch") -> VerifyReport:
    """Run `model` (a model id or a uid of `table`) over `images` and evaluate it against `annotations`.

    `progress` reports the weights download, as `load_runner` takes it. Raises VerifyError for a model whose
    outputs cannot be evaluated or when no image could be read, MissingPathError when the folder holds none of
    the annotated images, and the engine's and evaluation's own user errors.
    """
    from explorer.evaluation.coco.pipeline import evaluate
    from explorer.evaluation.inputs.ground_truth import load_ground_truth

    spec = resolve_spec(table, model)
    tasks = [task for task in EVALUATED if task.name in spec.outputs]
    if not tasks:
        raise VerifyError(f"{spec.name} outputs proposals only; verify evaluates boxes, masks and keypoints")
    ground_truth = load_ground_truth(annotations)
    todo = images_to_run(ground_truth, images, limit)
    device = runners.resolve_device(device if runtime == "torch" else "cpu")
    runner = runners.load_runner(spec, device, weights, progress=progress)
    started = time.perf_counter()
    results, ids, skipped = _predict_all(runner, todo)
    if not ids:
        raise VerifyError(f"none of the {len(todo)} images could be read: {skipped[0]}")
    seconds = time.perf_counter() - started
    exported_results, lines = _under_runtime(runner, runtime, [(i, path) for i, path in todo if i in set(ids)])
    row = table[table["uid"] == spec.uid].iloc[0]
    scores = []
    for task in tasks:
        measured = evaluate(ground_truth, results, task.iou_type, image_ids=ids).stat(task.measure) * 100
        published = float(row[task.metric]) if task.metric in row else math.nan
        under = math.nan if exported_results is None else evaluate(
            ground_truth, exported_results, task.iou_type, image_ids=ids).stat(task.measure) * 100
        scores.append(KindResult(task.iou_type, measured, published, task.measure, under))
    return VerifyReport(spec.name, len(ids), len(ground_truth.images), seconds / len(ids), skipped, scores,
                        runtime, lines)


def _under_runtime(runner: Any, runtime: str, todo: list[tuple[int, Path]],
                   ) -> tuple[list[dict[str, Any]] | None, list[str]]:
    """The COCO results of the same images with the network exported to `runtime` (parity checked first)."""
    if runtime == "torch":
        return None, []
    from explorer.runtimes.export import export_runner

    exported = export_runner(runner, runtime)
    return _predict_all(exported, todo)[0], exported.info.lines()


def images_to_run(ground_truth: Any, folder: Path, limit: int | None) -> list[tuple[int, Path]]:
    """(image id, path) of the annotated images the folder holds, by image id; the first `limit` of them."""
    if not folder.is_dir():
        raise MissingPathError(f"no such image folder: {folder}")
    found = [(int(image["id"]), folder / str(image["file_name"])) for image in ground_truth.images
             if (folder / str(image["file_name"])).is_file()]
    found.sort()
    if not found:
        raise MissingPathError(f"none of the annotation file's images is in {folder}")
    return found[:limit] if limit else found


def _predict_all(runner: Any, todo: list[tuple[int, Path]]) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """COCO results of every image that decodes, the ids that ran, and why the others were skipped."""
    from explorer.inputs.images import ImageError, load_image_file

    results: list[dict[str, Any]] = []
    ids: list[int] = []
    skipped: list[str] = []
    for image_id, path in todo:
        try:
            image = load_image_file(path)
        except ImageError as error:
            skipped.append(str(error))
            continue
        results.extend(runner.predict([image.rgb])[0].to_coco_results(image_id))
        ids.append(image_id)
    return results, ids, skipped

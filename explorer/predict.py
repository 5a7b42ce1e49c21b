"""Run a zoo model over image files and write annotated images plus COCO results: `explorer predict`.

Bad files are reported and skipped; the rest are still processed. The output folder gets
`results.json` (COCO results, ready for pycocotools `loadRes`), `images.json` (the image ids, file
names and sizes those results refer to) and `annotated/<name>.png`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from explorer.detections import Detections
from explorer.models.catalog import ModelSpec, spec_for
from explorer.zoo.table import UnknownModelError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def resolve_spec(table: pd.DataFrame, model: str) -> ModelSpec:
    """The spec of a model given by id ('35861858'), uid ('torchvision:...') or torchvision builder name."""
    rows = table[(table["model_id"] == model) | (table["uid"] == model)]
    if rows.empty:
        rows = table[(table["zoo"] == "torchvision") & (table["config"] == model)]
    if rows.empty:
        raise UnknownModelError(f"unknown model {model!r}; `python -m explorer zoo` lists model ids")
    plain = rows[~rows["tta"]] if "tta" in rows and (~rows["tta"]).any() else rows
    return spec_for(plain.iloc[0].to_dict())


def image_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the image files inside given folders (sorted), so a folder is one argument."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


@dataclass
class PredictSummary:
    """What a prediction run did: per-image detections, skipped files and where the outputs are."""

    results_path: Path
    images_path: Path
    annotated: list[Path] = field(default_factory=list)
    detections: dict[str, Detections] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def coco_results(detections: Sequence[Detections], first_id: int = 1) -> tuple[list[dict[str, Any]], list[int]]:
    """COCO results for a run, image ids numbered from `first_id` in order."""
    results: list[dict[str, Any]] = []
    ids = list(range(first_id, first_id + len(detections)))
    for image_id, found in zip(ids, detections, strict=True):
        results.extend(found.to_coco_results(image_id))
    return results, ids


def predict_files(runner: Any, paths: Sequence[Path], out_dir: Path, *, batch_size: int = 1,
                  score_thresh: float = 0.05, draw_thresh: float = 0.5, max_pixels: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> PredictSummary:
    """Decode `paths`, run `runner` on the good ones, draw and write everything under `out_dir`.

    `score_thresh` filters what is kept (results.json too; 0.05 is the zoo's own test threshold, what
    COCO evaluation expects); `draw_thresh` only thins what is drawn on the annotated images.
    """
    from explorer.engine import predict_images
    from explorer.images import ImageError, load_image_file
    from explorer.render import RenderOptions, draw_detections, encode_png

    loaded, errors = [], []
    for path in paths:
        try:
            loaded.append(load_image_file(path, max_pixels=max_pixels))
        except ImageError as error:
            errors.append(str(error))
    found = predict_images(runner, [image.rgb for image in loaded], batch_size=batch_size, progress=progress)
    found = [detections.filter(score_thresh) for detections in found]
    (out_dir / "annotated").mkdir(parents=True, exist_ok=True)
    summary = PredictSummary(results_path=out_dir / "results.json", images_path=out_dir / "images.json",
                             errors=errors)
    options = RenderOptions(score_thresh=max(score_thresh, draw_thresh))
    for image, detections in zip(loaded, found, strict=True):
        target = out_dir / "annotated" / f"{Path(image.name).stem}.png"
        target.write_bytes(encode_png(draw_detections(image.rgb, detections, options)))
        summary.annotated.append(target)
        summary.detections[image.name] = detections
    results, ids = coco_results(found)
    summary.results_path.write_text(json.dumps(results), encoding="utf-8")
    images = [{"id": i, "file_name": image.name, "width": d.width, "height": d.height}
              for i, image, d in zip(ids, loaded, found, strict=True)]
    summary.images_path.write_text(json.dumps(images, indent=1), encoding="utf-8")
    return summary

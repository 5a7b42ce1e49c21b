"""Run a zoo model over image files and write annotated images plus COCO results: `explorer predict`.

Bad files are reported and skipped; the rest are still processed. The output folder gets
`results.json` (COCO results, ready for pycocotools `loadRes`), `images.json` (the image ids, file
names and sizes those results refer to) and `annotated/<file_name>.png`; each input's `file_name` is
unique (`explorer.inputs.predict_files` gives the rule), so no output overwrites another's. Images are decoded
one batch at a time, just before that batch runs, so memory does not grow with the folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.detections import Detections
from explorer.inputs.images import IMAGE_SUFFIXES
from explorer.inputs.predict_files import ImageInput, image_inputs


def image_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the image files directly inside given folders (sorted; the sweep's plan, one level).

    `explorer predict` uses `image_inputs`, which recurses into subfolders and names every input uniquely.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


@dataclass
class PredictSummary:
    """What a prediction run did: detections kept per image (by file_name), skipped files, where the outputs are.

    Only counts are kept per image, not the detections themselves (masks are full-image arrays): the
    outputs are on disk, and a run over a large folder must not hold them all in memory.
    """

    results_path: Path
    images_path: Path
    annotated: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def coco_results(detections: Sequence[Detections], first_id: int = 1) -> tuple[list[dict[str, Any]], list[int]]:
    """COCO results for a run, image ids numbered from `first_id` in order."""
    results: list[dict[str, Any]] = []
    ids = list(range(first_id, first_id + len(detections)))
    for image_id, found in zip(ids, detections, strict=True):
        results.extend(found.to_coco_results(image_id))
    return results, ids


def predict_files(runner: Any, inputs: Sequence[ImageInput] | Sequence[Path], out_dir: Path, *,
                  batch_size: int = 1, score_thresh: float = 0.05, draw_thresh: float = 0.5,
                  max_pixels: int | None = None, progress: Callable[[int, int], None] | None = None,
                  ) -> PredictSummary:
    """Run `runner` over `inputs` one batch at a time: decode the batch, run it, draw and write its outputs.

    Plain paths are named by `image_inputs` (a file its name, unique among them). `score_thresh` filters
    what is kept (results.json too; 0.05 is the zoo's own test threshold, what COCO evaluation expects);
    `draw_thresh` only thins what is drawn on the annotated images. `progress(done, total)` counts inputs,
    unreadable ones included, after each batch.
    """
    from explorer.engine.runners import batches

    chosen = [item for item in inputs if isinstance(item, ImageInput)]
    if len(chosen) < len(inputs):
        chosen = image_inputs(Path(getattr(item, "path", item)) for item in inputs)
    (out_dir / "annotated").mkdir(parents=True, exist_ok=True)
    summary = PredictSummary(results_path=out_dir / "results.json", images_path=out_dir / "images.json")
    results: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    done = 0
    for batch in batches(chosen, batch_size):
        _run_batch(runner, list(batch), out_dir, summary, results, images, score_thresh=score_thresh,
                   draw_thresh=draw_thresh, max_pixels=max_pixels)
        done += len(batch)
        if progress is not None:
            progress(done, len(chosen))
    summary.results_path.write_text(json.dumps(results), encoding="utf-8")
    summary.images_path.write_text(json.dumps(images, indent=1), encoding="utf-8")
    return summary


def _run_batch(runner: Any, batch: list[ImageInput], out_dir: Path, summary: PredictSummary,
               results: list[dict[str, Any]], images: list[dict[str, Any]], *, score_thresh: float,
               draw_thresh: float, max_pixels: int | None) -> None:
    """Decode, run, draw and record one batch; its pixels and detections are dropped when it returns."""
    from explorer.drawing.detections import RenderOptions, draw_detections, encode_png
    from explorer.inputs import images as image_files

    loaded = []
    for item in batch:
        try:
            loaded.append((item, image_files.load_image_file(item.path, max_pixels=max_pixels)))
        except image_files.ImageError as error:
            summary.errors.append(str(error))
    if not loaded:
        return
    found = runner.predict([image.rgb for _, image in loaded])
    options = RenderOptions(score_thresh=max(score_thresh, draw_thresh))
    for (item, image), detections in zip(loaded, found, strict=True):
        detections = detections.filter(score_thresh)
        target = out_dir / "annotated" / f"{item.file_name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encode_png(draw_detections(image.rgb, detections, options)))
        image_id = len(images) + 1
        results.extend(detections.to_coco_results(image_id))
        images.append({"id": image_id, "file_name": item.file_name, "width": detections.width,
                       "height": detections.height})
        summary.annotated.append(target)
        summary.counts[item.file_name] = len(detections)

"""A user's images and a model's detections on them, matched to an uploaded COCO annotation file by file name.

The Evaluation page and the Detections page's evaluation draw what these return: which uploads were matched
and which not (in one sentence each), a run's detections as a results json with the annotation file's image
ids, and the images (decoded only when a section draws one: a server folder can hold thousands).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd

from explorer.evaluation.inputs.matching import Match, match_images
from explorer.tasks import EVALUATED

#: How many names or ids a "not matched" message lists before it says "and N more".
LISTED: Final[int] = 10
#: Reads one image's RGB pixels when it is shown.
ImageLoader = Callable[[], np.ndarray]


class NamedImage(Protocol):
    name: str


class Run(Protocol):
    name: str
    uid: str
    detections: list[Any]


def few(values: Sequence[Any]) -> str:
    """The first LISTED values, comma-separated, then "and N more"."""
    listed = ", ".join(str(v) for v in values[:LISTED])
    return listed + (f" and {len(values) - LISTED} more" if len(values) > LISTED else "")


@dataclass(frozen=True)
class MatchReport:
    """What a user reads about a match: the summary, and one sentence per side that was left out (or None)."""

    summary: str
    matched_any: bool
    uploads_left_out: str | None
    annotations_left_out: str | None


def match_report(match: Match, n_annotated: int) -> MatchReport:
    """Say plainly which uploads were matched and which were not, on both sides."""
    uploads = None
    if match.uploads_without_annotations:
        uploads = (f"Uploaded images without annotations (not evaluated): {few(match.uploads_without_annotations)}"
                   + (f" — ambiguous names: {few(match.ambiguous_uploads)}" if match.ambiguous_uploads else ""))
    annotations = None
    if match.annotations_without_uploads:
        annotations = (f"{len(match.annotations_without_uploads)} of the {n_annotated} annotated images were not "
                       f"uploaded and are left out of the evaluation (image ids "
                       f"{few(match.annotations_without_uploads)}).")
    return MatchReport(summary=match.summary() + ".", matched_any=bool(match.pairs), uploads_left_out=uploads,
                       annotations_left_out=annotations)


def supported_iou_types(detections: Sequence[Any]) -> list[str]:
    """The IoU types of the tasks the run produced (`Detections` has one attribute per task's output): bbox always,
    segm when the model produced masks, keypoints when it produced keypoints."""
    return [str(task.iou_type) for task in EVALUATED
            if task.name == "boxes" or any(getattr(d, task.name) is not None for d in detections)]


def run_results(images: Sequence[NamedImage], run: Run, match: Match) -> bytes:
    """One run's detections on the matched images as a COCO results json, with the annotation file's image ids."""
    index: dict[str, int] = {}
    for i, image in enumerate(images):
        index.setdefault(image.name, i)
    results = [entry for name, image_id in match.pairs
               for entry in run.detections[index[name]].to_coco_results(image_id)]
    return json.dumps(results).encode()


def matched_pixels(images: Sequence[Any], match: Match) -> dict[int, np.ndarray]:
    """image id -> RGB of the uploads matched to the annotations (the first upload of a name, as matched)."""
    by_name: dict[str, Any] = {}
    for image in images:
        by_name.setdefault(image.name, image)
    pixels = {image_id: getattr(by_name[name], "rgb", None) for name, image_id in match.pairs}
    return {image_id: rgb for image_id, rgb in pixels.items() if rgb is not None}


def loaders_of(pixels: Mapping[int, np.ndarray]) -> dict[int, ImageLoader]:
    """Loaders for images already decoded."""
    return {image_id: (lambda rgb=rgb: rgb) for image_id, rgb in pixels.items()}


class LazyImages(Mapping[int, np.ndarray]):
    """image id -> RGB, decoded only when a section draws that image: a server folder can hold thousands."""

    def __init__(self, loaders: Mapping[int, ImageLoader]) -> None:
        self._loaders = loaders

    def __getitem__(self, image_id: int) -> np.ndarray:
        return self._loaders[image_id]()

    def __iter__(self) -> Iterator[int]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


def upload_loaders(annotated: Sequence[dict[str, Any]], uploads: Mapping[str, Callable[[], bytes]]
                   ) -> dict[int, ImageLoader]:
    """image id -> loader for the uploaded images (file name -> its bytes, read when drawn) the annotations name."""
    from explorer.inputs.images import load_image

    match = match_images(list(annotated), list(uploads))
    return {image_id: (lambda read=uploads[name], name=name: load_image(read(), name).rgb)
            for name, image_id in match.pairs}


def folder_loaders(annotated: Sequence[dict[str, Any]], folder: str) -> dict[int, ImageLoader]:
    """image id -> loader for the images of a server folder the annotations name; FolderError if unusable."""
    from explorer.inputs.image_folder import image_files
    from explorer.inputs.images import load_image_file

    paths = image_files(folder)
    match = match_images(list(annotated), list(paths))
    return {image_id: (lambda path=paths[name]: load_image_file(path).rgb) for name, image_id in match.pairs}


def match_uploaded_images(annotated: Sequence[dict[str, Any]], uploads: Mapping[str, np.ndarray]
                          ) -> tuple[dict[int, np.ndarray], list[str]]:
    """image id -> RGB for the uploads that are the annotation file's images, and one message per kind of
    mismatch naming the first offending file: no such file name, or a size other than the annotations say."""
    match = match_images(list(annotated), list(uploads))
    sizes = {image["id"]: (image.get("width"), image.get("height")) for image in annotated}
    found: dict[int, np.ndarray] = {}
    wrong_size: list[str] = []
    for name, image_id in match.pairs:
        rgb = uploads[name]
        width, height = sizes[image_id]
        if (width, height) != (None, None) and (rgb.shape[1], rgb.shape[0]) != (width, height):
            wrong_size.append(f"{name} is {rgb.shape[1]}×{rgb.shape[0]} but the annotations say {width}×{height}")
            continue
        found[image_id] = rgb
    problems = []
    if match.uploads_without_annotations:
        first = match.uploads_without_annotations[0]
        problems.append(f"{len(match.uploads_without_annotations)} uploaded image(s) are not in the annotation "
                        f"file's images, first {first}: not drawn")
    if wrong_size:
        problems.append(f"{len(wrong_size)} uploaded image(s) do not match the annotations' size, first "
                        f"{wrong_size[0]}: not drawn (boxes would land in the wrong place)")
    return found, problems


def cell_images(items: pd.DataFrame, images: Mapping[int, Any], limit: int) -> list[tuple[int, list[dict], str]]:
    """(image id, the cell's rows on it, caption) for the first `limit` of a confusion cell's images at hand."""
    shown = [image_id for image_id in dict.fromkeys(items["image_id"]) if image_id in images][:limit]
    drawn = []
    for image_id in shown:
        rows = items[items["image_id"] == image_id].to_dict("records")
        drawn.append((int(image_id), rows, rows[0]["file_name"] or f"image {image_id}"))
    return drawn

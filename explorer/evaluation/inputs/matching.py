"""Match uploaded images to a ground truth's `images` by file name, so the page can run a model on the uploads
and evaluate against the right annotations.

A browser upload has only a base name ("000000000139.jpg"), while an annotation file may store a path
("val2017/000000000139.jpg"), so names are compared exactly first and then by base name. A base name that two
annotation images share cannot be matched by base name alone; such uploads are reported as ambiguous rather than
guessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any


@dataclass(frozen=True)
class Match:
    """pairs: (upload name, image id) for each matched upload, in upload order. uploads_without_annotations:
    uploads no annotation image has the name of (or only ambiguously). annotations_without_uploads: image ids
    of the ground truth that no upload matched. duplicate_uploads: names uploaded more than once (the first is
    matched)."""

    pairs: tuple[tuple[str, int], ...]
    uploads_without_annotations: tuple[str, ...]
    annotations_without_uploads: tuple[int, ...]
    ambiguous_uploads: tuple[str, ...] = ()
    duplicate_uploads: tuple[str, ...] = ()

    @property
    def image_ids(self) -> list[int]:
        """The matched ground-truth image ids (evaluate only these when not every image was uploaded)."""
        return [image_id for _, image_id in self.pairs]

    def summary(self) -> str:
        """One sentence for the page."""
        text = f"{len(self.pairs)} uploaded images matched to annotations"
        if self.uploads_without_annotations:
            text += f"; {len(self.uploads_without_annotations)} uploads have no annotations"
        if self.annotations_without_uploads:
            text += f"; {len(self.annotations_without_uploads)} annotated images were not uploaded"
        return text


def base_name(name: str) -> str:
    """The last component of a POSIX or Windows path."""
    return PureWindowsPath(PurePosixPath(name).name).name


def match_images(annotations_images: list[dict[str, Any]], uploaded_names: list[str]) -> Match:
    """Pair each uploaded file name with the ground-truth image whose `file_name` it is (see the module)."""
    exact: dict[str, int] = {}
    by_base: dict[str, list[int]] = defaultdict(list)
    for image in annotations_images:
        name = str(image.get("file_name", ""))
        if not name:
            continue
        exact.setdefault(name, image["id"])
        by_base[base_name(name)].append(image["id"])
    pairs: list[tuple[str, int]] = []
    unmatched: list[str] = []
    ambiguous: list[str] = []
    duplicates: list[str] = []
    seen_uploads: set[str] = set()
    used: set[int] = set()
    for upload in uploaded_names:
        if upload in seen_uploads:
            duplicates.append(upload)
            continue
        seen_uploads.add(upload)
        image_id = exact.get(upload)
        if image_id is None:
            candidates = by_base.get(base_name(upload), [])
            if len(candidates) > 1:
                ambiguous.append(upload)
                continue
            image_id = candidates[0] if candidates else None
        if image_id is None or image_id in used:
            unmatched.append(upload)
            continue
        used.add(image_id)
        pairs.append((upload, image_id))
    missing = tuple(image["id"] for image in annotations_images if image["id"] not in used)
    return Match(pairs=tuple(pairs), uploads_without_annotations=tuple(unmatched + ambiguous),
                 annotations_without_uploads=missing, ambiguous_uploads=tuple(ambiguous),
                 duplicate_uploads=tuple(duplicates))

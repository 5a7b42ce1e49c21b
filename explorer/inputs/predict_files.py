"""Which files `explorer predict --images ...` reads, and the unique name each one gets in its outputs.

The name is what `images.json` records as `file_name` and what the annotated image is called, so two inputs
must never share one (the second would overwrite the first's picture and ground truth could not be matched).
The rule, in order:

1. A folder given: every image file in it and in its subfolders (recursively; symbolic links to folders are
   not followed, so a link cannot loop), sorted by path, named by its path relative to that folder with `/`
   (``sub/img.jpg``), as COCO datasets with subfolders name their images.
2. A file given: its own name (``img.jpg``).
3. The same file reached twice (given twice, or inside two folders given) is one input, named the first way.
4. Inputs that would still share a name get the name of the folder they came from in front: the folder given
   for files found in one, the file's parent folder for a file given (``a/img.jpg`` and ``b/img.jpg`` for
   ``--images a b``); should that still not tell them apart (two folders of the same name), ``~2``, ``~3`` ...
   are added to that prefix in the order the inputs were given (``images/img.jpg``, ``images~2/img.jpg``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from explorer.inputs.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImageInput:
    """One image file to run on, and its unique name (`file_name` in images.json, the annotated image's name)."""

    path: Path
    file_name: str


@dataclass(frozen=True)
class _Found:
    path: Path
    name: str  # rule 1 or 2
    origin: str  # rule 4's prefix


def image_inputs(paths: Iterable[Path]) -> list[ImageInput]:
    """The inputs of `paths` (files and folders, in the order given), each with a unique name (module docstring)."""
    found: list[_Found] = []
    seen: set[Path] = set()
    for given in paths:
        for item in _expand(Path(given)):
            key = item.path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(item)
    return [ImageInput(item.path, name) for item, name in zip(found, _unique_names(found), strict=True)]


def _expand(given: Path) -> list[_Found]:
    if not given.is_dir():
        return [_Found(given, given.name, _folder_name(given.parent))]
    origin = _folder_name(given)
    files = []
    for folder, subfolders, names in os.walk(given):  # followlinks=False: a linked folder cannot loop
        subfolders.sort()
        files.extend(Path(folder) / name for name in names if Path(name).suffix.lower() in IMAGE_SUFFIXES)
    relative = sorted((path.relative_to(given).as_posix(), path) for path in files)
    return [_Found(path, name, origin) for name, path in relative]


def _folder_name(folder: Path) -> str:
    """A folder's own name for rule 4 (`.` and `..` resolved; the file system root has none)."""
    return folder.resolve().name or "root"


def _unique_names(found: list[_Found]) -> list[str]:
    counts = Counter(item.name for item in found)
    used: set[str] = set()
    unique = []
    for item in found:
        name = f"{item.origin}/{item.name}" if counts[item.name] > 1 else item.name
        number = 1
        while name in used:
            number += 1
            name = f"{item.origin}~{number}/{item.name}"
        used.add(name)
        unique.append(name)
    return unique

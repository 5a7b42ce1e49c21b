"""Images from a folder on the server, for drawing ground truth on them: a path typed into a page is untrusted.

The path is resolved (so `..` and symlinks in it are followed once, to the real folder), must be an existing,
readable folder, and only the regular files directly inside it with an image suffix are listed: symlinks are
skipped (one could point anywhere) and subfolders are not entered, so nothing outside the resolved folder is
ever listed or read. Listing stops at MAX_FILES entries so a huge folder cannot stall the page.
"""

from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.inputs.images import IMAGE_SUFFIXES

MAX_FILES = 200_000


class FolderError(ExplorerError, ValueError):
    """A typed folder path that cannot be used; the message is one line for the page."""


def image_files(text: str) -> dict[str, Path]:
    """File name -> path of the images directly in the folder `text` names (see the module docstring)."""
    raw = text.strip()
    if not raw:
        raise FolderError("type the path of a folder on the server")
    if "\x00" in raw:
        raise FolderError("the folder path contains a NUL character")
    try:
        root = Path(raw).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise FolderError(f"no such folder on the server: {raw}") from None
    except (OSError, RuntimeError) as error:
        raise FolderError(f"cannot use the folder {raw}: {getattr(error, 'strerror', None) or error}") from None
    if not root.is_dir():
        raise FolderError(f"{raw} is a file, not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise FolderError(f"the folder {raw} is not readable")
    found: dict[str, Path] = {}
    try:
        with os.scandir(root) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_FILES:
                    break
                if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                    continue
                if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    found[entry.name] = root / entry.name
    except OSError as error:
        raise FolderError(f"cannot list the folder {raw}: {error.strerror or error}") from None
    if not found:
        raise FolderError(f"the folder {raw} has no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return found

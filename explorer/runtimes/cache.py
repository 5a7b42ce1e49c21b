"""Exported parts on disk, keyed by everything that changes them, written atomically, checked before each use.

Layout: `$EXPLORER_CACHE/exports/<runtime>/<key>/` holds one part's runtime files and `checksums.json` (the
sha256 of each file). The key is a sha256 over the model's uid, the part's name, the part's weights content
(so random, published and uploaded weights never share a file, and nobody else's file is ever served for
yours), the runtime and its version, torch's version (the exporter), the test settings, and this module's
format version. A folder is built in a temporary sibling and renamed into place, so a reader sees a complete
export or none; a folder whose files do not match their checksums (a crash mid-copy, a disk error, an edit)
is removed and built again. The cache lives under the user's own cache folder, created private (0700).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

FORMAT_VERSION = "1"
CHECKSUMS = "checksums.json"


def exports_root() -> Path:
    """`$EXPLORER_CACHE/exports` (default ~/.cache/detectron-zoo-explorer/exports)."""
    from explorer.weights.sources import explorer_cache_dir

    return explorer_cache_dir() / "exports"


def export_key(fields: Mapping[str, object]) -> str:
    """A stable hex key of the fields that determine an export (sorted, JSON-encoded)."""
    payload = json.dumps({"format": FORMAT_VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_intact(folder: Path, names: tuple[str, ...]) -> bool:
    """True when the folder has every file and each matches the sha256 its sidecar recorded."""
    try:
        recorded = json.loads((folder / CHECKSUMS).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict):
        return False
    return all((folder / name).is_file() and recorded.get(name) == _sha256(folder / name) for name in names)


def cached_export(root: Path, key: str, names: tuple[str, ...], build: Callable[[Path], None]) -> tuple[Path, bool]:
    """The folder of export `key`, built by `build(folder)` when missing or corrupt; (folder, built now?)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = root / key
    if is_intact(folder, names):
        return folder, False
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        build(staging)
        sums = {name: _sha256(staging / name) for name in names}
        (staging / CHECKSUMS).write_text(json.dumps(sums, indent=1))
        try:
            os.replace(staging, folder)
        except OSError:  # another process renamed its complete build into place first: use that one
            if not is_intact(folder, names):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder, True

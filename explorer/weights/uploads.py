"""Weights files users upload on the Detections page, stored by what they hold rather than what they are called.

Every session of the server shares one upload folder, and any two users may call their file `model_final.pth`.
So a file lives at ``$EXPLORER_CACHE/uploads/<sha256>/<its name>``: the same name with other bytes is another
file (never overwritten), the same bytes under any name are one folder, and the engine's model cache keys a
weights file by the same sha256 (`explorer.weights.checksums.content_digest`), so one session is never served a model
loaded from another session's file. The name is kept (only its last component) because the loaders tell a
Detectron ``.pkl`` from a PyTorch ``.pth`` by it and messages name the file the user chose.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PureWindowsPath

from explorer.weights.checksums import content_digest, remember_digest
from explorer.weights.errors import LocalWeightsError
from explorer.weights.sources import checkpoint_limit_bytes, explorer_cache_dir
from explorer.weights.transport import write_atomic

FALLBACK_NAME = "weights.pth"


def uploads_dir() -> Path:
    """Where uploaded weights are kept: ``$EXPLORER_CACHE/uploads``."""
    return explorer_cache_dir() / "uploads"


def safe_file_name(name: str) -> str:
    """The last component of a browser-given name (POSIX or Windows separators); never '.', '..' or empty."""
    last = PureWindowsPath(name.replace("/", "\\")).name.strip()
    return last if last and last not in (".", "..") else FALLBACK_NAME


def save_uploaded_weights(name: str, data: bytes) -> Path:
    """Store uploaded weights under their sha256 and return the path; the same bytes again reuse the file.

    Refused (LocalWeightsError, one sentence) when empty or over the checkpoint limit, before anything is
    written. The file is written to a temporary name and renamed, so a reader never sees half of it.
    """
    label = safe_file_name(name)
    if not data:
        raise LocalWeightsError(f"The uploaded weights file {label} is empty.")
    limit = checkpoint_limit_bytes()
    if len(data) > limit:
        raise LocalWeightsError(f"The uploaded weights file {label} is {len(data) / 1e6:.1f} MB, over the "
                                f"{limit / 1e6:.1f} MB checkpoint limit; raise it with EXPLORER_MAX_CHECKPOINT_MB.")
    digest = hashlib.sha256(data).hexdigest()
    target = uploads_dir() / digest / label
    if target.is_file() and content_digest(target) == digest:  # hashed once per file version, then remembered
        return target
    write_atomic(target, data)
    remember_digest(target, digest)
    return target

"""What the last export of each model to each runtime found, kept beside the export cache for the model card.

One small JSON file per (runtime, model): the runtime's version, the parts it runs, the parts kept in PyTorch
with their one-line reason, the parity summary, or the error that stopped the export. Reading needs neither
torch nor a runtime, so the zoo pages' model card can show it cheaply. Written atomically (temporary file, then
rename), so a reader never sees half a record.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from explorer.runtimes import EXPORT_RUNTIMES


def _path(runtime: str, uid: str, root: Path | None) -> Path:
    from explorer.runtimes.cache import exports_root

    return (root or exports_root()) / "records" / runtime / f"{hashlib.sha256(uid.encode()).hexdigest()[:24]}.json"


def write_record(runtime: str, uid: str, record: dict[str, Any], root: Path | None = None) -> None:
    """Replace the record of `uid` under `runtime` (best effort: a read-only cache never fails an export); `root`
    is the export cache's folder (default `exports_root()`)."""
    path = _path(runtime, uid, root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".record.")
        with os.fdopen(handle, "w") as out:
            json.dump({"uid": uid, "runtime": runtime, **record}, out)
        os.replace(temporary, path)
    except OSError:
        return


def read_records(uid: str, root: Path | None = None) -> list[dict[str, Any]]:
    """The records of `uid`, one per runtime it was exported to (or tried) on this machine."""
    found = []
    for runtime in EXPORT_RUNTIMES:
        try:
            record = json.loads(_path(runtime, uid, root).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("uid") == uid:
            found.append(record)
    return found


def record_lines(record: dict[str, Any]) -> list[str]:
    """The record in a few plain lines (the card shows them as a list)."""
    from explorer.runtimes import RUNTIME_LABELS

    label = f"{RUNTIME_LABELS.get(str(record.get('runtime')), record.get('runtime'))} {record.get('version', '')}"
    if record.get("error"):
        return [f"{label}: not usable — {record['error']}"]
    lines = [f"{label}: in the runtime: {', '.join(record.get('parts', []))}"]
    lines += [f"{label}: kept in PyTorch: {name}: {why}" for name, why in dict(record.get("kept", {})).items()]
    if record.get("parity"):
        lines.append(f"{label}: parity with PyTorch passed — {record['parity']}")
    return lines

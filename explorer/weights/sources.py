"""Where one model's weights come from and where they are cached, and the settings that bound fetching them.

* torchvision checkpoints live in torch.hub's cache, ``$TORCH_HOME/hub/checkpoints`` (``TORCH_HOME`` defaults to
  ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``), under the same name ``torch.hub.load_state_dict_from_url``
  gives them, so a file torchvision already downloaded is reused and the other way round.
* Detectron (and other non-torchvision) files live in ``$EXPLORER_CACHE`` (default
  ``~/.cache/detectron-zoo-explorer``), as ``<zoo>/<model id>/<file name>``: every Detectron checkpoint is called
  ``model_final.pkl``, so the model id keeps them apart. Detectron2's ``model_final_<hash>.pkl`` go to
  ``detectron2/<model id>/`` the same way, with the record of their first download beside them.
* ``EXPLORER_OFFLINE=1`` forbids the network whatever a caller asks; ``EXPLORER_MAX_CHECKPOINT_MB`` bounds the size
  of a checkpoint the engine will fetch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from explorer.weights.checksums import Checksum, checksum_from_filename, md5sum_url

ENV_CACHE = "EXPLORER_CACHE"
ENV_OFFLINE = "EXPLORER_OFFLINE"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def offline_forced() -> bool:
    """``EXPLORER_OFFLINE=1`` (or true/yes/on) forbids every download, whatever the caller asks."""
    return _truthy(os.environ.get(ENV_OFFLINE))


def torch_hub_checkpoint_dir() -> Path:
    """torch.hub's checkpoint directory, computed exactly as torch.hub's ``_get_torch_home`` (without importing torch).

    Like torch, a variable set to "" counts as set; matching torch matters more here than tidiness.
    """
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def explorer_cache_dir() -> Path:
    """Cache for files torch.hub does not manage: ``$EXPLORER_CACHE``, else ``~/.cache/detectron-zoo-explorer``."""
    return Path(os.path.expanduser(os.environ.get(ENV_CACHE) or "~/.cache/detectron-zoo-explorer"))


def checkpoint_limit_bytes() -> int:
    """Largest checkpoint accepted, from EXPLORER_MAX_CHECKPOINT_MB (default 2000 MB; the X-152 is ~600 MB)."""
    return int(float(os.environ.get("EXPLORER_MAX_CHECKPOINT_MB", "2000")) * 1e6)


@dataclass(frozen=True)
class WeightsSource:
    """Where one model's weights come from and where they are cached.

    ``checksum`` is known up front (torchvision: from the file name; Detectron: when the caller has the md5).
    ``checksum_url``, when set and ``checksum`` is None, is an md5sum file fetched before downloading.
    ``record_digest``: nothing is published (Detectron2), so the size and sha256 of the first download are
    recorded beside the file and every later read is checked against them (`explorer.weights.recorded`).
    """

    url: str
    filename: str
    cache_dir: Path
    checksum: Checksum | None
    description: str
    checksum_url: str | None = None
    record_digest: bool = False

    @property
    def path(self) -> Path:
        return self.cache_dir / self.filename


def torchvision_source(url: str, description: str) -> WeightsSource:
    """A torchvision checkpoint: torch.hub's file name and directory, sha256 prefix from the name."""
    filename = os.path.basename(urlparse(url).path)  # the name torch.hub.load_state_dict_from_url uses
    if not filename:
        raise ValueError(f"no file name in URL {url!r}")
    return WeightsSource(url, filename, torch_hub_checkpoint_dir(), checksum_from_filename(filename), description)


def detectron_source(
    url: str, model_id: str, description: str, md5: str | None = None, *, zoo: str = "detectron"
) -> WeightsSource:
    """A Detectron-style checkpoint in ``$EXPLORER_CACHE/<zoo>/<model_id>/``, checked against its md5.

    Without ``md5`` the published ``<url>.md5sum`` is fetched at download time.
    """
    filename, cache_dir = _model_cache_place(url, zoo, model_id)
    checksum = Checksum("md5", md5) if md5 else None
    return WeightsSource(url, filename, cache_dir, checksum, description, checksum_url=None if md5 else md5sum_url(url))


def _model_cache_place(url: str, zoo: str, model_id: str) -> tuple[str, Path]:
    """(file name, folder) of a zoo checkpoint in ``$EXPLORER_CACHE/<zoo>/<model_id>/``; every part a plain name."""
    filename = unquote(os.path.basename(urlparse(url).path))
    for part in (zoo, model_id, filename):
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise ValueError(f"unusable cache path component {part!r} for {url!r}")
    return filename, explorer_cache_dir() / zoo / model_id


def detectron2_source(url: str, model_id: str, description: str) -> WeightsSource:
    """A Detectron2 checkpoint in ``$EXPLORER_CACHE/detectron2/<model_id>/``.

    Detectron2 publishes no checksum, so the size and sha256 of the first download are recorded beside it
    (``<file>.sha256``) and checked on every later read (`explorer.weights.recorded`).
    """
    filename, cache_dir = _model_cache_place(url, "detectron2", model_id)
    return WeightsSource(url, filename, cache_dir, None, description, record_digest=True)

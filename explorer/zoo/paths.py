"""Where the zoo data lives: the committed `zoo_data/` folder and the reference pages it is built from."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ZOO_DATA_DIR = REPO_ROOT / "zoo_data"
#: The reference pages sit beside the checkout (`../shared/reference`), not inside it.
DEFAULT_REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"

"""Where the zoo data lives: `explorer/zoo_data/`, shipped inside the package, and the reference pages it is built from.

Readers take the tables through `importlib.resources` (`ZOO_DATA`), so an installed explorer finds its own copy
wherever pip put it and whatever the current directory is. Only the build (`explorer.zoo_build.zoo_data`) needs the
folder as a plain path (`ZOO_DATA_DIR`), to write into a checkout or an editable install; the reference pages it
reads sit beside a checkout (`../shared/reference`), so their default means nothing in an installed package.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

#: The committed tables as package data: what the library, the pages and the command line read.
ZOO_DATA: Traversable = files("explorer") / "zoo_data"
#: The same folder on disk, where the zoo build writes by default.
ZOO_DATA_DIR: Path = Path(__file__).resolve().parents[1] / "zoo_data"
#: The checkout holding the package (the folder above `explorer/`) when run from source.
REPO_ROOT: Path = Path(__file__).resolve().parents[2]
#: The reference pages sit beside the checkout (`../shared/reference`), not inside it.
DEFAULT_REFERENCE_DIR: Path = REPO_ROOT.parent / "shared" / "reference"

"""Runnable models: the catalog (a registry of model families) and the families that register in it.

Importing this package imports every family module, and each registers itself with the catalog; so
`import explorer.models.catalog`, which runs this first, always finds every family. No family module
imports torch at import time, so the zoo pages can ask the catalog which rows run without paying for it.
"""

from explorer.models import torchvision_zoo  # noqa: F401  (registers the torchvision family)
from explorer.models.detectron import family  # noqa: F401  (registers the Detectron family)
from explorer.models.detectron2 import family as detectron2_family  # noqa: F401  (registers Detectron2)

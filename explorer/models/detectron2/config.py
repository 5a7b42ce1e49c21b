"""The Detectron2 family's typed payload of a spec (`ModelSpec.family_config`): the config's facts, the network's
view of them, and the proposal model of a Fast R-CNN row.

Its own module because both sides of a load read it: the family that builds specs (no torch) and the loader
that builds runners from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.models.catalog import ModelSpec
from explorer.models.detectron2.arch import Detectron2Arch
from explorer.models.detectron2.netconfig import NetConfig


@dataclass(frozen=True)
class Detectron2Config:
    arch: Detectron2Arch | None
    net: NetConfig
    proposals: ModelSpec | None = None  # the RPN model whose proposals a Fast R-CNN model reads

    def companions(self) -> tuple[ModelSpec, ...]:
        return (self.proposals,) if self.proposals is not None else ()


def detectron2_config(spec: ModelSpec) -> Detectron2Config:
    """The spec's `Detectron2Config`; a spec of another family is a caller's mistake, said plainly."""
    if not isinstance(spec.family_config, Detectron2Config):
        raise TypeError(f"{spec.name} ({spec.uid}) is not a Detectron2 model spec")
    return spec.family_config

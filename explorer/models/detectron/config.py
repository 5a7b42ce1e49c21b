"""The Detectron family's typed payload of a spec (`ModelSpec.family_config`): architecture and proposal model.

Its own module because both sides of a load read it: the family that builds specs and the checkpoint loader
that builds runners from them (the family imports the loader only when a model is loaded).
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.models.catalog import ModelSpec
from explorer.models.detectron.arch import DetectronArch


@dataclass(frozen=True)
class DetectronConfig:
    """The Detectron facts of a spec (`ModelSpec.family_config`): its architecture, and its proposal model."""

    arch: DetectronArch
    proposals: ModelSpec | None = None  # the RPN model whose proposals a Fast R-CNN-style model runs on

    def companions(self) -> tuple[ModelSpec, ...]:
        return (self.proposals,) if self.proposals is not None else ()


def detectron_config(spec: ModelSpec) -> DetectronConfig:
    """The spec's `DetectronConfig`; a spec of another family is a caller's mistake, said plainly."""
    if not isinstance(spec.family_config, DetectronConfig):
        raise TypeError(f"{spec.name} ({spec.uid}) is not a Detectron model spec")
    return spec.family_config

"""Detectron's 12_2017 zoo as a catalog model family: specs without torch, runners on load.

A Detectron zoo row comes with its config's facts (`config_facts`: the config row of
`detectron_configs.csv` as JSON, joined by the zoo table loader), so the family reads no file of its own:
the runner knows the architecture and test settings from the row. Fast R-CNN rows and keypoint rows
trained on precomputed proposals name the RPN row that produced those proposals (`proposals_model_id`);
the catalog looks that row up and passes its spec in, and it lands in the spec's `DetectronConfig`. The
TTA row of the X-152 model runs with test-time augmentation and box voting, its plain twin without either.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from explorer.models.catalog import ModelSpec, NotRunnableError, Preprocessing, TestSettings, register
from explorer.models.detectron.arch import DetectronArch, UnsupportedConfigError, arch_from_config
from explorer.models.detectron.config import DetectronConfig

ZOO = "detectron"


def _text(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() in ("nan", "none") else text.removesuffix(".0")


def _is_tta(row: Mapping[str, Any]) -> bool:
    value = row.get("tta")
    return value is True or str(value).strip().lower() == "true"


@functools.cache
def _arch(config: str, facts: str) -> DetectronArch:
    if not facts:
        raise NotRunnableError(f"Detectron config {config!r} has no config facts in the zoo row (the zoo table "
                               "loader joins them from the config table)")
    try:
        return arch_from_config(json.loads(facts))
    except UnsupportedConfigError as error:
        raise NotRunnableError(str(error)) from error


def arch_for_row(row: Mapping[str, Any]) -> DetectronArch:
    """The row's architecture, with TTA (and the box voting that comes with it) only for the TTA row."""
    return with_row_tta(_arch(_text(row.get("config")), _text(row.get("config_facts"))), row)


def with_row_tta(arch: DetectronArch, row: Mapping[str, Any]) -> DetectronArch:
    """The config's architecture as this row runs it: TTA and box voting on only for a TTA row."""
    tta = _is_tta(row) and arch.tta
    return dataclasses.replace(arch, tta=tta, bbox_vote=arch.bbox_vote and tta)


class DetectronFamily:
    """Specs and runners for every model of the Detectron 12_2017 zoo."""

    name = "detectron"

    def handles(self, row: Mapping[str, Any]) -> bool:
        if row.get("zoo") != ZOO:
            return False
        try:
            arch_for_row(row)
        except NotRunnableError:
            return False
        return True

    def companion_uids(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """A Fast R-CNN-style row runs on the proposals of its (plain) RPN row."""
        if arch_for_row(row).kind != "fast":
            return ()
        return (f"{ZOO}:{_text(row.get('proposals_model_id'))}",)

    def spec(self, row: Mapping[str, Any], companions: Sequence[ModelSpec] = ()) -> ModelSpec:
        from explorer.weights.sources import detectron_source

        arch = arch_for_row(row)
        model_id = _text(row.get("model_id"))
        proposal_spec = None
        if arch.kind == "fast":
            if len(companions) != 1:
                raise NotRunnableError(f"{row.get('name')} runs on proposals of model "
                                       f"{_text(row.get('proposals_model_id'))!r}, whose spec was not given")
            proposal_spec = companions[0]
        tta = "" if not _is_tta(row) else ":tta"
        return ModelSpec(
            uid=f"{ZOO}:{model_id}{tta}", zoo=ZOO, model_id=model_id, name=str(row.get("name", model_id)),
            family=self.name, builder=arch.config, outputs=arch.outputs,
            weights=detectron_source(str(row["model_url"]), model_id, str(row.get("name", model_id))),
            preprocessing=Preprocessing(min_size=arch.test_scale, max_size=arch.test_max_size, channel_order="BGR",
                                        pixel_mean=arch.pixel_means, pixel_std=None, input_scale=1.0),
            test=TestSettings(score_thresh=arch.test_score_thresh, nms_thresh=arch.test_nms,
                              detections_per_image=arch.test_detections_per_im),
            family_config=DetectronConfig(arch=arch, proposals=proposal_spec),
        )

    def load(self, spec: ModelSpec, device: str, files: Mapping[str, Path]) -> Any:
        from explorer.models.detectron.checkpoint.loading import load_runner

        return load_runner(spec, device, files)


register(DetectronFamily)

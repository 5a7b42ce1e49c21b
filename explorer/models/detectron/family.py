"""Detectron's 12_2017 zoo as a catalog model family: specs without torch, runners on load.

`spec()` joins the zoo row with its config row (`zoo_data/detectron_configs.csv`), so the runner knows the
architecture and test settings; Fast R-CNN rows and keypoint rows trained on precomputed proposals also carry
the spec of the RPN row that produced those proposals (`proposals_model_id`). The TTA row of the X-152 model
runs with test-time augmentation and box voting, its plain twin without either.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from explorer.models.catalog import ModelSpec, NotRunnableError, Preprocessing, TestSettings, register
from explorer.models.detectron.arch import DetectronArch, UnsupportedConfigError, arch_from_config

ZOO = "detectron"


@functools.cache
def _config_rows() -> dict[str, dict[str, str]]:
    from explorer.zoo.table import load_configs

    return {str(row["config"]): row for row in load_configs().to_dict("records")}


@functools.cache
def _zoo_rows() -> dict[str, dict[str, str]]:
    """Plain (non-TTA) Detectron rows by model id, as text: where a chained model finds its RPN row."""
    from explorer.zoo.table import load_zoo_text

    table = load_zoo_text([ZOO])
    return {str(row["model_id"]): row for row in table.to_dict("records") if row["tta"] != "true"}


def _text(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() in ("nan", "none") else text.removesuffix(".0")


def _is_tta(row: Mapping[str, Any]) -> bool:
    value = row.get("tta")
    return value is True or str(value).strip().lower() == "true"


@functools.cache
def _arch(config: str) -> DetectronArch:
    rows = _config_rows()
    if config not in rows:
        raise NotRunnableError(f"Detectron config {config!r} is not in zoo_data/detectron_configs.csv")
    try:
        return arch_from_config(rows[config])
    except UnsupportedConfigError as error:
        raise NotRunnableError(str(error)) from error


def arch_for_row(row: Mapping[str, Any]) -> DetectronArch:
    """The row's architecture, with TTA (and the box voting that comes with it) only for the TTA row."""
    return with_row_tta(_arch(_text(row.get("config"))), row)


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

    def spec(self, row: Mapping[str, Any]) -> ModelSpec:
        from explorer.weights.sources import detectron_source

        arch = arch_for_row(row)
        model_id = _text(row.get("model_id"))
        proposals_id = _text(row.get("proposals_model_id"))
        proposal_spec = None
        if arch.kind == "fast":
            if proposals_id not in _zoo_rows():
                raise NotRunnableError(f"{row.get('name')} runs on proposals of model {proposals_id!r}, which the "
                                       "Detectron zoo table does not list")
            proposal_spec = self.spec(_zoo_rows()[proposals_id])
        tta = "" if not _is_tta(row) else ":tta"
        return ModelSpec(
            uid=f"{ZOO}:{model_id}{tta}", zoo=ZOO, model_id=model_id, name=str(row.get("name", model_id)),
            family=self.name, builder=arch.config, outputs=arch.outputs,
            weights=detectron_source(str(row["model_url"]), model_id, str(row.get("name", model_id))),
            preprocessing=Preprocessing(min_size=arch.test_scale, max_size=arch.test_max_size, channel_order="BGR",
                                        pixel_mean=arch.pixel_means, pixel_std=None, input_scale=1.0),
            test=TestSettings(score_thresh=arch.test_score_thresh, nms_thresh=arch.test_nms,
                              detections_per_image=arch.test_detections_per_im),
            extra={"arch": arch, "proposals": proposal_spec, "tta": arch.tta},
        )

    def load(self, spec: ModelSpec, device: str, weights_path: Path | None) -> Any:
        from explorer.models.detectron.checkpoint.loading import load_runner

        return load_runner(spec, device, weights_path)


register(DetectronFamily)

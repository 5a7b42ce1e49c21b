"""Detectron2's model zoo as a catalog model family: specs without torch, runners on load.

A Detectron2 zoo row comes with its config's facts (`config_facts`: the config row of
`detectron2_configs.csv` as JSON, joined by the zoo table loader), read into a `Detectron2Arch` and the
network's `NetConfig`. The Fast R-CNN row names the RPN row whose proposal file it was evaluated on
(`proposals_model_id`); the catalog passes that row's spec in, and the runner runs that model first, so the
row is timed end to end as the Detectron Fast rows are.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from explorer.models.catalog import ModelSpec, NotRunnableError, Preprocessing, TestSettings, register
from explorer.models.detectron2.arch import Detectron2Arch, UnsupportedConfigError, arch_from_config
from explorer.models.detectron2.config import Detectron2Config
from explorer.models.detectron2.netconfig import NetConfig, adapt

ZOO = "detectron2"


def _text(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() in ("nan", "none") else text.removesuffix(".0")


@functools.cache
def _configs(config: str, facts: str) -> tuple[Detectron2Arch, NetConfig]:
    if not facts:
        raise NotRunnableError(f"Detectron2 config {config!r} has no config facts in the zoo row (the zoo table "
                               "loader joins them from the config table)")
    try:
        arch = arch_from_config(json.loads(facts))
        return arch, adapt(arch)
    except UnsupportedConfigError as error:
        raise NotRunnableError(str(error)) from error
    except (ValueError, TypeError) as error:
        raise NotRunnableError(f"Detectron2 config {config!r}: unreadable config facts ({error})") from error


def configs_for_row(row: Mapping[str, Any]) -> tuple[Detectron2Arch, NetConfig]:
    return _configs(_text(row.get("config")), _text(row.get("config_facts")))


class Detectron2Family:
    """Specs and runners for every model of the Detectron2 zoo."""

    name = "detectron2"

    def handles(self, row: Mapping[str, Any]) -> bool:
        if row.get("zoo") != ZOO:
            return False
        try:
            configs_for_row(row)
        except NotRunnableError:
            return False
        return True

    def companion_uids(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """The Fast R-CNN row runs on the proposals of its RPN row."""
        if not configs_for_row(row)[1].precomputed_proposals:
            return ()
        return (f"{ZOO}:{_text(row.get('proposals_model_id'))}",)

    def spec(self, row: Mapping[str, Any], companions: Sequence[ModelSpec] = ()) -> ModelSpec:
        from explorer.weights.sources import detectron2_source

        arch, net = configs_for_row(row)
        model_id = _text(row.get("model_id"))
        name = str(row.get("name", model_id))
        proposal_spec = None
        if net.precomputed_proposals:
            if len(companions) != 1:
                raise NotRunnableError(f"{name} runs on proposals of model {_text(row.get('proposals_model_id'))!r}, "
                                       "whose spec was not given")
            proposal_spec = companions[0]
        retina = net.meta == "retinanet"
        return ModelSpec(
            uid=f"{ZOO}:{model_id}", zoo=ZOO, model_id=model_id, name=name, family=self.name, builder=net.config,
            outputs=net.outputs, weights=detectron2_source(str(row["model_url"]), model_id, name),
            preprocessing=Preprocessing(min_size=net.min_size, max_size=net.max_size, channel_order=net.input_format,
                                        pixel_mean=net.pixel_mean, pixel_std=net.pixel_std, input_scale=1.0),
            test=TestSettings(score_thresh=net.retinanet_score_thresh if retina else net.score_thresh,
                              nms_thresh=net.retinanet_nms_thresh if retina else net.nms_thresh,
                              detections_per_image=net.detections_per_image),
            family_config=Detectron2Config(arch=arch, net=net, proposals=proposal_spec),
        )

    def load(self, spec: ModelSpec, device: str, files: Mapping[str, Path]) -> Any:
        from explorer.models.detectron2.load import load_runner

        return load_runner(spec, device, files)


register(Detectron2Family)

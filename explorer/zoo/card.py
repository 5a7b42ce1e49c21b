"""A model card: every published fact about one model, its links, its config and its frontier neighbours."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from explorer.tasks import METRIC_LABELS
from explorer.zoo.pareto import frontier_neighbours
from explorer.zoo.schema import SCOPE_LABELS

#: Card fields in reading order: column -> label.
CARD_FIELDS: dict[str, str] = {
    "zoo": "zoo",
    "table": "table",
    "model_id": "model id",
    "tta": "test-time augmentation",
    "backbone": "backbone",
    "type": "type",
    "task": "task",
    "lr_schedule": "lr schedule",
    "epochs": "epochs",
    "ims_per_gpu": "images per GPU",
    "train_gpus": "training GPUs",
    "train_mem_gb": "training memory (GB)",
    "train_s_per_iter": "training s/iter",
    "train_hours": "training hours",
    "train_gpu_hours": "training GPU-hours",
    "infer_s_gpu": "inference s/im, GPU part",
    "infer_s_cpu": "inference s/im, CPU part",
    "infer_s": "inference s/im, total",
    "infer_s_e2e": "inference s/im, image to detections",
    "hardware": "timed on",
    **METRIC_LABELS,
    "ap_per_s": "AP per second",
    "gflops": "GFLOPs",
    "params_m": "parameters (M)",
    "file_size_mb": "file size (MB)",
    "config": "config",
}

LINK_FIELDS: dict[str, str] = {
    "model_url": "model weights",
    "boxes_url": "box results (COCO json)",
    "masks_url": "mask results (COCO json)",
    "kps_url": "keypoint results (COCO json)",
    "proposals_train_url": "proposals, coco_2014_train",
    "proposals_valminusminival_url": "proposals, coco_2014_valminusminival",
    "proposals_minival_url": "proposals, coco_2014_minival",
    "metrics_url": "training metrics",
}

#: Config facts shown on the card, when the model has a Detectron config.
CONFIG_FIELDS: tuple[str, ...] = (
    "conv_body", "fpn", "stride_1x1", "num_groups", "width_per_group", "roi_box_head", "roi_xform_resolution",
    "mask_head", "mask_resolution", "keypoint_head", "num_classes", "test_scale", "test_max_size", "test_nms",
    "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test", "tta", "tta_scales", "tta_max_size", "tta_h_flip",
)


#: Config facts shown on the card of a Detectron2 model (from its row's `config_facts`, detectron2_configs.csv).
DETECTRON2_CONFIG_FIELDS: tuple[str, ...] = (
    "config_file", "meta_architecture", "bottom_up", "resnet_depth", "resnet_num_groups", "resnet_width_per_group",
    "resnet_stride_in_1x1", "resnet_res5_dilation", "resnet_norm", "regnet_stage_depths", "regnet_stage_widths",
    "regnet_se_ratio", "regnet_norm", "fpn_in_features", "fpn_norm", "roi_heads_name", "box_head_num_conv",
    "box_head_num_fc", "box_head_norm", "box_pooler_type", "mask_head_num_conv", "mask_head_norm",
    "keypoint_num_keypoints", "num_classes", "anchor_sizes", "rpn_pre_nms_topk_test", "rpn_post_nms_topk_test",
    "roi_score_thresh_test", "roi_nms_thresh_test", "retinanet_score_thresh_test", "retinanet_nms_thresh_test",
    "detections_per_image", "min_size_test", "max_size_test", "input_format", "pixel_mean", "pixel_std",
    "proposals_config", "train_crop_size",
)


def _detectron2_config(row: pd.Series) -> dict[str, str]:
    """The card's Detectron2 config facts, read from the row's joined `config_facts` (JSON text; '' if none)."""
    text = row.get("config_facts", "")
    if not isinstance(text, str) or not text:
        return {}
    facts = json.loads(text)
    return {name: str(facts[name]) for name in DETECTRON2_CONFIG_FIELDS if facts.get(name, "") != ""}


def _shown(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) or abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _with_scope(column: str, text: str, row: pd.Series) -> str:
    """Accuracy figures say what they were measured on: '53.6 (person only)'."""
    if column in METRIC_LABELS or column == "ap_per_s":
        return f"{text} ({SCOPE_LABELS.get(row['metric_scope'], 'scope unknown')})"
    return text


@dataclass
class ModelCard:
    """What the card page and `python -m explorer card` show for one model id."""

    title: str
    rows: list[dict[str, str]]  # one per published evaluation (two for the TTA model)
    links: dict[str, str]
    config: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    neighbours: pd.DataFrame = field(default_factory=pd.DataFrame)


def build_card(table: pd.DataFrame, rows: pd.DataFrame, configs: pd.DataFrame, notes: dict[str, Any]) -> ModelCard:
    """Assemble the card for `rows` (all rows of one model id)."""
    first = rows.iloc[0]
    facts = [{label: _with_scope(column, text, row) for column, label in CARD_FIELDS.items()
              if (text := _shown(row[column])) is not None}
             for _, row in rows.iterrows()]
    links = {label: first[column] for column, label in LINK_FIELDS.items() if first[column]}
    config = {}
    if first["zoo"] == "detectron" and first["config"] in configs.index:
        facts_row = configs.loc[first["config"]]
        config = {name: facts_row[name] for name in CONFIG_FIELDS if name in facts_row and facts_row[name] != ""}
    elif first["zoo"] == "detectron2":
        config = _detectron2_config(first)
    zoo_notes = notes.get(first["zoo"], {})
    card_notes = [first["notes"]] if first["notes"] else []
    if zoo_notes.get("hardware"):
        card_notes.append(f"Times measured on {zoo_notes['hardware']} GPUs; other zoos used other GPUs, so compare "
                          "speeds across zoos with care.")
    metric = first["primary_metric"]
    peers = table[(table["zoo"] == first["zoo"]) & (table["metric_scope"] == first["metric_scope"])]
    neighbours = frontier_neighbours(peers, rows.index[0], "infer_s_e2e", metric)
    return ModelCard(title=f"{first['name']} — {first['zoo']} {first['model_id']}", rows=facts, links=links,
                     config=config, notes=card_notes, neighbours=neighbours)


def model_card_markdown(table: pd.DataFrame, rows: pd.DataFrame, configs: pd.DataFrame, notes: dict[str, Any]) -> str:
    """The card as Markdown, for the command line."""
    card = build_card(table, rows, configs, notes)
    lines = [f"# {card.title}", ""]
    for facts in card.rows:
        lines += [f"- {label}: {value}" for label, value in facts.items()] + [""]
    if card.links:
        lines += ["## Links", *[f"- {label}: {url}" for label, url in card.links.items()], ""]
    if card.config:
        lines += ["## Config", *[f"- {name}: {value}" for name, value in card.config.items()], ""]
    if card.notes:
        lines += ["## Notes", *[f"- {note}" for note in card.notes], ""]
    if not card.neighbours.empty:
        lines += ["## Neighbours on the speed/accuracy frontier",
                  *[f"- {row['name']} ({row['model_id']}): {row['primary_metric']} {row[row['primary_metric']]:g} "
                    f"({SCOPE_LABELS[row['metric_scope']]}), {row['infer_s_e2e']:g} s/im image to detections"
                    for _, row in card.neighbours.iterrows()], ""]
    return "\n".join(lines)

"""Zoo rows for torchvision's COCO detection weights, read from the installed package's own metadata.

torchvision publishes accuracy (box/mask/keypoint mAP on COCO val2017), GFLOPs, parameter count, file
size and the download URL for each weights enum, but no speed: those columns stay empty until a user
measures them. Only this build step imports torchvision; the app reads the generated file.
"""

from __future__ import annotations

import re
from typing import Any

from explorer.zoo.schema import ZooRow, empty_row

ZOO = "torchvision"

#: Builder-name prefix -> (type in Detectron's vocabulary, task).
_ARCHITECTURES: tuple[tuple[str, str, str], ...] = (
    ("fasterrcnn_", "Faster", "boxes"),
    ("maskrcnn_", "Mask", "masks"),
    ("keypointrcnn_", "Kps", "keypoints"),
    ("retinanet_", "RetinaNet", "boxes"),
    ("fcos_", "FCOS", "boxes"),
    ("ssdlite", "SSDlite", "boxes"),
    ("ssd", "SSD", "boxes"),
)

#: Backbone spelling in builder names -> Detectron-style spelling used across our tables.
_BACKBONE_WORDS: dict[str, str] = {
    "resnet50": "R-50",
    "mobilenet_v3_large": "MobileNetV3-L",
    "vgg16": "VGG-16",
}

_METRIC_COLUMNS: dict[str, str] = {"box_map": "box_ap", "mask_map": "mask_ap", "kp_map": "kp_ap"}


def architecture(builder: str) -> tuple[str, str, str]:
    """(type, task, rest of the name) for a torchvision builder such as 'maskrcnn_resnet50_fpn_v2'."""
    for prefix, kind, task in _ARCHITECTURES:
        if builder.startswith(prefix):
            return kind, task, builder[len(prefix) :].lstrip("_")
    raise ValueError(f"unknown torchvision detection builder {builder!r}")


def backbone_name(rest: str) -> str:
    """'resnet50_fpn_v2' -> 'R-50-FPN v2'; 'mobilenet_v3_large_320_fpn' -> 'MobileNetV3-L-320-FPN'."""
    version = ""
    match = re.search(r"_(v\d+)$", rest)
    if match:
        version, rest = f" {match.group(1)}", rest[: match.start()]
    for word, spelled in _BACKBONE_WORDS.items():
        if rest.startswith(word):
            tail = [part.upper() if part == "fpn" else part for part in rest[len(word) :].split("_") if part]
            return "-".join([spelled, *tail]) + version
    raise ValueError(f"unknown backbone in {rest!r}")


def _split_ssd(builder: str) -> tuple[str, str]:
    """SSD builders put the input size first: 'ssd300_vgg16' -> ('vgg16', '300')."""
    match = re.fullmatch(r"(ssd(?:lite)?)(\d+)_(.+)", builder)
    if not match:
        return builder, ""
    return match.group(3), match.group(2)


def _number(value: float) -> str:
    """Metadata numbers as torchvision states them ('37.0', '134.38')."""
    return repr(float(value))


def metric_scope(categories: list[str]) -> str:
    """'person' for weights whose only category besides background is person (KeypointRCNN: its mAPs are
    over people only), 'coco' for weights that detect every COCO category."""
    return "person" if list(categories[1:]) == ["person"] else "coco"


def weights_row(builder: str, weights: Any) -> ZooRow:
    """One zoo row from a torchvision weights enum member."""
    meta = weights.meta
    kind, task, rest = architecture(builder)
    if kind in ("SSD", "SSDlite"):
        body, size = _split_ssd(builder)
        backbone = backbone_name(body) + f"-{size}"
    else:
        backbone = backbone_name(rest)
    row = empty_row()
    row.update(
        zoo=ZOO,
        table="torchvision detection weights",
        model_id=f"{type(weights).__name__}.{weights.name}",
        tta="false",
        backbone=backbone,
        type=kind,
        task=task,
        model_url=weights.url,
        config=builder,
        name=f"{builder} {weights.name}",
        gflops=_number(meta["_ops"]),
        params_m=str(round(meta["num_params"] / 1e6, 3)),
        file_size_mb=_number(meta["_file_size"]),
        notes="COCO val2017 accuracy as published in torchvision's weights metadata; no published speed.",
    )
    row["metric_scope"] = metric_scope(meta["categories"])
    for key, value in meta["_metrics"]["COCO-val2017"].items():
        row[_METRIC_COLUMNS[key]] = _number(value)
    return row


def parse_torchvision_weights() -> list[ZooRow]:
    """Every COCO weights enum of torchvision's detection module, sorted by model id."""
    import torchvision.models.detection as detection
    from torchvision.models import get_model_weights, list_models

    rows = [
        weights_row(builder, weights)
        for builder in list_models(module=detection)
        for weights in get_model_weights(builder)
        if "COCO-val2017" in weights.meta.get("_metrics", {})
    ]
    return sorted(rows, key=lambda row: row["model_id"])


def torchvision_version() -> str:
    """The version whose metadata the table was read from, recorded next to the data."""
    import torchvision

    return torchvision.__version__.split("+")[0]

"""torchvision rows come from the installed package's own weights metadata, not from typed numbers."""

from __future__ import annotations

import pytest

from explorer.zoo_build.sources.torchvision_weights import architecture, backbone_name, parse_torchvision_weights


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return parse_torchvision_weights()


def test_all_coco_weights_are_listed(rows: list[dict[str, str]]) -> None:
    from torchvision.models import detection, get_model_weights, list_models

    expected = {f"{type(w).__name__}.{w.name}" for m in list_models(module=detection) for w in get_model_weights(m)}
    assert {row["model_id"] for row in rows} == expected
    assert len(rows) >= 13


def test_values_equal_the_metadata(rows: list[dict[str, str]]) -> None:
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights, MaskRCNN_ResNet50_FPN_V2_Weights

    mask = next(r for r in rows if r["model_id"] == "MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1")
    meta = MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1.meta
    assert float(mask["box_ap"]) == meta["_metrics"]["COCO-val2017"]["box_map"]
    assert float(mask["mask_ap"]) == meta["_metrics"]["COCO-val2017"]["mask_map"]
    assert float(mask["gflops"]) == meta["_ops"] and float(mask["file_size_mb"]) == meta["_file_size"]
    assert mask["model_url"] == MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1.url
    assert (mask["type"], mask["task"], mask["backbone"], mask["config"]) == (
        "Mask", "masks", "R-50-FPN v2", "maskrcnn_resnet50_fpn_v2")
    kps = next(r for r in rows if r["model_id"] == "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1")
    assert float(kps["kp_ap"]) == KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.meta["_metrics"]["COCO-val2017"]["kp_map"]
    assert kps["mask_ap"] == ""


def test_no_speed_is_invented(rows: list[dict[str, str]]) -> None:
    for row in rows:
        assert row["infer_s"] == row["infer_s_gpu"] == row["train_hours"] == row["hardware"] == ""


def test_names_in_detectron_spelling() -> None:
    assert architecture("keypointrcnn_resnet50_fpn") == ("Kps", "keypoints", "resnet50_fpn")
    assert backbone_name("mobilenet_v3_large_320_fpn") == "MobileNetV3-L-320-FPN"
    assert backbone_name("resnet50_fpn_v2") == "R-50-FPN v2"
    with pytest.raises(ValueError, match="unknown torchvision detection builder"):
        architecture("yolo_v99")

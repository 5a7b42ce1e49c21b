"""Detectron2 config facts: the static reader, the yacs/LazyConfig records, and known answers read by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.models.detectron2.arch import RegNetSpec, ResNetSpec, arch_from_config
from explorer.zoo_build.sources.detectron2_configs import (
    CONFIG_COLUMNS,
    config_of_model_url,
    load_yaml_values,
    parse_config,
    parse_detectron2_configs,
    regnet_stages,
)
from explorer.zoo_build.sources.static_python import ConfigModule, StaticConfigError, evaluate_expression
from tests.conftest import REFERENCE_DIR, needs_reference

CONFIG_DIR = REFERENCE_DIR / "detectron2" / "configs"


# --- the static reader ------------------------------------------------------------------------------------------


def test_expressions_are_evaluated_without_running_code() -> None:
    assert evaluate_expression("[[x, x * 2**(1.0/3)] for x in [32, 64]]", "t") == [
        [32, 32 * 2 ** (1 / 3)], [64, 64 * 2 ** (1 / 3)]]
    assert evaluate_expression("tuple(512 for _ in range(3))", "t") == (512, 512, 512)


@pytest.mark.parametrize(("expression", "named"), [
    ("__import__('os').system('true')", "the name '__import__'"),
    ("open('/etc/passwd').read()", "the name 'open'"),
    ("(1).__class__", "the attribute '__class__' of a int"),
    ("10 ** 10 ** 10", "an exponent of"),
    ("[x for x in range(10 ** 9)]", "a range of 1000000000 items"),
    ("'a' * 1000", "arithmetic on non-numbers"),
])
def test_expressions_that_would_run_code_or_explode_are_refused(expression: str, named: str) -> None:
    with pytest.raises(StaticConfigError) as caught:
        evaluate_expression(expression, "where")
    assert named in str(caught.value)


def test_a_config_module_reads_assignments_imports_and_relative_configs(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("from detectron2.config import LazyCall as L\nfrom x import Head\n"
                                      "model = L(Head)(dims=[256], norm='', inner=dict(a=1))\n"
                                      "train = dict(max_iter=100)\n")
    (tmp_path / "child.py").write_text("from .base import model, train\ntrain.max_iter *= 2\n"
                                       "model.norm = model.inner.b = 'GN'\n")
    namespace = ConfigModule(tmp_path / "child.py", tmp_path).namespace
    assert namespace["train"] == {"max_iter": 200}
    assert namespace["model"] == {"_target_": "x.Head", "dims": [256], "norm": "GN", "inner": {"a": 1, "b": "GN"}}


def test_a_call_of_imported_code_is_recorded_never_run(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text("import os\nshape = os.system('touch ran')\n")
    assert ConfigModule(tmp_path / "c.py", tmp_path).namespace["shape"] == {"_call_": "os.system",
                                                                            "_args_": ["touch ran"]}
    assert not (tmp_path / "ran").exists() and not Path("ran").exists()


@pytest.mark.parametrize(("source", "named"), [
    ("import os\nos.system('true')\n", "a Expr statement"),
    ("def f():\n    pass\n", "a FunctionDef statement"),
    ("from ..outside import x\n", "no config file there below the config folder"),
    ("for i in [1]:\n    pass\n", "a For statement"),
])
def test_a_config_module_refuses_statements_it_cannot_read(tmp_path: Path, source: str, named: str) -> None:
    root = tmp_path / "configs"
    root.mkdir()
    (tmp_path / "outside.py").write_text("x = 1\n")
    (root / "bad.py").write_text(source)
    with pytest.raises(StaticConfigError) as caught:
        ConfigModule(root / "bad.py", root)
    assert named in str(caught.value) and "bad.py:" in str(caught.value)


def test_yaml_bases_merge_and_strings_decode_as_yacs_does(tmp_path: Path) -> None:
    (tmp_path / "Base.yaml").write_text('MODEL:\n  RPN:\n    NMS_THRESH: 0.6\n    IN_FEATURES: ["p2"]\n'
                                        'INPUT:\n  MIN_SIZE_TRAIN: (640, 800)\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text('_BASE_: "../Base.yaml"\nMODEL:\n  RPN:\n    NMS_THRESH: 0.5\n'
                                                 '  ANCHOR_GENERATOR:\n    SIZES: !!python/object/apply:eval '
                                                 '["[[x] for x in [32, 64]]"]\n')
    assert load_yaml_values(tmp_path / "sub" / "child.yaml") == {
        "MODEL.RPN.NMS_THRESH": 0.5, "MODEL.RPN.IN_FEATURES": ["p2"], "INPUT.MIN_SIZE_TRAIN": (640, 800),
        "MODEL.ANCHOR_GENERATOR.SIZES": [[32], [64]]}


def test_yaml_tags_other_than_the_static_eval_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text('MODEL: !!python/object/apply:os.system ["true"]\n')
    with pytest.raises(StaticConfigError, match="not a config this reader accepts"):
        load_yaml_values(tmp_path / "bad.yaml")


def test_the_config_key_comes_from_the_model_url() -> None:
    url = "https://dl.fbaipublicfiles.com/detectron2/COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x/137261548/model_final_04e291.pkl"
    assert config_of_model_url(url) == "COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x"
    with pytest.raises(ValueError, match="not a Detectron2 model URL"):
        config_of_model_url("https://example.com/model.pkl")


def test_regnet_stage_widths_are_the_published_4gf_ones() -> None:
    """RegNetX-4.0GF and RegNetY-4.0GF stage depths and widths as the RegNet paper's model zoo lists them."""
    assert regnet_stages(38.65, 96, 2.43, 23, 40) == ([2, 5, 14, 2], [80, 240, 560, 1360], [40, 40, 40, 40])
    assert regnet_stages(31.41, 96, 2.24, 22, 64) == ([2, 6, 12, 2], [128, 192, 512, 1088], [64, 64, 64, 64])


# --- known answers on the real configs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records() -> dict[str, dict[str, str]]:
    from explorer.zoo.table import load_configs

    table = load_configs(name="detectron2_configs.csv")
    return {key: row for key, row in zip(table.index, table.to_dict("records"), strict=True)}


def test_the_committed_table_has_every_column_and_one_row_per_zoo_row(records) -> None:
    from explorer.zoo.table import load_zoo_text

    zoo = load_zoo_text(["detectron2"])
    assert len(zoo) == 45
    assert set(records) == {config_of_model_url(url) for url in zoo["model_url"]}
    assert all(list(row) == list(CONFIG_COLUMNS) for row in records.values())


def test_every_detectron2_row_gets_facts_and_every_one_builds() -> None:
    from explorer.zoo.table import load_zoo

    zoo = load_zoo(["detectron2"])
    assert (zoo["config_facts"] != "").all()
    import json

    archs = {uid: arch_from_config(json.loads(facts)) for uid, facts in zoo["config_facts"].items()}
    kinds = sorted({arch.kind for arch in archs.values()})
    assert kinds == ["fast", "faster", "keypoint", "mask", "retinanet", "rpn"]
    assert {arch.structure for arch in archs.values()} == {"C4", "DC5", "FPN"}


def arch(records, key: str):
    return arch_from_config(records[key])


def test_c4_runs_res5_in_the_roi_heads(records) -> None:
    c4 = arch(records, "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x")
    assert c4.structure == "C4" and c4.backbone.out_features == ("res4",)
    assert c4.roi_heads.name == "Res5ROIHeads" and c4.roi_heads.box.name == ""
    assert c4.roi_heads.box.pooler.resolution == 14 and c4.roi_heads.box.pooler.aligned
    assert c4.roi_heads.mask.num_conv == 0  # NUM_CONV default: the deconvolution on res5's output only
    assert c4.rpn.pre_nms_topk_test == 6000 and c4.rpn.in_features == ("res4",)
    assert c4.anchors.sizes == ((32.0, 64.0, 128.0, 256.0, 512.0),)
    assert c4.fpn is None and c4.input.size_divisibility == 0


def test_dc5_dilates_res5(records) -> None:
    dc5 = arch(records, "COCO-Detection/faster_rcnn_R_101_DC5_3x")
    assert dc5.structure == "DC5" and dc5.backbone.res5_dilation == 2 and dc5.backbone.depth == 101
    assert dc5.roi_heads.in_features == ("res5",) and dc5.roi_heads.box.num_fc == 2


def test_resnext_is_32x8d_without_stride_in_1x1(records) -> None:
    x101 = arch(records, "COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x")
    assert isinstance(x101.backbone, ResNetSpec)
    assert (x101.backbone.num_groups, x101.backbone.width_per_group, x101.backbone.stride_in_1x1) == (32, 8, False)
    assert x101.input.pixel_std == (57.375, 57.12, 58.395) and x101.input.format == "BGR"


def test_keypoint_rcnn_predicts_17_keypoints_of_people(records) -> None:
    kps = arch(records, "COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x")
    assert kps.kind == "keypoint" and kps.num_classes == 1
    assert kps.roi_heads.keypoint.num_keypoints == 17 and kps.roi_heads.keypoint.conv_dims == (512,) * 8
    assert kps.input.min_size_test == 800 and kps.outputs == {"boxes", "keypoints"}
    # Detectron1-Comparisons has a config of the same stem: pooled unaligned, sampling ratio 2
    old = arch(records, "Detectron1-Comparisons/keypoint_rcnn_R_50_FPN_1x")
    assert old.roi_heads.keypoint.pooler.type == "ROIAlign" and not old.roi_heads.keypoint.pooler.aligned
    assert old.roi_heads.keypoint.pooler.sampling_ratio == 2


def test_retinanet_test_settings(records) -> None:
    retina = arch(records, "COCO-Detection/retinanet_R_50_FPN_1x")
    assert retina.kind == "retinanet" and retina.rpn is None and retina.roi_heads is None
    assert retina.retinanet.score_thresh_test == 0.05 and retina.retinanet.topk_candidates_test == 1000
    assert retina.retinanet.nms_thresh_test == 0.5 and retina.retinanet.in_features == ("p3", "p4", "p5", "p6", "p7")
    assert retina.fpn.top_block == "LastLevelP6P7" and retina.fpn.top_block_in_feature == "res5"
    assert retina.fpn.out_features == ("p3", "p4", "p5", "p6", "p7")
    assert [len(sizes) for sizes in retina.anchors.sizes] == [3] * 5
    assert retina.anchors.sizes[1][1] == pytest.approx(64 * 2 ** (1 / 3))


def test_fast_rcnn_reads_the_rpn_rows_proposals(records) -> None:
    fast = arch(records, "COCO-Detection/fast_rcnn_R_50_FPN_1x")
    assert fast.kind == "fast" and fast.rpn is None and fast.proposals_config == "COCO-Detection/rpn_R_50_FPN_1x"
    assert fast.precomputed_proposal_topk_test == 1000
    rpn = arch(records, "COCO-Detection/rpn_R_50_C4_1x")
    assert rpn.kind == "rpn" and rpn.rpn.pre_nms_topk_test == 12000 and rpn.rpn.post_nms_topk_test == 2000


def test_lsj_regnety_facts(records) -> None:
    lsj = arch(records, "new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ")
    assert lsj.lsj and isinstance(lsj.backbone, RegNetSpec)
    assert lsj.backbone.se_ratio == 0.25 and lsj.backbone.stage_widths == (128, 192, 512, 1088)
    assert records["new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ"]["regnet_norm"] == "SyncBN"
    assert lsj.backbone.norm == "BN" and lsj.fpn.norm == "BN"  # SyncBN runs as plain BN at test time
    assert lsj.input.pixel_std == (57.375, 57.12, 58.395)
    # the 1024 of "LSJ" is the training crop; the test loader keeps common/data/coco.py's 800 / 1333 resize
    assert (lsj.input.min_size_test, lsj.input.max_size_test) == (800, 1333)
    assert records["new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ"]["train_crop_size"] == "1024"
    assert lsj.rpn.head_conv_dims == (-1, -1)
    heads = lsj.roi_heads
    assert (heads.box.num_conv, heads.box.num_fc, heads.box.norm) == (4, 1, "BN")
    # the mask head's convs are NaiveSyncBatchNorm factories in the config: plain BN at test time
    assert records["new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ"]["mask_head_norm"] == "NaiveSyncBN"
    assert (heads.mask.num_conv, heads.mask.conv_dim, heads.mask.norm) == (4, 256, "BN")


def _built_stages(net) -> tuple[list[int], list[int], list[int]]:
    """Depths, widths and group widths per stage of a RegNet as our network builds it (on the meta device)."""
    import torch

    from explorer.models.detectron2.network.regnet import RegNet

    with torch.device("meta"):
        regnet = RegNet(net.regnet)
    depths, widths, groups = [], [], []
    for name in regnet.stage_names:
        blocks = list(getattr(regnet, name).children())
        depths.append(len(blocks))
        widths.append(blocks[-1].f.c.out_channels)
        groups.append(blocks[-1].f.b.in_channels // blocks[-1].f.b.groups)
    return depths, widths, groups


def test_regnet_stage_widths_in_the_table_are_the_ones_the_network_builds(records) -> None:
    """The table states each RegNet's stages (from w_a, w_0, w_m); the network derives them again itself."""
    from explorer.models.detectron2.netconfig import adapt

    regnets = {key: row for key, row in records.items() if row["bottom_up"] == "RegNet"}
    assert len(regnets) == 6  # RegNetX-4GF and RegNetY-4GF, 100/200/400 epochs
    for key, row in regnets.items():
        built = _built_stages(adapt(arch(records, key)))
        stated = tuple([int(v) for v in row[f"regnet_stage_{part}"].split(";")]
                       for part in ("depths", "widths", "group_widths"))
        assert built == stated, key


def test_lsj_resnet_facts(records) -> None:
    lsj = arch(records, "new_baselines/mask_rcnn_R_101_FPN_200ep_LSJ")
    assert isinstance(lsj.backbone, ResNetSpec) and lsj.backbone.depth == 101
    assert (lsj.backbone.norm, lsj.backbone.stem_norm) == ("BN", "BN") and lsj.backbone.stride_in_1x1
    assert lsj.input.pixel_std == (1.0, 1.0, 1.0)
    assert "FastRCNNOutputLayers.test_nms_thresh" in lsj.defaults_used
    assert records["new_baselines/mask_rcnn_R_101_FPN_200ep_LSJ"]["max_iter"] == str(184375 * 2)


@needs_reference
def test_parsing_the_reference_configs_reproduces_the_committed_records(records) -> None:
    urls = [f"https://dl.fbaipublicfiles.com/detectron2/{key}/1/model_final_x.pkl" for key in records]
    assert {row["config"]: row for row in parse_detectron2_configs(urls, CONFIG_DIR)} == records


@needs_reference
def test_a_missing_config_file_fails_the_build() -> None:
    with pytest.raises(FileNotFoundError, match="no config file for 'COCO-Detection/nothing'"):
        parse_config("COCO-Detection/nothing", CONFIG_DIR)


def test_the_card_of_a_detectron2_row_shows_its_config_facts(capsys) -> None:
    from explorer.cli.main import main

    assert main(["card", "137257644"]) == 0  # Faster R-50-C4 1x
    config = capsys.readouterr().out.split("## Config\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "- config_file: COCO-Detection/faster_rcnn_R_50_C4_1x.yaml" in config
    assert "- roi_heads_name: Res5ROIHeads" in config and "- rpn_pre_nms_topk_test: 6000" in config
    assert "- min_size_test: 800" in config and "- input_format: BGR" in config
    assert not any(line.startswith("- mask_") for line in config)  # a box-only model has no mask facts


def test_import_cycles_and_bases_outside_the_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("from .a import x\n")
    with pytest.raises(StaticConfigError, match="import cycle"):
        ConfigModule(tmp_path / "a.py", tmp_path)
    root = tmp_path / "configs"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside.yaml").write_text("MODEL: {}\n")
    (root / "sub" / "child.yaml").write_text('_BASE_: "../../outside.yaml"\n')
    with pytest.raises(StaticConfigError, match="outside the config folder"):
        load_yaml_values(root / "sub" / "child.yaml", root=root)

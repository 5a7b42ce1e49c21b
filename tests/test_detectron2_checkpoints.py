"""Bad Detectron2 checkpoints get one clear message and run no code; the family turns zoo rows into specs."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from explorer.models.catalog import NotRunnableError
from explorer.models.detectron.checkpoint.pickle_safe import load_checkpoint
from explorer.models.detectron.errors import CheckpointFormatError as DetectronFormatError
from explorer.models.detectron.errors import UnsafePickleError
from explorer.models.detectron2.checkpoint.loading import load_weights
from explorer.models.detectron2.errors import CheckpointFormatError, CheckpointMismatchError
from explorer.models.detectron2.family import Detectron2Family
from explorer.models.detectron2.netconfig import NetConfig
from explorer.weights.errors import WeightsError
from tests.detectron2_factory import small, write_checkpoint, write_detectron_checkpoint
from tests.test_detectron2_arch import mask_fpn_row

MASK = small(NetConfig("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x", mask_on=True))


def test_a_checkpoint_of_a_deeper_resnet_names_the_first_unexpected_parameter(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "r101.pkl", dataclasses.replace(MASK, depth=101))
    with pytest.raises(CheckpointMismatchError, match=r"it has parameter backbone\.bottom_up\.res4\.10\.conv1"):
        load_weights(tmp_path / "r101.pkl", MASK)


def test_a_checkpoint_missing_a_head_names_the_parameter(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "faster.pkl", dataclasses.replace(MASK, mask_on=False))
    with pytest.raises(CheckpointMismatchError, match=r"no parameter roi_heads\.mask_head\.mask_fcn1\.weight"):
        load_weights(tmp_path / "faster.pkl", MASK)


def test_a_checkpoint_of_other_classes_names_the_shape(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "person.pkl", dataclasses.replace(MASK, num_classes=1))
    with pytest.raises(CheckpointMismatchError,
                       match=r"roi_heads\.box_predictor\.cls_score\.weight is \(2, 32\), expected \(81, 32\)"):
        load_weights(tmp_path / "person.pkl", MASK)


def test_an_lsj_checkpoint_for_a_non_lsj_row_says_so(tmp_path: Path) -> None:
    lsj = dataclasses.replace(MASK, backbone_norm="BN", fpn_norm="BN", box_convs=4, box_fcs=1, box_norm="BN",
                              mask_norm="BN", rpn_convs=2, lsj=True)
    write_checkpoint(tmp_path / "lsj.pkl", lsj)
    with pytest.raises(CheckpointMismatchError, match="LSJ"):
        load_weights(tmp_path / "lsj.pkl", MASK)
    load_weights(tmp_path / "lsj.pkl", lsj)  # and it loads for its own row


def test_a_detectron_pkl_is_refused_by_detectron2_and_the_reverse(tmp_path: Path) -> None:
    write_detectron_checkpoint(tmp_path / "caffe2.pkl")
    with pytest.raises(CheckpointFormatError, match="Detectron \\(Caffe2\\) checkpoint"):
        load_weights(tmp_path / "caffe2.pkl", MASK)
    write_checkpoint(tmp_path / "d2.pkl", MASK)
    with pytest.raises(DetectronFormatError, match="is a Detectron2 checkpoint"):
        load_checkpoint(tmp_path / "d2.pkl")


def test_a_truncated_pickle_is_a_format_error(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "whole.pkl", MASK)
    data = (tmp_path / "whole.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointFormatError, match="not a readable Detectron2 checkpoint"):
        load_weights(tmp_path / "cut.pkl", MASK)
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"state_dict": {}}))
    with pytest.raises(CheckpointFormatError, match="no 'model' dict"):
        load_weights(tmp_path / "dict.pkl", MASK)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch pwned",))


def test_a_malicious_pickle_runs_no_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"model": {"x": _Payload()}}))
    with pytest.raises(UnsafePickleError) as caught:
        load_weights(tmp_path / "evil.pkl", MASK)
    assert isinstance(caught.value, WeightsError)
    assert not (tmp_path / "pwned").exists()


def _zoo_row(**changes: str) -> dict[str, str]:
    facts = mask_fpn_row(**changes)
    return {"zoo": "detectron2", "model_id": "137260431", "config": facts["config"], "config_facts": json.dumps(facts),
            "name": "Mask R50-FPN 1x", "model_url": "https://dl.fbaipublicfiles.com/detectron2/COCO-InstanceSegmentation/"
            "mask_rcnn_R_50_FPN_1x/137260431/model_final_a54504.pkl", "proposals_model_id": ""}


def test_the_family_reads_a_zoo_row_into_a_spec() -> None:
    family = Detectron2Family()
    row = _zoo_row()
    assert family.handles(row) and not family.handles({**row, "zoo": "detectron"})
    assert not family.handles({**row, "config_facts": ""})
    spec = family.spec(row)
    assert spec.uid == "detectron2:137260431" and spec.outputs == frozenset({"boxes", "masks"})
    assert (spec.preprocessing.min_size, spec.preprocessing.max_size, spec.preprocessing.channel_order) == (
        800, 1333, "BGR")
    assert spec.weights is not None and spec.weights.filename == "model_final_a54504.pkl"
    assert spec.weights.path.parent.name == "137260431" and spec.weights.checksum_url is None
    assert family.companion_uids(row) == ()


def test_the_fast_rcnn_row_runs_on_its_rpn_rows_model() -> None:
    family = Detectron2Family()
    fast = {**_zoo_row(mask_on="false", proposal_generator="PrecomputedProposals", load_proposals="true",
                       proposals_config="COCO-Detection/rpn_R_50_FPN_1x"), "proposals_model_id": "137258492"}
    assert family.companion_uids(fast) == ("detectron2:137258492",)
    rpn = {**_zoo_row(mask_on="false", meta_architecture="ProposalNetwork"), "model_id": "137258492"}
    rpn_spec = family.spec(rpn)
    assert rpn_spec.outputs == frozenset({"proposals"})
    spec = family.spec(fast, [rpn_spec])
    assert spec.companions() == (rpn_spec,)
    assert [file.uid for file in spec.weights_files()] == ["detectron2:137260431", "detectron2:137258492"]
    with pytest.raises(NotRunnableError, match="whose spec was not given"):
        family.spec(fast)


def test_the_family_loads_random_weights_and_predicts_detections() -> None:
    import numpy as np

    family = Detectron2Family()
    spec = family.spec(_zoo_row()).with_sizes(64, 96).with_test(detections_per_image=3)
    runner = family.load(spec, "cpu", {})
    detections = runner.predict([np.zeros((48, 64, 3), np.uint8)])[0]
    assert len(detections) <= 3 and detections.masks is not None
    assert detections.masks.shape[1:] == (48, 64)
    assert set(detections.timings) >= {"preprocess", "model", "postprocess"}


def test_the_engine_loads_a_user_given_zoo_file_and_times_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    """`explorer bench` / `predict` path: engine.load_runner with a local pkl, then benchmark_runner."""
    import numpy as np

    from explorer.benchmarks.timing import benchmark_runner
    from explorer.engine.runners import load_runner
    from explorer.models.detectron2.arch import arch_from_config
    from explorer.models.detectron2.netconfig import adapt

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    narrow = {"resnet_res2_out_channels": "32", "resnet_stem_out_channels": "8", "resnet_width_per_group": "8",
              "fpn_out_channels": "16", "box_head_fc_dim": "32", "mask_head_conv_dim": "16",
              "detections_per_image": "3"}
    row = _zoo_row(**narrow)
    write_checkpoint(tmp_path / "model_final_small.pkl", adapt(arch_from_config(mask_fpn_row(**narrow))))
    spec = Detectron2Family().spec(row).with_sizes(64, 96)
    runner = load_runner(spec, "cpu", tmp_path / "model_final_small.pkl")
    result = benchmark_runner(runner, np.zeros((48, 64, 3), np.uint8), runs=1, warmup=0)
    assert result.median_s > 0
    found = runner.predict([np.full((48, 64, 3), 128, np.uint8)])[0]
    assert len(found) <= 3 and found.masks is not None

"""Converting Detectron checkpoints: every tensor filled from its blob, clear errors for missing, misshapen and
unknown blobs, the cache of converted files, and the `convert` command."""

from __future__ import annotations

import argparse
import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.cli import convert
from explorer.models.catalog import UnknownModelError
from explorer.models.detectron.arch import DetectronArch, arch_from_config
from explorer.models.detectron.checkpoint import convert as convert_module
from explorer.models.detectron.checkpoint.convert import (
    UNIT_BBOX_REG_WEIGHTS,
    build_model,
    cache_path,
    check_blobs,
    convert_blobs,
    load_weights,
)
from explorer.models.detectron.errors import (
    BlobShapeError,
    CheckpointFormatError,
    DetectronWeightsError,
    MissingBlobError,
    UnexpectedBlobError,
)
from explorer.models.detectron.network.layers import blob_map
from explorer.zoo.table import load_configs
from tests.detectron_factory import checkpoint, leftovers, model_shapes, write_pickle

FAMILIES = [
    "e2e_faster_rcnn_R-50-C4_1x", "e2e_mask_rcnn_R-50-C4_1x", "e2e_faster_rcnn_R-50-FPN_1x",
    "e2e_mask_rcnn_R-50-FPN_1x", "e2e_mask_rcnn_X-101-32x8d-FPN_1x", "retinanet_R-50-FPN_1x",
    "retinanet_X-101-64x4d-FPN_1x", "e2e_keypoint_rcnn_R-50-FPN_1x", "keypoint_rcnn_R-50-FPN_1x",
    "rpn_R-50-FPN_1x", "rpn_R-50-C4_1x", "rpn_person_only_R-50-FPN_1x", "fast_rcnn_R-50-C4_1x",
    "mask_rcnn_R-50-C4_1x",
]
SMALL = "rpn_R-50-C4_1x"  # the smallest checkpoint, for file-level tests


@functools.cache
def _arch(config: str) -> DetectronArch:
    """The architecture of a config row of `detectron_configs.csv`."""
    return arch_from_config(load_configs().loc[config].to_dict())


@pytest.mark.parametrize("config", FAMILIES)
def test_every_tensor_is_filled_from_its_blob(config: str) -> None:
    arch = _arch(config)
    blobs = checkpoint(config)
    state, report = convert_blobs(blobs, arch)
    model = build_model(arch, convert_module.ConvertedWeights(config, state, arch.bbox_reg_weights), "cpu", fold=False)
    mapping = blob_map(model)
    assert set(mapping) == set(model.state_dict()) and report.filled == len(mapping)
    for key, value in model.state_dict().items():
        assert np.array_equal(value.numpy(), blobs[mapping[key]]), key
    assert set(mapping.values()) == set(model_shapes(config))  # exactly the parameters Detectron has
    assert not report.unexpected and report.ignored["momentum blobs"]


def test_x152_names_and_shapes_check_without_values() -> None:
    config = "e2e_mask_rcnn_X-152-32x8d-FPN-IN5k_1.44x"
    shapes = model_shapes(config)
    blobs = {name: np.broadcast_to(np.float32(0), shape) for name, shape in {**shapes, **leftovers(shapes)}.items()}
    mapping, report = check_blobs(blobs, _arch(config))
    assert report.ignored["momentum blobs"] and not report.unexpected
    assert set(mapping.values()) == set(shapes) and len(mapping) == 507
    assert shapes["res4_35_branch2b_w"] == (1024, 32, 3, 3)  # res4 of 32x8d: 32 groups x 32 = 1024 wide
    assert "fpn_inner_res4_35_sum_lateral_w" in mapping.values()


def test_missing_blob_is_named() -> None:
    blobs = checkpoint(SMALL)
    del blobs["res3_2_branch2b_bn_s"]
    with pytest.raises(MissingBlobError, match="res3_2_branch2b_bn_s"):
        convert_blobs(blobs, _arch(SMALL))


def test_wrong_shape_is_named_with_both_shapes() -> None:
    blobs = checkpoint(SMALL)
    blobs["rpn_cls_logits_w"] = np.zeros((9, 1024, 1, 1), np.float32)
    with pytest.raises(BlobShapeError, match=r"rpn_cls_logits_w is \(9, 1024, 1, 1\), expected \(15, 1024, 1, 1\)"):
        convert_blobs(blobs, _arch(SMALL))


def test_unknown_blob_is_an_error_unless_allowed() -> None:
    blobs = checkpoint(SMALL)
    blobs["mystery_head_w"] = np.zeros(3, np.float32)
    with pytest.raises(UnexpectedBlobError, match="mystery_head_w"):
        convert_blobs(blobs, _arch(SMALL))
    _, report = convert_blobs(blobs, _arch(SMALL), strict=False)
    assert report.unexpected == ["mystery_head_w"]


def test_checkpoint_of_another_depth_or_kind_is_refused() -> None:
    with pytest.raises(DetectronWeightsError):
        convert_blobs(checkpoint("rpn_R-101-FPN_1x"), _arch("rpn_R-50-FPN_1x"))
    with pytest.raises(DetectronWeightsError):
        convert_blobs(checkpoint("e2e_faster_rcnn_R-50-FPN_1x"), _arch("e2e_mask_rcnn_R-50-FPN_1x"))
    with pytest.raises(DetectronWeightsError):  # the same backbone with an extra head is not silently accepted
        convert_blobs(checkpoint("e2e_mask_rcnn_R-50-FPN_1x"), _arch("e2e_faster_rcnn_R-50-FPN_1x"))


def test_unused_res5_of_a_c4_rpn_is_explained() -> None:
    _, report = convert_blobs(checkpoint(SMALL), _arch(SMALL))
    assert len(report.ignored["ImageNet blobs of an unused ResNet stage"]) == 30


def test_bbox_regression_weights_follow_the_saved_config(tmp_path: Path) -> None:
    arch = _arch(SMALL)
    blobs = checkpoint(SMALL, with_leftovers=False)
    old = convert_module.convert_pickle(write_pickle(tmp_path / "old.pkl", blobs, "MODEL:\n  TYPE: rpn\n"), arch)
    new = convert_module.convert_pickle(write_pickle(tmp_path / "new.pkl", blobs), arch)
    assert old.bbox_reg_weights == UNIT_BBOX_REG_WEIGHTS and new.bbox_reg_weights == (10.0, 10.0, 5.0, 5.0)


def test_converted_weights_are_cached_and_refreshed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arch = _arch(SMALL)
    pkl = write_pickle(tmp_path / "model_final.pkl", checkpoint(SMALL, with_leftovers=False))
    first = load_weights(pkl, arch)
    cached = cache_path(pkl)
    assert cached.is_file() and str(cached).startswith(os.environ["EXPLORER_CACHE"])
    assert torch.load(cached, weights_only=True)["format"] == convert_module.FORMAT

    def no_conversion(*_: object, **__: object) -> None:
        raise AssertionError("converted again although the cache is fresh")

    with monkeypatch.context() as patch:
        patch.setattr(convert_module, "convert_pickle", no_conversion)
        again = load_weights(pkl, arch)
    assert all(torch.equal(first.state_dict[k], again.state_dict[k]) for k in first.state_dict)
    stat = pkl.stat()
    os.utime(pkl, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    calls = []
    real = convert_module.convert_pickle
    monkeypatch.setattr(convert_module, "convert_pickle", lambda *a, **k: calls.append(1) or real(*a, **k))
    load_weights(pkl, arch)
    assert calls == [1]


def test_concurrent_loads_of_one_pkl_convert_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweep actors on one machine load the same checkpoint together: one converts, the others read its cache."""
    arch = _arch(SMALL)
    pkl = write_pickle(tmp_path / "model_final.pkl", checkpoint(SMALL, with_leftovers=False))
    calls = []
    real = convert_module.convert_pickle

    def slow_conversion(*args: object, **kwargs: object) -> object:
        calls.append(1)
        time.sleep(0.3)  # long enough for the other threads to arrive while it runs
        return real(*args, **kwargs)

    monkeypatch.setattr(convert_module, "convert_pickle", slow_conversion)
    with ThreadPoolExecutor(max_workers=3) as pool:
        loaded = list(pool.map(lambda _: load_weights(pkl, arch), range(3)))
    assert calls == [1]
    assert all(torch.equal(loaded[0].state_dict[k], other.state_dict[k]) for other in loaded for k in other.state_dict)


def test_published_pkl_is_cached_beside_itself() -> None:
    pkl = Path(os.environ["EXPLORER_CACHE"]) / "detectron" / "35998355" / "model_final.pkl"
    assert cache_path(pkl) == pkl.resolve().with_name("model_final.converted.pt")


def _convert_cli(argv: list[str]) -> str:
    parser = argparse.ArgumentParser()
    convert.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


def test_convert_command_writes_a_checkpoint_predict_can_load(tmp_path: Path) -> None:
    pkl = write_pickle(tmp_path / "model_final.pkl", checkpoint(SMALL))
    out = tmp_path / "converted.pt"
    message = _convert_cli(["convert", "--pkl", str(pkl), "--model-id", "35998355", "--out", str(out)])
    assert "135 tensors filled" in message and "momentum" in message and out.is_file()
    loaded = load_weights(out, _arch(SMALL))
    assert len(loaded.state_dict) == 135
    with pytest.raises(CheckpointFormatError, match="not rpn_R-50-FPN_1x"):
        load_weights(out, _arch("rpn_R-50-FPN_1x"))
    with pytest.raises(UnknownModelError, match="123"):
        _convert_cli(["convert", "--pkl", str(pkl), "--model-id", "123", "--out", str(out)])
    with pytest.raises(MissingBlobError):
        _convert_cli(["convert", "--pkl", str(pkl), "--model-id", "35998814", "--out", str(out)])


def test_folding_affines_into_convs_keeps_the_function() -> None:
    arch = _arch(SMALL)
    state, _ = convert_blobs(checkpoint(SMALL, with_leftovers=False), arch)
    weights = convert_module.ConvertedWeights(SMALL, state, arch.bbox_reg_weights)
    plain, folded = build_model(arch, weights, "cpu", fold=False), build_model(arch, weights, "cpu")
    assert not any(key.endswith(".scale") for key in folded.state_dict())
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 50
    with torch.inference_mode():
        expected, got = plain.features(x)[4], folded.features(x)[4]
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))
    assert torch.equal(weights.state_dict["body.stem.conv1.weight"], state["body.stem.conv1.weight"])  # untouched


def test_keypoint_bilinear_upsampling_is_detectrons_constant_when_absent() -> None:
    config = "e2e_keypoint_rcnn_R-50-FPN_1x"
    blobs = checkpoint(config, with_leftovers=False)
    stored = convert_module.bilinear_upsampling_kernel(17, 2)
    # a 4x4 tent with centre 1.5: rows (0.25, 0.75, 0.75, 0.25), on the diagonal only
    assert stored[3, 3].tolist() == pytest.approx(np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))
    assert stored[3, 4].max() == 0
    del blobs["kps_score_w"], blobs["kps_score_b"]
    state, report = convert_blobs(blobs, _arch(config))
    assert report.constant == ["kps_score_b", "kps_score_w"]
    assert np.array_equal(state["keypoint_head.upsample.weight"].numpy(), stored)
    del blobs["conv_fcn3_w"]
    with pytest.raises(MissingBlobError, match="conv_fcn3_w"):  # learnt blobs are never made up
        convert_blobs(blobs, _arch(config))

"""Conformance with the official COCO API: its published summaries for its own fake results reproduce exactly.

cocodataset/cocoapi ships fake bbox and segm results on 100 val2014 images and the summaries its evaluator
printed for them (results/val2014_fake_eval_res.txt); ../shared/reference/cocoapi holds them with the ground
truth of those images (see its README). Every one of the 12 numbers per iou type must come out identical to
the printed precision (three decimals), with the same IoU / area / maxDets labels, on every installed backend.

The text's keypoint block needs person_keypoints_val2014.json, which the reference folder does not include,
so only bbox and segm are checked.
"""

from __future__ import annotations

import re

import pytest

from explorer.evaluation.coco.backends import available_backends
from explorer.evaluation.coco.pipeline import evaluate
from tests.test_evaluation_exactness import COCOAPI  # beside the checkout (CI) or beside a worktree's folder

GROUND_TRUTH = COCOAPI / "instances_val2014_100.json"
PUBLISHED = COCOAPI / "val2014_fake_eval_res.txt"
RESULTS = {"bbox": COCOAPI / "instances_val2014_fakebbox100_results.json",
           "segm": COCOAPI / "instances_val2014_fakesegm100_results.json"}

needs_cocoapi_data = pytest.mark.skipif(
    not all(path.exists() for path in (GROUND_TRUTH, PUBLISHED, *RESULTS.values())),
    reason=f"COCO API conformance data not found at {COCOAPI} (it sits beside the checkout in CI)")

# One summary line, whatever the spacing between "Precision" and "(AP)" (pycocotools versions differ).
_LINE = re.compile(r"Average (Precision|Recall)\s+\((AP|AR)\)\s+@\[\s*IoU=(\S+)\s*\|\s*area=\s*(\w+)\s*\|"
                   r"\s*maxDets=\s*(\d+)\s*\]\s*=\s*(-?\d+\.\d+)")


def parse_summary(text: str) -> list[tuple[str, str, str, int, str]]:
    """(AP/AR, IoU, area, maxDets, value as printed) for each summary line of `text`."""
    return [(m[2], m[3], m[4], int(m[5]), m[6]) for m in _LINE.finditer(text)]


def published_blocks() -> dict[str, list[tuple[str, str, str, int, str]]]:
    """iou type -> the summary the COCO API printed for it."""
    blocks = {}
    for block in PUBLISHED.read_text().split("type=")[1:]:
        kind, _, body = block.partition("\n")
        blocks[kind.strip()] = parse_summary(body)
    return blocks


def test_summary_parser_reads_both_spacings() -> None:
    old = " Average Precision (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505"
    new = " Average Recall     (AR) @[ IoU=0.50      | area= small | maxDets=  1 ] = 0.040"
    assert parse_summary(old + "\n" + new) == [("AP", "0.50:0.95", "all", 100, "0.505"),
                                               ("AR", "0.50", "small", 1, "0.040")]


@needs_cocoapi_data
def test_published_text_has_twelve_numbers_per_detection_type() -> None:
    blocks = published_blocks()
    assert len(blocks["bbox"]) == len(blocks["segm"]) == 12
    assert blocks["bbox"][0] == ("AP", "0.50:0.95", "all", 100, "0.505")


@needs_cocoapi_data
@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_api_fake_results_reproduce_exactly(backend: str, iou_type: str) -> None:
    expected = published_blocks()[iou_type]
    evaluation = evaluate(GROUND_TRUTH, RESULTS[iou_type], iou_type, backend=backend)
    assert evaluation.backend == backend
    got = parse_summary(evaluation.summary_text())
    assert len(got) == 12
    assert got == expected
    # The printed text comes from the stats: the same numbers to three decimals.
    assert [f"{v:0.3f}" for v in evaluation.stats] == [row[-1] for row in expected]

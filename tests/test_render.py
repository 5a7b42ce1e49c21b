"""Drawing detections, checked pixel by pixel on a flat gray image."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from explorer.detections import COCO_SKELETON, Detections, empty_detections
from explorer.drawing.detections import (
    RenderOptions,
    auto_line_width,
    draw_detections,
    encode_png,
    instance_color,
    visible_indices,
)

GRAY = 128
W, H = 200, 160


def gray_image(width: int = W, height: int = H) -> np.ndarray:
    return np.full((height, width, 3), GRAY, dtype=np.uint8)


def make(boxes: list[tuple[float, float, float, float]], scores: list[float] | None = None,
         names: list[str] | None = None, masks: np.ndarray | None = None, keypoints: np.ndarray | None = None,
         keypoint_scores: np.ndarray | None = None, kind: str = "detections") -> Detections:
    n = len(boxes)
    return Detections(
        width=W, height=H, boxes=np.array(boxes, np.float32).reshape(n, 4),
        scores=np.array(scores if scores is not None else [0.9] * n, np.float32),
        labels=np.arange(1, n + 1, dtype=np.int64), names=names or ["person"] * n, masks=masks,
        keypoints=keypoints, keypoint_scores=keypoint_scores, kind=kind,
    )


def only(**overrides: object) -> RenderOptions:
    """Options that draw nothing but what the test turns on (and keep every score)."""
    settings: dict[str, object] = {"show_boxes": False, "show_masks": False, "show_keypoints": False,
                                   "show_labels": False, "score_thresh": 0.0, "line_width": 1}
    settings.update(overrides)
    return RenderOptions(**settings)  # type: ignore[arg-type]


def rect_mask(x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=2)


# --- boxes ---------------------------------------------------------------------------------------------------


def test_box_edges_take_the_instance_colour_and_the_inside_is_untouched() -> None:
    image = gray_image()
    out = draw_detections(image, make([(20, 30, 120, 100)]), only(show_boxes=True, line_width=2))
    color = instance_color(0)
    for x, y in [(20, 60), (21, 60), (120, 60), (119, 60), (70, 30), (70, 31), (70, 100), (70, 99)]:
        assert tuple(out[y, x]) == color, (x, y)
    assert (out[32:99, 22:119] == GRAY).all(), "inside of the box (no mask) unchanged"
    assert (out[:29] == GRAY).all() and (out[102:] == GRAY).all(), "nothing outside the box"


def test_two_instances_get_distinct_colours() -> None:
    out = draw_detections(gray_image(), make([(10, 10, 60, 60), (100, 10, 150, 60)]), only(show_boxes=True))
    first, second = tuple(out[30, 10]), tuple(out[30, 100])
    assert first == instance_color(0) and second == instance_color(1) and first != second


def test_palette_is_deterministic_and_distinct() -> None:
    colors = [instance_color(i) for i in range(100)]
    assert colors == [instance_color(i) for i in range(100)]
    assert len(set(colors)) == 100
    for a, b in itertools.pairwise(colors):  # neighbours clearly apart
        assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) > 60


def test_colours_stay_with_their_instance_when_others_are_filtered_out() -> None:
    detections = make([(10, 10, 60, 60), (100, 10, 150, 60)], scores=[0.3, 0.9])
    out = draw_detections(gray_image(), detections, only(show_boxes=True, score_thresh=0.5))
    assert tuple(out[30, 100]) == instance_color(1)
    assert (out[30, 10] == GRAY).all()


def test_auto_line_width_grows_with_the_image() -> None:
    assert auto_line_width(200, 160) == 1
    assert auto_line_width(1333, 800) == 2
    assert auto_line_width(4000, 3000) > auto_line_width(1333, 800)


# --- masks ---------------------------------------------------------------------------------------------------


def test_mask_blends_inside_only_with_outline_on_its_boundary() -> None:
    image = gray_image()
    mask = rect_mask(40, 50, 100, 110)
    out = draw_detections(image, make([(40, 50, 99, 109)], masks=mask[None]), only(show_masks=True, mask_alpha=0.5))
    color = np.array(instance_color(0))
    assert (out[~mask] == GRAY).all(), "pixels outside the mask untouched"
    interior = out[52:108, 42:98].reshape(-1, 3).astype(int)
    expected = np.rint(GRAY * 0.5 + color * 0.5)
    assert (np.abs(interior - expected) <= 1).all(), "inside moved half-way towards the colour"
    boundary = mask & ~rect_mask(41, 51, 99, 109)
    assert (out[boundary] == color).all(), "outline pixels in the solid instance colour"


def test_mask_alpha_scales_the_tint() -> None:
    mask = rect_mask(40, 50, 100, 110)[None]
    light = draw_detections(gray_image(), make([(40, 50, 99, 109)], masks=mask), only(show_masks=True,
                                                                                    mask_alpha=0.2))
    strong = draw_detections(gray_image(), make([(40, 50, 99, 109)], masks=mask), only(show_masks=True,
                                                                                     mask_alpha=0.8))
    color = np.array(instance_color(0))
    assert np.abs(light[80, 70].astype(int) - color).sum() > np.abs(strong[80, 70].astype(int) - color).sum()


def test_mask_spilling_a_little_past_its_box_is_still_drawn() -> None:
    mask = rect_mask(38, 48, 103, 113)  # up to 3 px outside the box, as interpolated masks do
    out = draw_detections(gray_image(), make([(40, 50, 100, 110)], masks=mask[None]), only(show_masks=True))
    assert changed(gray_image(), out)[mask].all()


def test_overlapping_masks_the_more_confident_is_on_top() -> None:
    masks = np.stack([rect_mask(20, 20, 120, 120), rect_mask(60, 60, 160, 150)])
    detections = make([(20, 20, 119, 119), (60, 60, 159, 149)], scores=[0.6, 0.95], masks=masks)
    out = draw_detections(gray_image(), detections, only(show_masks=True, mask_alpha=0.5))
    on_top = np.rint(GRAY * 0.5 + np.array(instance_color(1)) * 0.5)
    assert (np.abs(out[90, 90].astype(int) - on_top) <= 1).all()
    assert tuple(out[60, 100]) == instance_color(1), "the top mask is outlined across the lower one"


# --- keypoints -----------------------------------------------------------------------------------------------


def person_keypoints() -> tuple[np.ndarray, np.ndarray]:
    """17 COCO keypoints spread over the image; shoulders (5, 6) confident, left elbow (7) not."""
    keypoints = np.zeros((1, 17, 2), np.float32)
    for k in range(17):
        keypoints[0, k] = (20 + 9 * k, 20 + 7 * k)
    keypoints[0, 5] = (60, 80)
    keypoints[0, 6] = (140, 80)
    keypoints[0, 7] = (60, 140)
    scores = np.full((1, 17), -1.0, np.float32)
    scores[0, 5] = scores[0, 6] = 3.0
    scores[0, 7] = 0.01
    return keypoints, scores


def test_keypoints_above_the_threshold_get_a_dot_and_limbs_need_both_ends() -> None:
    assert (5, 6) in COCO_SKELETON and (5, 7) in COCO_SKELETON
    keypoints, scores = person_keypoints()
    detections = make([(10, 10, 190, 150)], keypoints=keypoints, keypoint_scores=scores)
    image = gray_image()
    out = draw_detections(image, detections, only(show_keypoints=True, keypoint_thresh=0.05))
    assert changed(image, out)[80, 60] and changed(image, out)[80, 140], "dots on confident keypoints"
    assert not changed(image, out)[140, 60], "no dot below the threshold"
    assert tuple(out[80, 100]) == instance_color(0), "limb between two visible keypoints"
    assert not changed(image, out)[110, 60], "no limb to a hidden keypoint"
    hidden = [k for k in range(17) if scores[0, k] < 0.05]
    for k in hidden:
        x, y = (int(v) for v in keypoints[0, k])
        assert not changed(image, out)[y, x], k


def test_keypoint_threshold_is_an_option() -> None:
    keypoints, scores = person_keypoints()
    detections = make([(10, 10, 190, 150)], keypoints=keypoints, keypoint_scores=scores)
    out = draw_detections(gray_image(), detections, only(show_keypoints=True, keypoint_thresh=0.0))
    assert changed(gray_image(), out)[140, 60]
    assert changed(gray_image(), out)[110, 60], "the limb to the elbow now shows"


# --- labels, toggles, filters --------------------------------------------------------------------------------


def label_area(out: np.ndarray) -> np.ndarray:
    """Where the label of a box with top-left (40, 60) sits: the rows just above the box."""
    return out[44:59, 40:70]


def test_label_is_drawn_above_the_box_in_the_instance_colour() -> None:
    out = draw_detections(gray_image(), make([(40, 60, 160, 140)], names=["dog"]), only(show_labels=True))
    area = label_area(out).reshape(-1, 3)
    assert (area == instance_color(0)).all(axis=1).mean() > 0.4, "label background in the instance colour"
    assert not (area == instance_color(0)).all(axis=1).all(), "with text on it"


def test_label_at_the_top_edge_goes_inside_the_box() -> None:
    out = draw_detections(gray_image(), make([(40, 0, 160, 140)]), only(show_labels=True))
    assert (out[2:10, 42:60] == instance_color(0)).all(axis=2).any()


@pytest.mark.parametrize("toggle", ["show_boxes", "show_masks", "show_keypoints", "show_labels"])
def test_each_toggle_removes_its_element(toggle: str) -> None:
    keypoints, scores = person_keypoints()
    detections = make([(40, 60, 160, 140)], masks=rect_mask(40, 60, 160, 140)[None], keypoints=keypoints,
                      keypoint_scores=scores)
    everything = {"show_boxes": True, "show_masks": True, "show_keypoints": True, "show_labels": True}
    # (y, x) of a pixel the element paints: box bottom edge (below the mask), mask interior, a shoulder dot,
    # the label above the box.
    probe = {"show_boxes": (140, 100), "show_masks": (120, 100), "show_keypoints": (80, 140),
             "show_labels": (50, 50)}[toggle]
    image = gray_image()
    with_it = draw_detections(image, detections, only(**everything, line_width=1))
    without = draw_detections(image, detections, only(**{**everything, toggle: False}, line_width=1))
    assert changed(with_it, without)[probe]
    if toggle in ("show_boxes", "show_labels"):  # outside every other element: back to the plain image
        assert not changed(image, without)[probe]


def test_nothing_shown_returns_an_equal_copy() -> None:
    image = gray_image()
    out = draw_detections(image, make([(40, 60, 160, 140)]), only())
    assert out is not image and (out == image).all()


def test_score_threshold_and_class_filter_remove_detections() -> None:
    detections = make([(10, 10, 60, 60), (100, 10, 150, 60), (10, 90, 60, 140)], scores=[0.9, 0.4, 0.8],
                      names=["person", "person", "dog"])
    out = draw_detections(gray_image(), detections, only(show_boxes=True, score_thresh=0.5, classes={"person"}))
    assert tuple(out[30, 10]) == instance_color(0)
    assert (out[30, 100] == GRAY).all(), "below the score threshold"
    assert (out[110, 10] == GRAY).all(), "class not selected"


@pytest.mark.parametrize(("thresh", "classes"), [(0.0, None), (0.5, None), (0.5, {"dog"}), (0.85, {"dog", "cat"})])
def test_visible_indices_match_detections_filter(thresh: float, classes: set[str] | None) -> None:
    detections = make([(i, i, i + 10, i + 10) for i in range(6)], scores=[0.9, 0.4, 0.8, 0.5, 0.95, 0.1],
                      names=["person", "dog", "dog", "cat", "dog", "person"])
    index = visible_indices(detections, RenderOptions(score_thresh=thresh, classes=classes))
    assert (detections.boxes[index] == detections.filter(thresh, classes).boxes).all()


def test_proposals_are_thin_boxes_without_labels_top_n_by_objectness() -> None:
    detections = make([(10, 40, 60, 90), (100, 40, 150, 90), (10, 110, 60, 150)], scores=[0.2, 0.9, 0.7],
                      kind="proposals")
    options = RenderOptions(score_thresh=0.0, max_proposals=2)
    out = draw_detections(gray_image(), detections, options)
    assert tuple(out[60, 100]) == instance_color(1) and tuple(out[130, 10]) == instance_color(2)
    assert (out[60, 10] == GRAY).all(), "the lowest-objectness proposal is past max_proposals"
    assert (out[60, 101] == GRAY).all(), "1 px lines"
    assert (out[20:39] == GRAY).all(), "no labels above the boxes"


def test_input_image_is_not_mutated() -> None:
    image = gray_image()
    keypoints, scores = person_keypoints()
    detections = make([(40, 60, 160, 140)], masks=rect_mask(40, 60, 160, 140)[None], keypoints=keypoints,
                      keypoint_scores=scores)
    out = draw_detections(image, detections, RenderOptions(score_thresh=0.0))
    assert (image == GRAY).all()
    assert changed(image, out).any()


def test_empty_detections_and_bad_image() -> None:
    image = gray_image()
    assert (draw_detections(image, empty_detections(W, H)) == image).all()
    with pytest.raises(ValueError, match="200x160"):
        draw_detections(gray_image(100, 100), empty_detections(W, H))
    with pytest.raises(ValueError, match="uint8"):
        draw_detections(image.astype(np.float32), empty_detections(W, H))


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="mask_alpha"):
        RenderOptions(mask_alpha=1.5)
    with pytest.raises(ValueError, match="line_width"):
        RenderOptions(line_width=0)


def test_encode_png_round_trips() -> None:
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    data = encode_png(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert (decoded == image).all()


def test_non_finite_boxes_are_skipped_not_fatal() -> None:
    mask = rect_mask(40, 50, 100, 110)[None]
    detections = make([(float("nan"), 50, 100, 110)], masks=mask)
    out = draw_detections(gray_image(), detections, RenderOptions(score_thresh=0.0))
    assert changed(gray_image(), out)[80, 70], "the mask is still drawn (searched over the whole image)"

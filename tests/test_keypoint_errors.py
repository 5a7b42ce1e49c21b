"""Keypoint error types (Ronchi & Perona): hand-made people where each error's answer is known by construction.

Two people stand 400 px apart in one image; each person's 17 keypoints sit on a 50 px grid. With the person's
area 10,000 px², a keypoint's similarity drops below .5 within 9-25 px (sigma .025-.107), so a keypoint placed
on another grid point, or on the other person, is similar to that one only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from explorer.evaluation.analyses.keypoint_errors import (
    CORRECTED_TYPES,
    ERROR_TYPES,
    analyse_keypoint_errors,
    correct,
    flip_partners,
    parse_flip_pairs,
    parse_sigmas,
)
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import COCO_KEYPOINT_SIGMAS
from tests.coco_factory import KEYPOINT_NAMES, PERSON, make_ground_truth, perfect_results

AREA = 10_000.0
NAMES = list(KEYPOINT_NAMES)


def person_points(x0: float, y0: float = 50.0, n: int = 17) -> list[tuple[float, float]]:
    return [(x0 + 50.0 * (j % 4), y0 + 50.0 * (j // 4)) for j in range(n)]


def annotation(ann_id: int, points: list[tuple[float, float]], image_id: int = 1, category_id: int = 1,
               area: float = AREA) -> dict[str, Any]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 0, "area": area,
            "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], "num_keypoints": len(points),
            "keypoints": [v for x, y in points for v in (x, y, 2)]}


def people_gt(category: dict[str, Any] | None = None, n: int = 17) -> dict[str, Any]:
    category = category or PERSON
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 1000, "height": 400}],
            "categories": [category],
            "annotations": [annotation(101, person_points(50, n=n), category_id=category["id"]),
                            annotation(202, person_points(450, n=n), category_id=category["id"])]}


def detection(points: list[tuple[float, float]], score: float = 0.9, category_id: int = 1) -> dict[str, Any]:
    return {"image_id": 1, "category_id": category_id, "score": score,
            "keypoints": [v for x, y in points for v in (x, y, 1)]}


def offset_for(ks: float, sigma: float, area: float = AREA) -> float:
    """The distance at which a keypoint's similarity is `ks`."""
    return math.sqrt(-math.log(ks) * 2 * area * (2 * sigma) ** 2)


def errors_of(result: Any, dt_id: int) -> dict[str, str]:
    frame = result.to_frame()
    rows = frame[frame["dt_id"] == dt_id]
    return dict(zip(rows["keypoint"], rows["error"], strict=True))


@pytest.fixture
def gt() -> dict[str, Any]:
    return people_gt()


def first_person_with(changes: dict[str, tuple[float, float]]) -> list[tuple[float, float]]:
    points = person_points(50)
    for name, point in changes.items():
        points[NAMES.index(name)] = point
    return points


def test_exact_keypoints_are_good_and_cost_nothing(gt) -> None:
    result = analyse_keypoint_errors(gt, [detection(person_points(50)), detection(person_points(450), 0.8)],
                                     backend="pycocotools")
    assert result.n_matched == 2
    assert set(result.to_frame()["error"]) == {"good"}
    assert result.counts_frame().set_index("error").loc["good", "percent"] == 100.0
    assert result.ap["original"] == 1.0
    assert all(gain == 0.0 for gain in result.gains().values())


def test_left_right_swap_within_the_person_is_an_inversion(gt) -> None:
    own = person_points(50)
    ls, rs = NAMES.index("left_shoulder"), NAMES.index("right_shoulder")
    points = first_person_with({"left_shoulder": own[rs], "right_shoulder": own[ls]})
    errors = errors_of(analyse_keypoint_errors(gt, [detection(points)]), dt_id=1)
    assert errors["left_shoulder"] == errors["right_shoulder"] == "inversion"
    assert {e for name, e in errors.items() if "shoulder" not in name} == {"good"}


def test_keypoint_taken_from_the_neighbour_is_a_swap(gt) -> None:
    neighbour = person_points(450)
    points = first_person_with({"left_wrist": neighbour[NAMES.index("left_wrist")]})
    errors = errors_of(analyse_keypoint_errors(gt, [detection(points)]), dt_id=1)
    assert errors["left_wrist"] == "swap"
    assert sum(e != "good" for e in errors.values()) == 1


def test_neighbours_mirrored_keypoint_is_also_a_swap(gt) -> None:
    neighbour = person_points(450)
    points = first_person_with({"left_wrist": neighbour[NAMES.index("right_wrist")]})
    assert errors_of(analyse_keypoint_errors(gt, [detection(points)]), dt_id=1)["left_wrist"] == "swap"


def test_small_offset_is_jitter_and_tiny_one_is_good(gt) -> None:
    own = person_points(50)
    nose, eye = own[NAMES.index("nose")], own[NAMES.index("left_eye")]
    jitter = offset_for(0.7, COCO_KEYPOINT_SIGMAS[0])
    good = offset_for(0.9, COCO_KEYPOINT_SIGMAS[1])
    points = first_person_with({"nose": (nose[0] + jitter, nose[1]), "left_eye": (eye[0], eye[1] + good)})
    errors = errors_of(analyse_keypoint_errors(gt, [detection(points)]), dt_id=1)
    assert errors["nose"] == "jitter"
    assert errors["left_eye"] == "good"


def test_far_off_keypoint_is_a_miss(gt) -> None:
    points = first_person_with({"left_ankle": (300.0, 390.0)})
    errors = errors_of(analyse_keypoint_errors(gt, [detection(points)]), dt_id=1)
    assert errors["left_ankle"] == "miss"
    assert sum(e != "good" for e in errors.values()) == 1


def test_correcting_a_miss_gains_ap_and_nothing_else_does(gt) -> None:
    # One miss: the first person's OKS 16/17 = .94 fails only the .95 threshold, where that detection (scored
    # first) is a false positive and the second person's a true one: precision .5 up to recall .5, AP .95 =
    # .5 * 51/101. Moving the ankle to ks .5 gives OKS .97 and AP 1. No other error exists, so the other
    # localisation corrections change nothing. Oracle scores help too: the exact second detection goes first.
    points = first_person_with({"left_ankle": (300.0, 390.0)})
    result = analyse_keypoint_errors(gt, [detection(points), detection(person_points(450), 0.8)])
    gains = result.gains()
    assert result.ap["original"] == pytest.approx((9 + 0.5 * 51 / 101) / 10)
    assert result.ap["miss"] == pytest.approx(1.0)
    assert gains["localisation"] == pytest.approx(gains["miss"])
    assert gains["swap"] == gains["inversion"] == gains["jitter"] == 0.0
    assert result.ap["score"] == pytest.approx((9 + 51 / 101) / 10)


def test_correcting_jitter_gains_ap(gt) -> None:
    # Three keypoints at ks .5: OKS (14 + 1.5) / 17 = .91 fails .95; corrected to .85 each: .97 passes.
    own = person_points(50)
    points = [(x + offset_for(0.5 + 1e-9, s), y) if j in (5, 9, 13) else (x, y)
              for j, ((x, y), s) in enumerate(zip(own, COCO_KEYPOINT_SIGMAS, strict=True))]
    result = analyse_keypoint_errors(gt, [detection(points), detection(person_points(450), 0.8)])
    assert result.counts_frame().set_index("error").loc["jitter", "count"] == 3
    assert result.gains()["jitter"] > 0
    assert result.ap["jitter"] == pytest.approx(1.0)
    assert result.gains()["miss"] == result.gains()["swap"] == result.gains()["inversion"] == 0.0


def test_each_correction_gains_only_for_its_own_error(gt) -> None:
    own, neighbour = person_points(50), person_points(450)
    ls, rs = NAMES.index("left_shoulder"), NAMES.index("right_shoulder")
    hip = own[NAMES.index("left_hip")]
    first = first_person_with({"left_shoulder": own[rs], "right_shoulder": own[ls],
                               "left_hip": (hip[0] + offset_for(0.6, COCO_KEYPOINT_SIGMAS[11]), hip[1])})
    second = list(neighbour)
    second[NAMES.index("right_knee")] = own[NAMES.index("right_knee")]  # taken from the first person
    result = analyse_keypoint_errors(gt, [detection(first), detection(second, 0.8)])
    counts = result.counts_frame().set_index("error")["count"]
    assert (counts["inversion"], counts["jitter"], counts["swap"], counts["miss"]) == (2, 1, 1, 0)
    gains = result.gains()
    assert gains["inversion"] > 0 and gains["swap"] > 0
    assert gains["jitter"] == 0.0  # .6 -> .85 moves the first person's OKS from .86 to .87: no threshold crossed
    assert gains["miss"] == 0.0
    assert gains["localisation"] >= max(gains[t] for t in CORRECTED_TYPES)
    assert result.ap["localisation"] == pytest.approx(1.0)


def test_oracle_scores_fix_a_better_detection_scored_lower(gt) -> None:
    # Two detections of the first person: the higher-scored one is poorer (4 jittered keypoints) and takes the
    # match at strict thresholds from the exact one. Oracle scores put the exact one first: AP rises.
    own = person_points(50)
    poor = [(x + offset_for(0.3, s), y) if j < 4 else (x, y)
            for j, ((x, y), s) in enumerate(zip(own, COCO_KEYPOINT_SIGMAS, strict=True))]
    result = analyse_keypoint_errors(gt, [detection(poor, 0.9), detection(own, 0.5),
                                          detection(person_points(450), 0.7)])
    assert result.gains()["score"] > 0
    assert result.ap["score"] == pytest.approx(1.0)


def test_unlabelled_keypoints_get_no_row(gt) -> None:
    gt["annotations"][0]["keypoints"][2] = 0  # the nose of the first person is not labelled
    gt["annotations"][0]["num_keypoints"] = 16
    result = analyse_keypoint_errors(gt, [detection(person_points(50))])
    errors = errors_of(result, dt_id=1)
    assert "nose" not in errors and len(errors) == 16
    assert result.per_keypoint_frame().set_index("keypoint").loc["nose", "labelled"] == 0


def test_rows_name_the_files_own_ids_and_every_detection_id(gt) -> None:
    result = analyse_keypoint_errors(gt, [detection(person_points(450), 0.3), detection(person_points(50))])
    frame = result.to_frame()
    assert list(frame.columns) == ["image_id", "gt_id", "dt_id", "keypoint", "error"]
    assert dict(zip(frame["dt_id"], frame["gt_id"], strict=False)) == {1: 202, 2: 101}
    assert len(frame) == 34 and set(frame["error"]) <= set(ERROR_TYPES)


def test_per_keypoint_table_shows_which_joint_fails(gt) -> None:
    points = first_person_with({"left_ankle": (300.0, 390.0)})
    table = analyse_keypoint_errors(gt, [detection(points), detection(person_points(450), 0.8)]
                                    ).per_keypoint_frame().set_index("keypoint")
    assert list(table.index) == NAMES
    assert table.loc["left_ankle", "miss"] == 50.0 and table.loc["left_ankle", "good"] == 50.0
    assert table.loc["nose", "good"] == 100.0
    counts = analyse_keypoint_errors(gt, [detection(points)]).per_keypoint_frame(percent=False)
    assert counts.set_index("keypoint").loc["left_ankle", "miss"] == 1


def test_generated_people_with_noise_have_every_count_add_up() -> None:
    gt = make_ground_truth(15, seed=7, keypoints=True)
    rng = np.random.default_rng(3)
    results = perfect_results(gt, "keypoints")
    for det in results:
        det["keypoints"] = [v + float(rng.normal(0, 3)) if i % 3 != 2 else v for i, v in enumerate(det["keypoints"])]
    result = analyse_keypoint_errors(gt, results)
    counts = result.counts_frame()
    assert counts["count"].sum() == len(result.to_frame())
    assert counts["percent"].sum() == pytest.approx(100.0)
    assert result.ap["localisation"] >= result.ap["original"]


# ---- other categories, sigmas and flip pairs -----------------------------------------------------------------

ANIMAL = {"id": 7, "name": "quadruped", "supercategory": "animal",
          "keypoints": ["nose", "l_ear", "r_ear", "tail_base", "front_left_paw", "front_right_paw"]}
ANIMAL_SIGMAS = [0.03, 0.04, 0.04, 0.09, 0.08, 0.08]


def test_non_person_category_with_custom_sigmas_and_names() -> None:
    gt = people_gt(ANIMAL, n=6)
    own = person_points(50, n=6)
    points = list(own)
    points[1], points[2] = own[2], own[1]  # ears confused
    points[4] = person_points(450, n=6)[4]  # a paw from the other animal
    result = analyse_keypoint_errors(gt, [detection(points, category_id=7)], kpt_sigmas=ANIMAL_SIGMAS)
    errors = errors_of(result, dt_id=1)
    assert errors == {"nose": "good", "l_ear": "inversion", "r_ear": "inversion", "tail_base": "good",
                      "front_left_paw": "swap", "front_right_paw": "good"}
    assert result.flip_pairs[7] == (("l_ear", "r_ear"), ("front_left_paw", "front_right_paw"))
    assert result.sigmas == tuple(ANIMAL_SIGMAS)


def test_flip_pairs_given_by_name_or_index_override_the_names() -> None:
    names = ["head", "wing_a", "wing_b"]
    assert flip_partners(names) == (0, 1, 2)
    assert flip_partners(names, [("wing_a", "wing_b")]) == (0, 2, 1)
    assert flip_partners(names, parse_flip_pairs("1:2")) == (0, 2, 1)


def test_flip_pairs_from_names() -> None:
    assert flip_partners(NAMES)[NAMES.index("left_knee")] == NAMES.index("right_knee")
    assert flip_partners(NAMES)[0] == 0
    assert flip_partners(["Left Hand", "Right Hand", "torso"]) == (1, 0, 2)
    assert flip_partners(["hand_L", "hand_R"]) == (1, 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kpt_sigmas": [0.05] * 3}, "kpt_sigmas: 3 value(s) given, but category 'person' has 17 keypoints"),
    ({"kpt_sigmas": [0.05, 0.05, -1] + [0.05] * 14}, "kpt_sigmas[2] must be a positive number, got -1"),
    ({"flip_pairs": [("left_eye", "left_elbow"), ("left_eye", "right_eye")]}, "flip pair left_eye:right_eye"),
    ({"flip_pairs": [("left_eye", "tail")]}, "flip pair keypoint 'tail' is not a keypoint of category 'person'"),
    ({"flip_pairs": [("0", "17")]}, "flip pair index 17 is out of range: category 'person' has 17 keypoints"),
])
def test_bad_sigmas_and_flip_pairs_name_the_first_offending_entry(gt, kwargs, message) -> None:
    with pytest.raises(EvaluationInputError) as raised:
        analyse_keypoint_errors(gt, [detection(person_points(50))], **kwargs)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_side_name_without_partner_asks_for_flip_pairs() -> None:
    category = dict(ANIMAL, keypoints=["nose", "l_ear", "r_ear", "tail_base", "front_left_paw", "hind_paw"])
    with pytest.raises(EvaluationInputError, match=r"keypoint 'front_left_paw' names a side but "
                                                   r"'front_right_paw' is not among its keypoints"):
        analyse_keypoint_errors(people_gt(category, n=6), [detection(person_points(50, n=6), category_id=7)],
                                kpt_sigmas=ANIMAL_SIGMAS)


def test_custom_category_without_sigmas_says_to_pass_them() -> None:
    with pytest.raises(EvaluationInputError, match="pass kpt_sigmas"):
        analyse_keypoint_errors(people_gt(ANIMAL, n=6), [detection(person_points(50, n=6), category_id=7)])


def test_category_without_keypoints_is_refused() -> None:
    gt = make_ground_truth(3, seed=1)
    with pytest.raises(EvaluationInputError, match="no category with 'keypoints' names"):
        analyse_keypoint_errors(gt, perfect_results(gt, "bbox"))


@pytest.mark.parametrize(("text", "message"), [("0.1,x", "value 2 'x' is not a number"),
                                                ("a", "value 1 'a' is not a number")])
def test_sigma_text_names_the_bad_value(text, message) -> None:
    with pytest.raises(EvaluationInputError, match=message):
        parse_sigmas(text)


def test_flip_pair_text_must_be_pairs() -> None:
    assert parse_flip_pairs("a:b, c:d") == [("a", "b"), ("c", "d")]
    with pytest.raises(EvaluationInputError, match="entry 2 'c' is not NAME:NAME"):
        parse_flip_pairs("a:b,c")


def test_corrected_keypoints_land_at_the_intended_similarity_or_where_coco_analyze_puts_them() -> None:
    own = {"keypoints": [0.0, 0.0, 2, 100.0, 0.0, 2], "area": AREA}
    sigmas = np.array([0.05, 0.08])
    detected = [30.0, 0.0, 1, 100.0, 60.0, 1]
    wanted = np.array([True, True])
    target = np.array([0.85, 0.5])
    for mode, expected in (("exact", target), ("coco-analyze", target ** 0.25)):
        moved = np.asarray(correct(detected, own, wanted, target, sigmas, mode)).reshape(-1, 3)
        assert moved[0, 1] == 0.0 and moved[1, 0] == 100.0  # straight towards the ground truth
        distances = np.hypot(moved[:, 0] - [0.0, 100.0], moved[:, 1] - [0.0, 0.0])
        ks = np.exp(-distances ** 2 / (2 * sigmas) ** 2 / AREA / 2)
        np.testing.assert_allclose(ks, expected, rtol=1e-9)
    with pytest.raises(EvaluationInputError, match="corrections must be one of exact, coco-analyze"):
        analyse_keypoint_errors(people_gt(), [detection(person_points(50))], corrections="paper")


def test_detection_of_a_category_without_keypoints_is_named() -> None:
    gt = people_gt()
    gt["categories"].append({"id": 2, "name": "bicycle", "supercategory": "vehicle"})
    with pytest.raises(EvaluationInputError, match=r"results\[1\]: category_id 2 \(bicycle\) has no keypoints"):
        analyse_keypoint_errors(gt, [detection(person_points(50)), detection(person_points(450), category_id=2)])

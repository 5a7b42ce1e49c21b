"""Why keypoint AP is lost: each keypoint of each matched person classed as good, jitter, inversion, swap or miss,
the AP each error type costs, and what mis-scored detections cost (Ronchi & Perona, "Benchmarking and Error
Diagnosis in Multi-Instance Pose Estimation", ICCV 2017; their coco-analyze is the reference for the rules).

    from explorer.evaluation.analyses.keypoint_errors import analyse_keypoint_errors
    errors = analyse_keypoint_errors("person_keypoints_val2017.json", "keypoints.json")
    errors.counts_frame()        # share of each error type over all labelled keypoints of matched people
    errors.per_keypoint_frame()  # the same per keypoint name: which joints fail
    errors.ap_frame()            # AP with each error type corrected, and with oracle scores

Matching: detections are matched to ground truth exactly as COCOeval matches them (the evaluator's own evaluate(),
greedy by score, maxDets 20, area "all"), at OKS .1, the paper's threshold for "localised at all". A detection
matched to an ignored object (a crowd region, a person without labelled keypoints) is not analysed.

Classification of keypoint j of a detection matched to person g, by the keypoint similarity
ks = exp(-d² / (2 · area · (2σ)²)) that OKS averages (d: distance, area: the person's, σ: the keypoint's sigma),
compared with three candidates: g's own keypoint j; g's left/right partner of j (the flip pair); and keypoints
j and partner-of-j of every other person of that category in the image. The detected keypoint belongs to the
candidate it is most similar to (g's own keypoint wins ties, then g's partner):

- own keypoint nearest: good when ks >= .85, jitter when .5 <= ks < .85;
- g's partner nearest with ks >= .5: inversion (left/right confused within the person);
- another person's keypoint nearest with ks >= .5: swap (taken from another person);
- every candidate below .5: miss.

Keypoints the ground truth does not label (v = 0) take no part in OKS and get no class.

AP gain of an error type: that type's keypoints are corrected and OKS AP (COCO's, .50:.95) is evaluated again,
one type at a time, as the paper's "AP improvement" does. Correcting moves the keypoint straight towards its
own ground-truth keypoint, to the distance where its ks becomes: .85 for jitter (the edge of "good"), .5 for a
miss (the edge of "jitter"), and for an inversion or a swap the ks it had with the wrong keypoint.
coco-analyze computes those distances with σ² where ks has (2σ)², so its corrected keypoints land where ks is
the fourth root of the intended value (jitter at .96, a miss at .84) and its AP gains come out larger;
`corrections="coco-analyze"` reproduces its distances, for comparing with its published reports. "localisation"
corrects all four types together.

Checked against coco-analyze itself (its code run on 60 generated images with every error type, outside this
project): the same class for all 2,693 labelled keypoints, the same baseline and oracle-score AP, and with
corrections="coco-analyze" the same AP after each of the four corrections (to 1e-15).

Scoring: the paper's oracle scores. Each detection's score becomes its highest OKS with any (not ignored)
person of its image and category, then duplicates are suppressed with Gaussian soft-NMS (score times
exp(-OKS² / .5) for each higher-scored detection, OKS between the two detections over the mean of their
keypoint-box areas), and AP is evaluated again with the keypoints as they were.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from explorer.evaluation.coco.backends import get_backend, matches
from explorer.evaluation.coco.pipeline import evaluate
from explorer.evaluation.coco.results import Evaluation
from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.ground_truth import (
    GroundTruth,
    PreparedGroundTruth,
    load_ground_truth,
)
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource, read_json
from explorer.evaluation.inputs.result_checks import check_results

#: Error types in order of severity; codes in KeypointErrors.errors are indexes into this tuple.
ERROR_TYPES: tuple[str, ...] = ("good", "jitter", "inversion", "swap", "miss")
#: The types whose correction is measured, in the paper's order.
CORRECTED_TYPES: tuple[str, ...] = ("miss", "swap", "inversion", "jitter")
#: How far from the ground truth a corrected keypoint lands: at the intended ks, or where coco-analyze puts it.
CORRECTIONS: tuple[str, ...] = ("exact", "coco-analyze")
UNLABELLED = -1
GOOD_KS = 0.85
JITTER_KS = 0.5
MATCH_OKS = 0.1
MAX_DETS = 20
SOFT_NMS_SIGMA = 0.5
_EPS = np.spacing(1)  # pycocotools adds it to the area in computeOks

_GOOD, _JITTER, _INVERSION, _SWAP, _MISS = range(5)
_SIDES = {"left": "right", "right": "left", "l": "r", "r": "l"}
_TOKEN = re.compile(r"[A-Za-z]+|[^A-Za-z]+")

#: Labels for the AP table, gains and figures.
AP_LABELS: dict[str, str] = {"original": "as detected", "miss": "misses corrected", "swap": "swaps corrected",
                             "inversion": "inversions corrected", "jitter": "jitter corrected",
                             "localisation": "all four corrected", "score": "oracle scores"}

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True, eq=False)
class KeypointErrors:
    """The analysis of one keypoint results file: plain, picklable data (the page caches it).

    One row per matched detection in the per-match arrays (image_ids, category_ids, gt_ids: the annotation ids
    of the file, dt_ids: the ids COCO's loadRes gives the detections, their position in the results file + 1);
    `errors` [N, K] holds indexes into ERROR_TYPES, UNLABELLED where the ground truth does not label the
    keypoint. `ap` maps "original", each of CORRECTED_TYPES, "localisation" and "score" to OKS AP (0..1).
    """

    keypoint_names: dict[int, tuple[str, ...]]
    flip_pairs: dict[int, tuple[tuple[str, str], ...]]
    sigmas: tuple[float, ...]
    image_ids: np.ndarray
    category_ids: np.ndarray
    gt_ids: tuple[Any, ...]
    dt_ids: np.ndarray
    errors: np.ndarray = field(repr=False)
    ap: dict[str, float] = field(default_factory=dict)
    n_detections: int = 0

    @property
    def n_matched(self) -> int:
        return len(self.dt_ids)

    def gains(self) -> dict[str, float]:
        """AP points (0..1) gained by each correction: the CORRECTED_TYPES, "localisation" and "score"."""
        base = self.ap["original"]
        return {name: value - base for name, value in self.ap.items() if name != "original"}

    def to_frame(self) -> pd.DataFrame:
        """One row per labelled keypoint of each matched detection: image_id, gt_id, dt_id, keypoint, error
        (the CSV's columns)."""
        rows = []
        for n in range(self.n_matched):
            names = self.keypoint_names[int(self.category_ids[n])]
            for j, code in enumerate(self.errors[n]):
                if code != UNLABELLED:
                    rows.append((int(self.image_ids[n]), self.gt_ids[n], int(self.dt_ids[n]), names[j],
                                 ERROR_TYPES[code]))
        return pd.DataFrame(rows, columns=["image_id", "gt_id", "dt_id", "keypoint", "error"])

    def counts_frame(self) -> pd.DataFrame:
        """error, count, percent (of all labelled keypoints of matched detections), in ERROR_TYPES order."""
        labelled = self.errors[self.errors != UNLABELLED]
        counts = np.bincount(labelled.astype(int), minlength=len(ERROR_TYPES)) if labelled.size else np.zeros(
            len(ERROR_TYPES), dtype=int)
        total = int(counts.sum())
        percent = 100 * counts / total if total else np.full(len(ERROR_TYPES), np.nan)
        return pd.DataFrame({"error": ERROR_TYPES, "count": counts.astype(int), "percent": percent})

    def per_keypoint_frame(self, percent: bool = True) -> pd.DataFrame:
        """One row per keypoint name (the category's order): labelled (how many), then one column per error
        type, as percent of that keypoint's labelled instances (or counts, `percent=False`)."""
        frame = self.to_frame()
        order = list(dict.fromkeys(name for names in self.keypoint_names.values() for name in names))
        table = pd.crosstab(frame["keypoint"], frame["error"]).reindex(index=order, columns=list(ERROR_TYPES),
                                                                       fill_value=0)
        table = table.fillna(0).astype(int)
        labelled = table.sum(axis=1)
        if percent:
            table = table.div(labelled.where(labelled > 0), axis=0) * 100
        table.insert(0, "labelled", labelled)
        table.index.name, table.columns.name = "keypoint", None
        return table.reset_index()

    def ap_frame(self) -> pd.DataFrame:
        """correction, label, ap, gain (AP and AP points gained, fractions), "original" first."""
        gains = self.gains()
        rows = [(name, AP_LABELS[name], value, gains.get(name, 0.0)) for name, value in self.ap.items()]
        return pd.DataFrame(rows, columns=["correction", "label", "ap", "gain"])


# ---- input: flip pairs ---------------------------------------------------------------------------------

def _partner_name(name: str) -> str | None:
    """`name` with its side word swapped (left_eye -> right_eye, l_paw -> r_paw, front_left -> front_right),
    or None when it names no side."""
    tokens = _TOKEN.findall(name)
    for i, token in enumerate(tokens):
        other = _SIDES.get(token.lower())
        if other is None or (len(token) == 1 and len(tokens) == 1):
            continue
        swapped = other.upper() if token.isupper() else other.capitalize() if token[0].isupper() else other
        return "".join([*tokens[:i], swapped, *tokens[i + 1:]])
    return None


def flip_partners(names: Sequence[str], given: Sequence[tuple[str | int, str | int]] | None = None,
                  what: str = "category") -> tuple[int, ...]:
    """partner[j]: the keypoint that keypoint j becomes under a left/right flip (j itself when unpaired).

    From `given` pairs (names or 0-based indexes) when there are any, else from the names: every name with a
    side word (left/right, l/r as a separate part) must find its partner among the names.
    """
    partner = list(range(len(names)))
    index = {name: j for j, name in enumerate(names)}
    if given:
        for a, b in given:
            i, j = (_keypoint_index(side, names, index, what) for side in (a, b))
            if i == j or partner[i] != i or partner[j] != j:
                raise EvaluationInputError(
                    f"flip pair {a}:{b}: each keypoint may be in one pair, with another keypoint ({what})")
            partner[i], partner[j] = j, i
        return tuple(partner)
    for j, name in enumerate(names):
        other = _partner_name(name)
        if other is None:
            continue
        if other not in index:
            raise EvaluationInputError(
                f"{what} keypoint {name!r} names a side but {other!r} is not among its keypoints: give the flip "
                f"pairs (--flip-pairs left:right,...)")
        partner[j] = index[other]
    return tuple(partner)


def _keypoint_index(side: str | int, names: Sequence[str], index: dict[str, int], what: str) -> int:
    if isinstance(side, int) or (isinstance(side, str) and side.isdigit()):
        j = int(side)
        if not 0 <= j < len(names):
            raise EvaluationInputError(f"flip pair index {j} is out of range: {what} has {len(names)} keypoints "
                                       f"(0..{len(names) - 1})")
        return j
    if side not in index:
        raise EvaluationInputError(f"flip pair keypoint {side!r} is not a keypoint of {what} "
                                   f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
    return index[side]


def parse_flip_pairs(text: str) -> list[tuple[str, str]]:
    """'left_eye:right_eye,3:4' -> [("left_eye", "right_eye"), ("3", "4")]."""
    pairs = []
    for i, item in enumerate(p.strip() for p in text.split(",") if p.strip()):
        a, sep, b = item.partition(":")
        if not sep or not a.strip() or not b.strip():
            raise EvaluationInputError(f"flip pairs: entry {i + 1} {item!r} is not NAME:NAME (or INDEX:INDEX)")
        pairs.append((a.strip(), b.strip()))
    return pairs


def parse_sigmas(text: str) -> list[float]:
    """'0.026,0.025,...' -> floats, naming the first value that is not a number."""
    values = []
    for i, item in enumerate(text.split(",")):
        try:
            values.append(float(item))
        except ValueError:
            raise EvaluationInputError(f"kpt sigmas: value {i + 1} {item.strip()!r} is not a number") from None
    return values


# ---- the analysis -----------------------------------------------------------------------------------------

def analyse_keypoint_errors(ground_truth: JsonSource | GroundTruth, results: JsonSource, *,
                            kpt_sigmas: Sequence[float] | None = None,
                            flip_pairs: Sequence[tuple[str | int, str | int]] | None = None,
                            backend: str = "auto", image_ids: Sequence[int] | None = None,
                            original_ap: float | None = None, corrections: str = "exact",
                            max_bytes: int = DEFAULT_MAX_BYTES,
                            results_name: str | None = None,
                            progress: ProgressCallback | None = None) -> KeypointErrors:
    """Classify every keypoint of every matched detection and measure what each error type costs (see the
    module docstring). `original_ap`: the evaluation's AP when already known (saves one evaluation);
    `corrections`: one of CORRECTIONS. Raises EvaluationInputError for bad input (sigmas, flip pairs, a file
    without keypoint categories)."""
    if corrections not in CORRECTIONS:
        raise EvaluationInputError(f"corrections must be one of {', '.join(CORRECTIONS)}, got {corrections!r}")
    gt = load_ground_truth(ground_truth, max_bytes=max_bytes)
    if image_ids is not None:
        gt = gt.restricted_to(image_ids)
    truth = gt.prepare("keypoints", kpt_sigmas)
    sigmas = truth.kpt_sigmas
    names = {c: tuple(str(n) for n in cat["keypoints"]) for cat in gt.categories
             if (c := cat["id"]) in gt.keypoint_counts}
    partners = {c: flip_partners(names[c], flip_pairs, f"category {gt.category_names[c]!r}") for c in names}
    label = results_name or "results"
    checked = check_results(read_json(results, what=label, max_bytes=max_bytes), truth, what=label)

    def report(fraction: float) -> None:
        if progress:
            progress(fraction)

    report(0.0)
    matched = _match(truth, checked, backend)
    by_id = {ann["id"]: ann for ann in gt.annotations}
    people = _people_by_image(gt)
    n_k = len(sigmas)
    errors = np.full((len(matched), n_k), UNLABELLED, dtype=np.int8)
    corrected: dict[str, list[dict[str, Any]]] = {name: [dict(d) for d in checked]
                                                  for name in (*CORRECTED_TYPES, "localisation")}
    for n, (d, g) in enumerate(matched):
        det, own = checked[d], by_id[g]
        others = [p for p in people[(own["image_id"], own["category_id"])] if p["id"] != g]
        codes, target = classify(det["keypoints"], own, others, sigmas, partners[own["category_id"]])
        errors[n] = codes
        for name in (*CORRECTED_TYPES, "localisation"):
            wanted = np.isin(codes, [ERROR_TYPES.index(t) for t in CORRECTED_TYPES]) if name == "localisation" \
                else codes == ERROR_TYPES.index(name)
            if wanted.any():
                corrected[name][d]["keypoints"] = correct(det["keypoints"], own, wanted, target, sigmas,
                                                          corrections)
    report(0.3)

    def ap_of(detections: list[dict[str, Any]]) -> float:
        return float(evaluate(gt, detections, "keypoints", backend=backend, kpt_sigmas=sigmas).stat("AP"))

    ap = {"original": original_ap if original_ap is not None else ap_of(checked)}
    steps = [*CORRECTED_TYPES, "localisation", "score"]
    for i, name in enumerate(steps):
        detections = corrected[name] if name != "score" else _rescored(checked, gt, sigmas)
        ap[name] = ap_of(detections)
        report(0.3 + 0.7 * (i + 1) / len(steps))
    return KeypointErrors(
        keypoint_names=names,
        flip_pairs={c: tuple((names[c][j], names[c][p]) for j, p in enumerate(partners[c]) if j < p) for c in names},
        sigmas=tuple(float(s) for s in sigmas),
        image_ids=np.array([by_id[g]["image_id"] for _, g in matched], dtype=np.int64),
        category_ids=np.array([by_id[g]["category_id"] for _, g in matched], dtype=np.int64),
        gt_ids=tuple(by_id[g].get("source_id", g) for _, g in matched),
        dt_ids=np.array([d + 1 for d, _ in matched], dtype=np.int64),
        errors=errors, ap=ap, n_detections=len(checked))


def _match(truth: PreparedGroundTruth, checked: list[dict[str, Any]], backend: str) -> list[tuple[int, int]]:
    """(index into `checked`, ground-truth annotation id) of each detection COCOeval matches at OKS .1 to an
    object it does not ignore, in image order: the evaluator's own matching (hotcoco's equals pycocotools',
    tests/test_evaluation_exactness.py)."""
    pairs = matches(get_backend(backend), truth.dataset, [dict(d) for d in checked], "keypoints",
                    category_ids=truth.category_ids, iou_threshold=MATCH_OKS, max_dets=MAX_DETS,
                    kpt_sigmas=truth.kpt_sigmas)
    return [(dt_id - 1, gt_id) for dt_id, gt_id in pairs]  # loadRes numbers results 1..N in order


def _people_by_image(gt: GroundTruth) -> dict[tuple[int, int], list[dict[str, Any]]]:
    people: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for ann in gt.annotations:
        if ann["category_id"] in gt.keypoint_counts:
            people[(ann["image_id"], ann["category_id"])].append(ann)
    return people


def _xyv(keypoints: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(keypoints, dtype=float).reshape(-1, 3)
    return values[:, :2], values[:, 2]


def _ks(points: np.ndarray, targets: np.ndarray, visible: np.ndarray, sigmas: np.ndarray, area: float) -> np.ndarray:
    """Per-keypoint similarity of `points` to `targets` (both [K, 2]); -1 where the target is not labelled."""
    squared = ((points - targets) ** 2).sum(axis=1)
    ks = np.exp(-squared / (2 * sigmas) ** 2 / (area + _EPS) / 2)
    return np.where(visible > 0, ks, -1.0)


def classify(keypoints: Sequence[float], own: dict[str, Any], others: Sequence[dict[str, Any]],
             sigmas: np.ndarray, partner: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(codes [K] into ERROR_TYPES or UNLABELLED, the ks a corrected keypoint should get [K]) for one detection's
    keypoints matched to `own`, with `others` the other people of the image (rules: the module docstring)."""
    points, _ = _xyv(keypoints)
    partner = np.asarray(partner)
    flipped_sigmas = sigmas[partner]
    own_xy, own_v = _xyv(own["keypoints"])
    own_ks = _ks(points, own_xy, own_v, sigmas, own["area"])
    paired = partner != np.arange(len(partner))
    inv_ks = np.where(paired, _ks(points, own_xy[partner], own_v[partner], flipped_sigmas, own["area"]), -1.0)
    swap_ks = np.full(len(partner), -1.0)
    for person in others:
        xy, v = _xyv(person["keypoints"])
        swap_ks = np.maximum(swap_ks, _ks(points, xy, v, sigmas, person["area"]))
        swap_ks = np.maximum(swap_ks, _ks(points, xy[partner], v[partner], flipped_sigmas, person["area"]))
    labelled = own_v > 0
    own_wins = own_ks >= np.maximum(inv_ks, swap_ks)
    best = np.maximum(own_ks, np.maximum(inv_ks, swap_ks))
    codes = np.full(len(partner), UNLABELLED, dtype=np.int8)
    codes[labelled & own_wins & (own_ks >= GOOD_KS)] = _GOOD
    codes[labelled & own_wins & (own_ks >= JITTER_KS) & (own_ks < GOOD_KS)] = _JITTER
    codes[labelled & ~own_wins & (best >= JITTER_KS) & (inv_ks >= swap_ks)] = _INVERSION
    codes[labelled & ~own_wins & (best >= JITTER_KS) & (swap_ks > inv_ks)] = _SWAP
    codes[labelled & (best < JITTER_KS)] = _MISS
    target = np.select([codes == _JITTER, codes == _MISS, (codes == _INVERSION) | (codes == _SWAP)],
                       [np.full_like(best, GOOD_KS), np.full_like(best, JITTER_KS), best], default=1.0)
    return codes, target


def correct(keypoints: Sequence[float], own: dict[str, Any], wanted: np.ndarray, target: np.ndarray,
            sigmas: np.ndarray, corrections: str = "exact") -> list[float]:
    """The detection's keypoints with those `wanted` moved straight towards `own`'s, to where ks == target
    (corrections "exact"), or to coco-analyze's distance for it (the same formula with σ² for (2σ)²)."""
    values = np.asarray(keypoints, dtype=float).reshape(-1, 3).copy()
    own_xy, _ = _xyv(own["keypoints"])
    offset = values[:, :2] - own_xy
    length = np.hypot(offset[:, 0], offset[:, 1])
    direction = np.where(length[:, None] > 0, offset / np.where(length > 0, length, 1.0)[:, None], [1.0, 0.0])
    scale = (2 * sigmas) ** 2 if corrections == "exact" else sigmas ** 2
    distance = np.sqrt(-np.log(np.clip(target, _EPS, 1.0)) * 2 * scale * (own["area"] + _EPS))
    moved = own_xy + direction * distance[:, None]
    values[wanted, :2] = moved[wanted]
    return values.reshape(-1).tolist()


def _rescored(checked: list[dict[str, Any]], gt: GroundTruth, sigmas: np.ndarray) -> list[dict[str, Any]]:
    """The detections with oracle scores: best OKS with a person of the image, then Gaussian soft-NMS."""
    variances = (2 * sigmas) ** 2
    people: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for ann in gt.annotations:
        if ann["category_id"] in gt.keypoint_counts and not ann["iscrowd"] and ann.get("num_keypoints", 0) > 0:
            people[(ann["image_id"], ann["category_id"])].append(ann)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, det in enumerate(checked):
        groups[(det["image_id"], det["category_id"])].append(i)
    rescored = [dict(d) for d in checked]
    for key, indexes in groups.items():
        points = np.stack([_xyv(checked[i]["keypoints"])[0] for i in indexes])  # [D, K, 2]
        scores = np.zeros(len(indexes))
        for person in people.get(key, []):
            xy, v = _xyv(person["keypoints"])
            e = ((points - xy) ** 2).sum(axis=2) / variances / (person["area"] + _EPS) / 2
            oks = (np.exp(-e) * (v > 0)).sum(axis=1) / (v > 0).sum()
            scores = np.maximum(scores, oks)
        for i, score in zip(indexes, _soft_nms(points, scores, variances), strict=True):
            rescored[i]["score"] = float(score)
    return rescored


def _soft_nms(points: np.ndarray, scores: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Gaussian soft-NMS over one image's detections ([D, K, 2] keypoints): each pick lowers the others' scores
    by exp(-OKS² / SOFT_NMS_SIGMA), OKS between the two over the mean of their keypoint-box areas."""
    span = points.max(axis=1) - points.min(axis=1)
    areas = span[:, 0] * span[:, 1]
    squared = ((points[:, None] - points[None]) ** 2).sum(axis=3)  # [D, D, K]
    mean_area = (areas[:, None] + areas[None]) / 2
    oks = np.exp(-squared / variances / (mean_area[..., None] + _EPS) / 2).mean(axis=2)
    scores = scores.astype(float).copy()
    remaining = list(range(len(scores)))
    while remaining:
        best = max(remaining, key=lambda i: scores[i])
        remaining.remove(best)
        for i in remaining:
            scores[i] *= np.exp(-oks[best, i] ** 2 / SOFT_NMS_SIGMA)
    return scores


def keypoint_errors_of(evaluation: Evaluation, ground_truth: JsonSource | GroundTruth, results: JsonSource,
                       **options: Any) -> KeypointErrors:
    """The keypoint error analysis of what `evaluation` (a keypoints one) evaluated, its AP reused as the
    baseline; `options` as for analyse_keypoint_errors (the evaluation's backend unless given)."""
    options.setdefault("backend", evaluation.backend)
    return analyse_keypoint_errors(ground_truth, results, original_ap=evaluation.stat("AP"), **options)

"""The ground truth: check a COCO annotation file once, then hand each evaluation fresh normalised copies.

pycocotools reports bad ground truth as a KeyError deep in evaluateImg, or computes silently wrong numbers: an
annotation with id 0 counts as "unmatched", duplicate ids overwrite each other. Every check here raises
EvaluationInputError naming the file, the problem and the first offending entry (``annotations[12]``).

Normalisation (on copies; the caller's data is never modified): annotation ids become 1..N (the file's own id
is kept as `source_id`, for reports that name annotations), `iscrowd` is 0
where missing (evaluateImg needs it), `num_keypoints` is filled from the visibility flags where missing.
`dataset(iou_type)` gives each evaluation its own shallow copies, since pycocotools' _prepare writes into them.

`GroundTruth.prepare(iou_type)` is where one evaluation's IoU type meets the ground truth, once: it checks the
file for that type and returns a `PreparedGroundTruth` holding what every later step reads (the categories
evaluated, the evaluator's dataset, the objects that count, the OKS sigmas), handed down to the results checks,
the COCOeval runs and the error breakdown instead of each deriving them again from the IoU type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from explorer.evaluation.errors import EvaluationInputError
from explorer.evaluation.inputs.checks import few, finite_number, is_int, numbers_ok, segmentation_problem, short
from explorer.evaluation.inputs.column_checks import annotations_pass, images_pass, polygons_pass
from explorer.evaluation.inputs.loading import DEFAULT_MAX_BYTES, JsonSource, read_json, source_name
from explorer.evaluation.masks import to_rles
from explorer.tasks import IouType

#: The annotation fields COCOeval reads, per iou type (pycocotools' _prepare, computeIoU / computeOks, evaluateImg).
_EVALUATED_FIELDS: dict[str, tuple[str, ...]] = {
    "bbox": ("id", "image_id", "category_id", "bbox", "area", "iscrowd"),
    "segm": ("id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"),
    "keypoints": ("id", "image_id", "category_id", "bbox", "area", "iscrowd", "keypoints", "num_keypoints"),
}

#: pycocotools' OKS sigmas for COCO's 17 person keypoints (Params.setKpParams).
COCO_KEYPOINT_SIGMAS: tuple[float, ...] = tuple(v / 10.0 for v in (
    0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89))


@dataclass(frozen=True)
class GroundTruth:
    """A checked COCO annotation file. Build it with `check_ground_truth`; `dataset()` gives evaluator input."""

    images: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    category_names: dict[int, str]
    supercategories: dict[int, str]
    keypoint_counts: dict[int, int]  # category id -> K, for categories that name their keypoints
    image_sizes: dict[int, tuple[int, int]]  # image id -> (height, width), where both are given
    image_ids: frozenset[int] = field(repr=False)
    name: str = "ground truth"
    passed: set[str] = field(default_factory=set, repr=False, compare=False)  # iou types check_for accepted
    rle_cache: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    #: Evaluator indexes over this ground truth (explorer.evaluation.coco.backends.ground_truth_index), by key.
    index_cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def category_ids(self, iou_type: IouType) -> list[int]:
        """The categories evaluated: all of them, or for keypoints those that name keypoints (sorted, as
        pycocotools sorts them)."""
        if iou_type == "keypoints":
            return sorted(self.keypoint_counts)
        return sorted(self.category_names)

    def restricted_to(self, image_ids: Iterable[int]) -> GroundTruth:
        """The same ground truth with only these images (e.g. the ones a user uploaded), for evaluating a model
        on part of a dataset without counting every other image's objects as missed."""
        wanted = set(image_ids)
        unknown = wanted - self.image_ids
        if unknown:
            raise EvaluationInputError(f"image ids not in {self.name}: {few(unknown)}")
        return replace(self, images=[image for image in self.images if image["id"] in wanted],
                       annotations=[ann for ann in self.annotations if ann["image_id"] in wanted],
                       image_sizes={i: size for i, size in self.image_sizes.items() if i in wanted},
                       image_ids=frozenset(wanted), passed=set(), index_cache={})  # its own checks and indexes

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a cache, a worker process) without its evaluator indexes: native objects, rebuilt on need."""
        return dict(self.__dict__, index_cache={})

    def shared_index(self, key: Any, build: Callable[[], Any]) -> Any:
        """The evaluator index cached under `key`, built by `build()` the first time: an index over this ground
        truth is read, never written, by a native evaluator, so every evaluation of it can share one."""
        if key not in self.index_cache:
            self.index_cache[key] = build()
        return self.index_cache[key]

    def mask_rles(self) -> dict[int, dict[str, Any]]:
        """Annotation id -> its mask as compressed RLE, converted once (as pycocotools' annToRLE converts it) and
        shared by every evaluation of this ground truth. Call check_for("segm") first."""
        missing = [ann for ann in self.annotations if ann["id"] not in self.rle_cache]
        rles = to_rles((ann["segmentation"], *self.image_sizes[ann["image_id"]]) for ann in missing)
        self.rle_cache.update(zip((ann["id"] for ann in missing), rles, strict=True))
        return self.rle_cache

    def dataset(self, iou_type: IouType) -> dict[str, Any]:
        """A fresh COCO dict for one evaluation, holding only what COCOeval reads for this iou type (fresh dicts
        the evaluator may write into): each object's id, image, category, box, area, crowd flag and its mask or
        keypoints; each image's id and, where checked, size; each category's id and name (and keypoint names).
        Nothing else in the file reaches the evaluator, so a stray field of any type cannot trip it (hotcoco
        validates every field it is given)."""
        fields = _EVALUATED_FIELDS[iou_type]
        keep = set(self.category_ids(iou_type))
        annotations = [{k: ann[k] for k in fields if k in ann} for ann in self.annotations
                       if ann["category_id"] in keep]
        images = [{"id": image["id"], "height": self.image_sizes[image["id"]][0],
                   "width": self.image_sizes[image["id"]][1]} if image["id"] in self.image_sizes
                  else {"id": image["id"]} for image in self.images]
        categories = [{"id": c, "name": self.category_names[c]} for c in sorted(keep)]
        if iou_type == "keypoints":
            for category in categories:
                category["keypoints"] = [f"{k + 1}" for k in range(self.keypoint_counts[category["id"]])]
        return {"images": images, "annotations": annotations, "categories": categories}

    def prepare(self, iou_type: IouType, kpt_sigmas: Sequence[float] | None = None) -> PreparedGroundTruth:
        """This ground truth checked for `iou_type`, with what one evaluation of that type reads (see
        PreparedGroundTruth). `kpt_sigmas`: OKS sigmas when the keypoints are not COCO's 17."""
        self.check_for(iou_type)
        sigmas = keypoint_sigmas(self, kpt_sigmas) if iou_type == "keypoints" else None
        return PreparedGroundTruth(gt=self, iou_type=iou_type, category_ids=tuple(self.category_ids(iou_type)),
                                   kpt_sigmas=sigmas)

    def check_for(self, iou_type: IouType) -> None:
        """Raise EvaluationInputError if the file lacks what `iou_type` evaluates (masks, image sizes, keypoints).
        Remembered, so evaluating many results files against one ground truth checks it once."""
        if iou_type in self.passed:
            return
        if iou_type == "segm":
            self._check_masks()
        elif iou_type == "keypoints":
            self._check_keypoints()
        else:
            for i, ann in enumerate(self.annotations):
                if "bbox" not in ann:
                    raise EvaluationInputError(f"{self.name} annotations[{i}] has no 'bbox' (needed for bbox)")
        self.passed.add(iou_type)

    def _check_masks(self) -> None:
        if not self._masks_pass():
            self._name_bad_mask()

    def _masks_pass(self) -> bool:
        """Every image has a size (image ids are unique, so one size per image) and every mask is well formed:
        the polygons checked as columns (column_checks), the RLE masks (crowds, mostly) one by one."""
        if len(self.image_sizes) != len(self.images):
            return False
        segmentations = [ann.get("segmentation") for ann in self.annotations]
        rles = [(segmentation, ann["image_id"]) for segmentation, ann in zip(segmentations, self.annotations,
                                                                             strict=True)
                if isinstance(segmentation, dict)]
        return polygons_pass([s for s in segmentations if not isinstance(s, dict)]) and not any(
            segmentation_problem(segmentation, self.image_sizes[image]) for segmentation, image in rles)

    def _name_bad_mask(self) -> None:
        """Raise the message naming the first image without a size or the first bad mask, walking them in order."""
        for i, image in enumerate(self.images):
            if image["id"] not in self.image_sizes:
                raise EvaluationInputError(
                    f"{self.name} images[{i}] (id {image['id']}) has no 'height' and 'width' (needed for masks)")
        for i, ann in enumerate(self.annotations):
            problem = segmentation_problem(ann.get("segmentation"), self.image_sizes[ann["image_id"]])
            if problem:
                raise EvaluationInputError(f"{self.name} annotations[{i}] (image {ann['image_id']}): {problem}")

    def _check_keypoints(self) -> None:
        if not self.keypoint_counts:
            raise EvaluationInputError(
                "ground truth has no category with 'keypoints' names: keypoint evaluation needs a "
                "person_keypoints-style file")
        for i, ann in enumerate(self.annotations):
            k = self.keypoint_counts.get(ann["category_id"])
            if k is None:
                continue
            if not numbers_ok(ann.get("keypoints"), 3 * k):
                raise EvaluationInputError(
                    f"{self.name} annotations[{i}] (image {ann['image_id']}): keypoints must be {3 * k} numbers "
                    f"(x, y, v for each of the category's {k} keypoints), got {short(ann.get('keypoints'))}")
            if "bbox" not in ann:
                raise EvaluationInputError(
                    f"{self.name} annotations[{i}] has no 'bbox' (OKS uses it for people without keypoints)")


@dataclass(frozen=True, eq=False)
class PreparedGroundTruth:
    """A GroundTruth checked for one IoU type (made by `GroundTruth.prepare`), for one evaluation: every step
    reads the type, the categories evaluated and the sigmas from here, and the evaluator's dataset and the object
    counts are derived at most once."""

    gt: GroundTruth
    iou_type: IouType
    category_ids: tuple[int, ...]  # sorted, as pycocotools sorts them
    kpt_sigmas: np.ndarray | None = field(default=None, repr=False)  # keypoints only

    @cached_property
    def dataset(self) -> dict[str, Any]:
        """The evaluator's input: fresh shallow copies it may write into (GroundTruth.dataset), made once."""
        return self.gt.dataset(self.iou_type)

    @cached_property
    def n_gt(self) -> Counter[int]:
        """Category id -> objects that count: not crowd; for keypoints, with at least one labelled keypoint."""
        keypoints = self.iou_type == "keypoints"
        return Counter(ann["category_id"] for ann in self.gt.annotations
                       if not ann["iscrowd"] and (not keypoints or ann.get("num_keypoints", 0) > 0))


def load_ground_truth(source: JsonSource | GroundTruth, *, name: str | None = None,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> GroundTruth:
    """A checked ground truth from a path, uploaded bytes or a parsed dict; load once, evaluate many times."""
    if isinstance(source, GroundTruth):
        return source
    label = name or source_name(source, "ground truth")
    data = read_json(source, what=name or "ground truth", max_bytes=max_bytes)
    return check_ground_truth(data, what=label, owned=not isinstance(source, list | dict))


def check_ground_truth(data: Any, what: str = "ground truth", *, owned: bool = False) -> GroundTruth:
    """Check the parts every evaluation needs and return the normalised GroundTruth (see the module docstring).
    owned=True: `data` was parsed for this call and nothing else holds it, so the annotations are normalised in
    place rather than copied (0.04-0.1 s for a val2017-size file); the caller's data is otherwise never changed."""
    if not isinstance(data, dict):
        got = "a list (is this a results file?)" if isinstance(data, list) else type(data).__name__
        raise EvaluationInputError(
            f"{what} must be a JSON object with 'images', 'annotations' and 'categories', got {got}")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise EvaluationInputError(
                f"{what} has no '{key}' (a COCO annotation file has 'images', 'annotations' and 'categories')")
        if not isinstance(data[key], list):
            raise EvaluationInputError(f"{what} '{key}' must be a list, got {type(data[key]).__name__}")
    images = _check_images(data["images"], what)
    categories, names, supers, keypoint_counts = _check_categories(data["categories"], what)
    image_ids = frozenset(image["id"] for image in images)
    annotations = _check_annotations(data["annotations"], image_ids, names, keypoint_counts, what, owned)
    sizes = {image["id"]: (image["height"], image["width"]) for image in images
             if is_int(image.get("height")) and is_int(image.get("width"))
             and image["height"] > 0 and image["width"] > 0}
    return GroundTruth(images=images, annotations=annotations, categories=categories, category_names=names,
                       supercategories=supers, keypoint_counts=keypoint_counts, image_sizes=sizes,
                       image_ids=image_ids, name=what)


def _check_images(images: list[Any], what: str) -> list[dict[str, Any]]:
    if images_pass(images):
        return images
    seen: set[int] = set()
    for i, image in enumerate(images):
        if not isinstance(image, dict):
            raise EvaluationInputError(f"{what} images[{i}] is not an object: {short(image)}")
        if not is_int(image.get("id")):
            raise EvaluationInputError(f"{what} images[{i}]: 'id' must be an integer, got {short(image.get('id'))}")
        if image["id"] in seen:
            raise EvaluationInputError(f"{what} images[{i}]: image id {image['id']} appears twice")
        seen.add(image["id"])
    return images


def _check_categories(categories: list[Any], what: str
                      ) -> tuple[list[dict[str, Any]], dict[int, str], dict[int, str], dict[int, int]]:
    names: dict[int, str] = {}
    supers: dict[int, str] = {}
    keypoint_counts: dict[int, int] = {}
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or not is_int(cat.get("id")):
            raise EvaluationInputError(f"{what} categories[{i}] needs an integer 'id', got {short(cat)}")
        if cat["id"] in names:
            raise EvaluationInputError(f"{what} categories[{i}]: category id {cat['id']} appears twice")
        names[cat["id"]] = str(cat.get("name", cat["id"]))
        # No supercategory: the category is its own, so the error breakdown's Sim step changes nothing for it.
        supers[cat["id"]] = str(cat.get("supercategory") or f"({names[cat['id']]})")
        if isinstance(cat.get("keypoints"), list) and cat["keypoints"]:
            keypoint_counts[cat["id"]] = len(cat["keypoints"])
    if not names:
        raise EvaluationInputError(f"{what} has no categories")
    return categories, names, supers, keypoint_counts


def _check_annotations(annotations: list[Any], image_ids: frozenset[int], names: dict[int, str],
                       keypoint_counts: dict[int, int], what: str, owned: bool = False) -> list[dict[str, Any]]:
    if annotations_pass(annotations, image_ids, names.keys()):
        return _normalised(annotations, keypoint_counts, owned)
    checked: list[dict[str, Any]] = []
    for i, ann in enumerate(annotations):
        where = f"{what} annotations[{i}]"
        if not isinstance(ann, dict):
            raise EvaluationInputError(f"{where} is not an object: {short(ann)}")
        if not is_int(ann.get("image_id")) or ann["image_id"] not in image_ids:
            raise EvaluationInputError(f"{where}: image_id {short(ann.get('image_id'))} is not in 'images'")
        if not is_int(ann.get("category_id")) or ann["category_id"] not in names:
            raise EvaluationInputError(
                f"{where}: category_id {short(ann.get('category_id'))} is not in 'categories'")
        if "bbox" in ann and not (numbers_ok(ann["bbox"], 4) and ann["bbox"][2] >= 0 and ann["bbox"][3] >= 0):
            raise EvaluationInputError(f"{where}: bbox must be 4 numbers [x, y, width >= 0, height >= 0], "
                                       f"got {short(ann['bbox'])}")
        if not finite_number(ann.get("area")):
            raise EvaluationInputError(
                f"{where}: 'area' must be a number (the object's pixel area; COCO's area ranges use it), "
                f"got {short(ann.get('area'))}")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise EvaluationInputError(f"{where}: iscrowd must be 0 or 1, got {short(crowd)}")
        checked.append(ann)
    return _normalised(checked, keypoint_counts, owned)


def _normalised(annotations: list[dict[str, Any]], keypoint_counts: dict[int, int],
                in_place: bool = False) -> list[dict[str, Any]]:
    """Checked annotations (copies, or these dicts with in_place) with ids 1..N (the file's own id kept as
    source_id, for reports), iscrowd 0 or 1 as an int, and num_keypoints counted from the visibility flags
    where a keypoint annotation lacks it. Keys come in the same order either way."""
    if in_place:
        normalised = annotations
        for i, ann in enumerate(annotations, 1):
            source_id = ann.get("id")
            ann["id"] = i
            ann["iscrowd"] = int(ann.get("iscrowd", 0))
            ann["source_id"] = source_id
    else:
        normalised = [dict(ann, id=i, iscrowd=int(ann.get("iscrowd", 0)), source_id=ann.get("id"))
                      for i, ann in enumerate(annotations, 1)]
    if keypoint_counts:
        for ann in normalised:
            keypoints = ann.get("keypoints")
            if ann["category_id"] in keypoint_counts and "num_keypoints" not in ann and numbers_ok(keypoints):
                ann["num_keypoints"] = sum(1 for v in keypoints[2::3] if v > 0)
    return normalised


def keypoint_sigmas(gt: GroundTruth, sigmas: Sequence[Any] | None) -> np.ndarray:
    """OKS sigmas for the ground truth's keypoints: given ones, or COCO's for 17 keypoints; EvaluationInputError
    naming the first offending entry when they do not fit."""
    counts = set(gt.keypoint_counts.values())
    if len(counts) > 1:
        raise EvaluationInputError(
            f"ground truth categories name different numbers of keypoints ({few(counts)}); OKS needs one")
    k = counts.pop() if counts else len(COCO_KEYPOINT_SIGMAS)
    if sigmas is None:
        if k != len(COCO_KEYPOINT_SIGMAS):
            raise EvaluationInputError(
                f"ground truth has {k} keypoints per object; COCO's OKS sigmas are for its 17 person keypoints, "
                f"so pass kpt_sigmas (one per keypoint)")
        return np.array(COCO_KEYPOINT_SIGMAS)
    if len(sigmas) != k:
        category = next(iter(gt.keypoint_counts), None)
        which = f"category {gt.category_names[category]!r}" if category is not None else "the ground truth"
        raise EvaluationInputError(
            f"kpt_sigmas: {len(sigmas)} value(s) given, but {which} has {k} keypoints (one sigma per keypoint)")
    for i, value in enumerate(sigmas):
        if not (finite_number(value) and value > 0):
            raise EvaluationInputError(f"kpt_sigmas[{i}] must be a positive number, got {short(value)}")
    return np.array(sigmas, dtype=float)

"""match_images: uploads to annotation images by file name."""

from __future__ import annotations

from explorer.evaluation.inputs.matching import match_images

IMAGES = [
    {"id": 139, "file_name": "000000000139.jpg"},
    {"id": 285, "file_name": "val2017/000000000285.jpg"},
    {"id": 632, "file_name": "000000000632.jpg"},
    {"id": 7, "file_name": "a/dup.jpg"},
    {"id": 8, "file_name": "b/dup.jpg"},
]


def test_pairs_and_both_kinds_of_leftovers() -> None:
    match = match_images(IMAGES, ["000000000139.jpg", "holiday.png", "000000000285.jpg"])
    assert match.pairs == (("000000000139.jpg", 139), ("000000000285.jpg", 285))  # 285 by base name
    assert match.uploads_without_annotations == ("holiday.png",)
    assert match.annotations_without_uploads == (632, 7, 8)
    assert match.image_ids == [139, 285]
    assert match.summary() == ("2 uploaded images matched to annotations; 1 uploads have no annotations; "
                               "3 annotated images were not uploaded")


def test_exact_path_wins_and_shared_base_names_are_ambiguous() -> None:
    match = match_images(IMAGES, ["b/dup.jpg", "dup.jpg"])
    assert match.pairs == (("b/dup.jpg", 8),)
    assert match.ambiguous_uploads == ("dup.jpg",)
    assert "dup.jpg" in match.uploads_without_annotations


def test_windows_paths_and_duplicate_uploads() -> None:
    match = match_images(IMAGES, ["C:\\photos\\000000000632.jpg", "000000000632.jpg"])
    assert match.pairs == (("C:\\photos\\000000000632.jpg", 632),)
    assert match.uploads_without_annotations == ("000000000632.jpg",)  # its image is already taken


def test_same_upload_twice_is_reported() -> None:
    match = match_images(IMAGES, ["000000000139.jpg", "000000000139.jpg"])
    assert match.pairs == (("000000000139.jpg", 139),)
    assert match.duplicate_uploads == ("000000000139.jpg",)


def test_nothing_uploaded() -> None:
    match = match_images(IMAGES, [])
    assert match.pairs == () and len(match.annotations_without_uploads) == len(IMAGES)

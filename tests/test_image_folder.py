"""A folder path typed into a page: resolved, refused unless a readable folder, never listed outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from explorer.inputs.image_folder import FolderError, image_files


def touch(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def test_lists_only_image_files_directly_inside(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "B.PNG")
    touch(tmp_path / "notes.txt")
    (tmp_path / "sub").mkdir()
    touch(tmp_path / "sub" / "deep.jpg")
    assert sorted(image_files(str(tmp_path))) == ["B.PNG", "a.jpg"]


def test_symlinks_are_skipped_so_nothing_outside_is_listed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = touch(outside / "secret.jpg")
    inside = tmp_path / "inside"
    inside.mkdir()
    touch(inside / "ok.jpg")
    os.symlink(secret, inside / "link.jpg")
    os.symlink(outside, inside / "dir.jpg")
    assert list(image_files(str(inside))) == ["ok.jpg"]


def test_dot_dot_is_resolved_to_the_real_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    touch(tmp_path / "top.jpg")
    found = image_files(f"{tmp_path}/x/..")
    assert found == {"top.jpg": tmp_path.resolve() / "top.jpg"}


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: "", "type the path"),
    (lambda p: str(p / "missing"), "no such folder"),
    (lambda p: str(touch(p / "file.jpg")), "is a file, not a folder"),
    (lambda p: str(p), "has no image files"),
    (lambda p: "a\x00b", "NUL"),
])
def test_bad_paths_are_one_line(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(FolderError, match=message) as raised:
        image_files(make(tmp_path))
    assert "\n" not in str(raised.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_unreadable_folder_is_refused(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    tmp_path.chmod(0)
    try:
        with pytest.raises(FolderError, match="not readable"):
            image_files(str(tmp_path))
    finally:
        tmp_path.chmod(0o700)

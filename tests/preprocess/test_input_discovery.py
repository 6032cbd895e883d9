"""What --input holds: hidden entries (macOS `._` metadata, `__MACOSX/`, `.ipynb_checkpoints/`, `.DS_Store`)
are listed as ignored and never read, since a `._` file is no image and a hidden name has no stem to name an
output by; an image file given as --input is one line naming its directory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from preprocess.discover import find_images
from tests.conftest import assert_one_line_error, run_cli

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)  # the header macOS writes


def macos_copy(root: Path) -> Path:
    """Two images as a copy from macOS leaves them: each with its `._` twin, plus a notebook's hidden copy."""
    root.mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "a.jpg")
    Image.new("RGB", (30, 40), (10, 200, 10)).save(root / "b.png")
    for name in ("._a.jpg", "._b.png", ".DS_Store"):
        (root / name).write_bytes(APPLE_DOUBLE)
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._a.jpg").write_bytes(APPLE_DOUBLE)
    (root / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (40, 30)).save(root / ".ipynb_checkpoints" / "a-checkpoint.jpg")
    return root


def test_hidden_files_and_directories_are_listed_not_read(tmp_path):
    root = macos_copy(tmp_path / "img")
    found = find_images(root)
    assert sorted(found.images) == ["a", "b"]
    reasons = {str(Path(i["path"]).relative_to(root)): i["reason"] for i in found.ignored}
    assert set(reasons) == {"._a.jpg", "._b.png", ".DS_Store", "__MACOSX/._a.jpg", ".ipynb_checkpoints"}
    assert all(reason.startswith("hidden") for reason in reasons.values()), reasons


def test_a_macos_copy_preprocesses_its_images_only(tmp_path):
    root, out = macos_copy(tmp_path / "img"), tmp_path / "out"
    proc = run_cli("-m", "preprocess", "--input", str(root), "--output", str(out), "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "2 images" in proc.stdout and "5 entries under" in proc.stdout, proc.stdout
    assert sorted(p.name for p in out.glob("*.bin")) == ["a.bin", "b.bin"]  # no `.bin` of a stemless name
    manifest = json.loads((out / "preprocess.json").read_text())
    assert [f["stem"] for f in manifest["files"]] == ["a", "b"] and manifest["skipped"] == []
    assert len(manifest["ignored"]) == 5


def test_an_image_file_as_input_is_one_line_naming_its_directory(tmp_path):
    root = macos_copy(tmp_path / "img")
    proc = run_cli("-m", "preprocess", "--input", str(root / "a.jpg"), "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, f"{root / 'a.jpg'}: a file, not a directory", f"(e.g. {root})")
    assert proc.returncode == 3 and not (tmp_path / "out").exists()


def two_images(root: Path) -> Path:
    root.mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "a.jpg")
    Image.new("RGB", (30, 40), (10, 200, 10)).save(root / "b.png")
    return root


@pytest.mark.parametrize("nested", [True, False])
def test_the_output_directory_inside_the_input_is_not_input_left_out(tmp_path, nested):
    root = two_images(tmp_path / "img")
    (root / "notes.txt").write_text("kept in the list of ignored entries\n")
    output = root / "out" if nested else root
    output.mkdir(exist_ok=True)
    for name in ("a.bin", "b.bin", "preprocess.json"):
        (output / name).write_bytes(b"written by an earlier run")
    found = find_images(root, output)
    assert sorted(found.images) == ["a", "b"]
    assert [Path(i["path"]).name for i in found.ignored] == ["notes.txt"], found.ignored


def test_a_rerun_into_a_nested_output_warns_of_nothing(tmp_path):
    root = two_images(tmp_path / "img")
    args = ["-m", "preprocess", "--input", str(root), "--output", str(root / "out"), "--workers", "1", "--no-progress"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert "warning" not in again.stdout and "0 written, 2 already done" in again.stdout, again.stdout
    assert json.loads((root / "out" / "preprocess.json").read_text())["ignored"] == []

"""preprocess integrity: a .bin counts as done only when written under the current recipe from the image as it is
now (a recipe change cut short, an image replaced or removed, a record from an older harness), and numeric flags
that would write a bad recipe are refused before anything is written."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO_SAMPLE
from tests.faults.helpers import assert_clean_failure, fault_cli, full_disk_cli

COUNT = 6


def sample_images(directory: Path, count: int = COUNT) -> Path:
    directory.mkdir(parents=True)
    for path in sorted(REPO_SAMPLE.glob("*.JPEG"))[:count]:
        shutil.copy(path, directory / path.name)
    return directory


def preprocess(case: str, src: Path, out: Path, *extra: str, base: Path):
    return fault_cli(case, "-m", "preprocess", "--input", str(src), "--output", str(out), "--no-progress",
                     "--workers", "1", *extra, base=base)


def assert_same_as_fresh(src: Path, out: Path, *recipe: str, base: Path) -> None:
    """Every .bin of `out`, and no other, is byte for byte what a fresh run with `recipe` writes elsewhere."""
    fresh = base / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    assert preprocess("preprocess: fresh reference", src, fresh, *recipe, base=base).returncode == 0
    want = {p.name: p.read_bytes() for p in fresh.glob("*.bin")}
    assert {p.name: p.read_bytes() for p in out.glob("*.bin")} == want
    listed = [entry["stem"] for entry in json.loads((out / "preprocess.json").read_text())["files"]]
    assert listed == sorted(name.removesuffix(".bin") for name in want)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no journal or temporary left


def test_a_recipe_change_cut_short_never_mixes_recipes(tmp_path):
    src = sample_images(tmp_path / "img")
    out = tmp_path / "out"
    assert preprocess("preprocess: default recipe", src, out, base=tmp_path).returncode == 0
    fourth = sorted(src.iterdir())[3].name.split(".")[0]
    # The run under the new recipe stops (here: the disk fills) after three of the six files.
    cut = full_disk_cli("preprocess: recipe change stopped by a full disk", f"{fourth}.bin", "-m", "preprocess",
                        "--input", str(src), "--output", str(out), "--no-progress", "--workers", "1",
                        "--resize", "320", base=tmp_path)
    assert_clean_failure(cut, 9, f"{fourth}.bin", "no space left")
    assert "written with another recipe (resize)" in cut.stdout
    assert len(list(out.glob("*.bin"))) == 3  # the old recipe's files are gone, not mixed in
    rerun = preprocess("preprocess: rerun of the recipe change", src, out, "--resize", "320", base=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "(3 written, 3 already done, 0 skipped)" in rerun.stdout, rerun.stdout
    assert json.loads((out / "preprocess.json").read_text())["recipe"]["resize"] == 320
    assert_same_as_fresh(src, out, "--resize", "320", base=tmp_path)


def test_a_journal_line_cut_by_a_kill_is_redone(tmp_path):
    src = sample_images(tmp_path / "img", 3)
    out = tmp_path / "out"
    assert preprocess("preprocess: first run", src, out, base=tmp_path).returncode == 0
    manifest = json.loads((out / "preprocess.json").read_text())
    journal = [json.dumps({"recipe": manifest["recipe"]}), json.dumps(manifest["files"][0]),
               json.dumps(manifest["files"][1])[:40]]
    manifest["files"] = []  # as a run that was killed after writing two files leaves it
    (out / "preprocess.json").write_text(json.dumps(manifest))
    (out / ".preprocess.progress").write_text("\n".join(journal))
    rerun = preprocess("preprocess: resume from a journal", src, out, base=tmp_path)
    assert rerun.returncode == 0 and "(2 written, 1 already done, 0 skipped)" in rerun.stdout, rerun.stdout
    assert_same_as_fresh(src, out, base=tmp_path)


def test_a_replaced_image_is_preprocessed_again(tmp_path):
    src = sample_images(tmp_path / "img")
    out = tmp_path / "out"
    assert preprocess("preprocess: first run", src, out, base=tmp_path).returncode == 0
    first, other = sorted(src.iterdir())[0], sorted(REPO_SAMPLE.glob("*.JPEG"))[COUNT]
    shutil.copy(other, first)
    rerun = preprocess("preprocess: an image replaced by another", src, out, base=tmp_path)
    assert rerun.returncode == 0 and "(1 written, 5 already done, 0 skipped)" in rerun.stdout, rerun.stdout
    entry = json.loads((out / "preprocess.json").read_text())["files"][0]
    assert (entry["size"], entry["mtime_ns"]) == (first.stat().st_size, first.stat().st_mtime_ns)
    assert_same_as_fresh(src, out, base=tmp_path)


def test_the_bin_of_a_removed_image_is_removed(tmp_path):
    src = sample_images(tmp_path / "img")
    out = tmp_path / "out"
    assert preprocess("preprocess: first run", src, out, base=tmp_path).returncode == 0
    gone = sorted(src.iterdir())[-1]
    gone.unlink()
    rerun = preprocess("preprocess: an image removed", src, out, base=tmp_path)
    assert rerun.returncode == 0 and "(0 written, 5 already done, 0 skipped)" in rerun.stdout, rerun.stdout
    assert f"[INFO] {out}: removed 1 .bin files of images no longer under {src}" in rerun.stdout
    assert not (out / f"{gone.name.split('.')[0]}.bin").exists()
    assert_same_as_fresh(src, out, base=tmp_path)


def test_a_record_without_source_size_and_time_is_redone_and_said(tmp_path):
    src = sample_images(tmp_path / "img", 3)
    out = tmp_path / "out"
    assert preprocess("preprocess: first run", src, out, base=tmp_path).returncode == 0
    manifest = json.loads((out / "preprocess.json").read_text())
    manifest["files"] = [{"stem": e["stem"], "source": e["source"]} for e in manifest["files"]]
    (out / "preprocess.json").write_text(json.dumps(manifest))
    (out / sorted(out.glob("*.bin"))[0]).write_bytes(b"\0" * (3 * 224 * 224 * 4))  # whole size, wrong pixels
    rerun = preprocess("preprocess: preprocess.json of an older harness", src, out, base=tmp_path)
    assert rerun.returncode == 0 and "(3 written, 0 already done, 0 skipped)" in rerun.stdout, rerun.stdout
    assert "written by an older harness" in rerun.stdout and "preprocessing the 3 images again" in rerun.stdout
    assert_same_as_fresh(src, out, base=tmp_path)


def test_a_first_run_that_writes_nothing_leaves_no_directory(tmp_path):
    src = sample_images(tmp_path / "img", 1)
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    proc = preprocess("preprocess: first run stopped by a bad image", src, tmp_path / "out", base=tmp_path)
    assert_clean_failure(proc, 3, "broken.jpg", "--skip-bad")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag, value, needle", [
    ("--resize", "0", "--resize must be at least 1, got 0"),
    ("--resize", "-5", "--resize must be at least 1, got -5"),
    ("--input-size", "0", "--input-size must be at least 1, got 0"),
    ("--resize", "100000", "--resize 100000 makes images of at least 10000000000 pixels"),
    ("--workers", "0", "--workers must be at least 1, got 0"),
    ("--max-pixels", "0", "--max-pixels must be at least 1, got 0"),
    ("--mean", "nan nan nan", "--mean takes three finite numbers, got 'nan nan nan'"),
    ("--mean", "0.5 inf 0.5", "--mean takes three finite numbers, got '0.5 inf 0.5'"),
    ("--mean", "0.5 0.5", "--mean takes three finite numbers, got '0.5 0.5'"),
    ("--std", "nan 1 1", "--std takes three finite numbers above 0, got 'nan 1 1'"),
    ("--std", "inf 1 1", "--std takes three finite numbers above 0, got 'inf 1 1'"),
    ("--std", "0 1 1", "--std takes three finite numbers above 0, got '0 1 1'"),
    ("--std", "-1 1 1", "--std takes three finite numbers above 0, got '-1 1 1'"),
    ("--std", "a b c", "argument --std: expected numbers, got 'a b c'"),
])
def test_a_bad_number_is_refused_before_anything_is_written(tmp_path, flag, value, needle):
    src = sample_images(tmp_path / "img", 1)
    proc = preprocess(f"preprocess: {flag} {value}", src, tmp_path / "out", f"{flag}={value}", base=tmp_path)
    assert_clean_failure(proc, 2, needle, "python -m preprocess")
    assert not (tmp_path / "out").exists()

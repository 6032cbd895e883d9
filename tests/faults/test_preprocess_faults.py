"""preprocess faults: full disk, decompression bombs, counts, ignored files, names with spaces, EXIF."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.faults.helpers import assert_clean_failure, fault_cli, full_disk_cli, snapshot


def images(directory: Path, count: int, size: int = 40) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (size + i, size), (10 * i % 255, 20, 30)).save(directory / f"img{i}.png")
    return directory


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height and whose data is a few bytes: a decompression bomb's
    signature, written by hand so the test does not depend on PIL to make it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def preprocess(case: str, src: Path, out: Path, *extra: str, base: Path):
    return fault_cli(case, "-m", "preprocess", "--input", str(src), "--output", str(out), "--no-progress",
                     "--workers", "1", *extra, base=base)


def test_disk_full_names_the_file_and_the_space(tmp_path):
    src = images(tmp_path / "img", 3)
    proc = full_disk_cli("preprocess: disk full", "img1.bin", "-m", "preprocess", "--input", str(src),
                         "--output", str(tmp_path / "out"), "--no-progress", "--workers", "1", base=tmp_path)
    assert_clean_failure(proc, 9, "img1.bin", "no space left", "588.0 KiB", "free there", "rerun the same command")
    assert not list((tmp_path / "out").glob(".*.tmp")) and not (tmp_path / "out" / "img1.bin").exists()
    assert (tmp_path / "out" / "img0.bin").stat().st_size == 3 * 224 * 224 * 4  # finished work kept
    rerun = preprocess("preprocess: rerun after disk full", src, tmp_path / "out", base=tmp_path)
    assert rerun.returncode == 0 and "(2 written, 1 already done, 0 skipped)" in rerun.stdout, rerun.stdout


def test_decompression_bomb_is_one_line_and_skippable(tmp_path):
    src = images(tmp_path / "img", 2)
    png_header_only(src / "bomb.png", 30000, 30000)
    proc = preprocess("preprocess: decompression bomb (30000x30000 header)", src, tmp_path / "out", base=tmp_path)
    assert_clean_failure(proc, 3, "bomb.png", "30000x30000", "--max-pixels", "--skip-bad")
    skip = preprocess("preprocess: decompression bomb with --skip-bad", src, tmp_path / "out", "--skip-bad",
                      base=tmp_path)
    assert skip.returncode == 0, skip.stderr
    assert "(2 written, 0 already done, 1 skipped)" in skip.stdout
    manifest = json.loads((tmp_path / "out" / "preprocess.json").read_text())
    assert [Path(s["source"]).name for s in manifest["skipped"]] == ["bomb.png"]


def test_pixel_limit_is_configurable(tmp_path):
    src = images(tmp_path / "img", 1, size=100)  # 100 x 100 = 10 000 pixels
    low = preprocess("preprocess: image above --max-pixels", src, tmp_path / "out", "--max-pixels", "9999",
                     base=tmp_path)
    assert_clean_failure(low, 3, "img0.png", "100x100", "limit of 9999")
    ok = preprocess("preprocess: image at --max-pixels", src, tmp_path / "out", "--max-pixels", "10000",
                    base=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_skip_bad_counts_what_was_written(tmp_path):
    src = images(tmp_path / "img", 7)
    for i in range(4):
        (src / f"bad{i}.jpg").write_bytes(b"not a jpeg" * 10)
    proc = preprocess("preprocess: --skip-bad with 7 good and 4 bad images", src, tmp_path / "out", "--skip-bad",
                      base=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "7 images" in proc.stdout and "(7 written, 0 already done, 4 skipped)" in proc.stdout, proc.stdout
    assert len(list((tmp_path / "out").glob("*.bin"))) == 7


def test_ignored_files_and_symlinked_directories_are_reported(tmp_path):
    src = images(tmp_path / "img", 2)
    Image.new("RGB", (40, 40)).save(src / "anim.gif")
    elsewhere = images(tmp_path / "elsewhere", 0)
    Image.new("RGB", (40, 40)).save(elsewhere / "linked.png")
    (src / "more").symlink_to(elsewhere, target_is_directory=True)
    (src / "loop").symlink_to(src, target_is_directory=True)
    proc = preprocess("preprocess: a GIF, a symlinked directory and a symlink loop", src, tmp_path / "out",
                      base=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: 2 entries" in proc.stdout and "anim.gif" in proc.stdout, proc.stdout
    assert (tmp_path / "out" / "linked.bin").is_file()  # the linked directory was followed
    manifest = json.loads((tmp_path / "out" / "preprocess.json").read_text())
    reasons = {Path(i["path"]).name: i["reason"] for i in manifest["ignored"]}
    assert ".gif" in reasons["anim.gif"] and "walked once" in reasons["loop"]
    assert sorted(f["stem"] for f in manifest["files"]) == ["img0", "img1", "linked"]


def test_names_with_spaces_flow_through(tmp_path):
    src = images(tmp_path / "img", 1)
    (src / "img0.png").rename(src / "my photo.png")
    proc = preprocess("preprocess: an image name with a space", src, tmp_path / "out", base=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "my photo.bin").is_file()


def test_exif_orientation_is_recorded_and_not_applied(tmp_path):
    src = tmp_path / "img"
    src.mkdir()
    pixels = np.zeros((60, 40, 3), np.uint8)
    pixels[:30] = 255  # the top half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    Image.fromarray(pixels).save(src / "rot.png", exif=exif)
    proc = preprocess("preprocess: EXIF orientation 6", src, tmp_path / "out", "--resize", "40",
                      "--input-size", "40", base=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "out" / "preprocess.json").read_text())
    assert manifest["recipe"]["exif_orientation"].startswith("not applied")
    out = np.fromfile(tmp_path / "out" / "rot.bin", np.float32).reshape(3, 40, 40)
    assert out[:, 0].min() > 1.5 and out[:, -1].max() < -1.5  # top row white, bottom black: not rotated


def test_second_run_into_a_held_directory_is_refused(tmp_path):
    import fcntl
    import os

    src = images(tmp_path / "img", 1)
    first = preprocess("preprocess: first run", src, tmp_path / "out", base=tmp_path)
    assert first.returncode == 0
    before = snapshot(tmp_path / "out")
    lock = tmp_path / "out" / ".harness.lock"
    with open(lock, "w") as held:
        held.write(f"{os.getpid()}\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = preprocess("preprocess: second run while one holds the output directory", src, tmp_path / "out",
                          "--resize", "300", base=tmp_path)
    assert_clean_failure(proc, 10, str(tmp_path / "out"), "another preprocess run", f"pid {os.getpid()}")
    assert {k: v for k, v in snapshot(tmp_path / "out").items() if k != ".harness.lock"} == before


MEASURE = """
import resource, sys
from pathlib import Path
from tasks.classification.presets import resolve_recipe
from tasks.classification.transform import preprocess_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
preprocess_image(Path(sys.argv[1]), resolve_recipe())
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def large_image(path: Path, width: int, height: int) -> None:
    if path.suffix == ".png":  # 16-bit grey, a smooth ramp (quick to compress)
        ramp = (np.arange(width, dtype=np.uint32)[None, :] * 16 + np.arange(height, dtype=np.uint32)[:, None])
        Image.fromarray((ramp % 65536).astype(np.uint16)).save(path)
    else:
        Image.effect_noise((width // 8, height // 8), 40).resize((width, height)).convert("RGB").save(path)


@pytest.mark.parametrize("name", ["large.jpg", "large16.png"])
def test_large_legal_image_decodes_within_the_stated_bound(tmp_path, name):
    from preprocess.decode import BYTES_PER_PIXEL_BOUND
    from tests.conftest import run_cli

    width, height = 4000, 3000
    large_image(tmp_path / name, width, height)
    proc = run_cli("-c", MEASURE, str(tmp_path / name))
    assert proc.returncode == 0, proc.stderr
    grown = int(proc.stdout.strip())
    assert grown <= BYTES_PER_PIXEL_BOUND * width * height * 1.05, grown / (width * height)

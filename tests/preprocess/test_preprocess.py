"""preprocess: byte identity with the ModelZoo formula, image modes, resume, bad input."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, assert_one_line_error, run_cli

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def modelzoo_reference(path: Path, resize: int = 256, crop: int = 224, mean=MEAN, std=STD) -> bytes:
    """Se_Resnext101_preprocess.py's formula (ref-ascend.md 8.2), written out independently."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    if not ((w <= h and w == resize) or (h <= w and h == resize)):
        image = image.resize((resize, int(resize * h / w)) if w < h else (int(resize * w / h), resize),
                             Image.BILINEAR)
    w, h = image.size
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    image = image.crop((left, top, left + crop, top + crop))
    img = np.array(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    img -= np.array(mean, dtype=np.float32)[:, None, None]
    img /= np.array(std, dtype=np.float32)[:, None, None]
    return img.tobytes()


def _subset(src: Path, dst: Path, names: list[str]) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(src / name, dst / name)
    return dst


def test_resnet_preset_is_byte_identical_to_modelzoo(shared_sample, tmp_path):
    gray = ["n02096051_Airedale.JPEG", "n02676566_acoustic_guitar.JPEG"]
    names = sorted(p.name for p in shared_sample.glob("*.JPEG"))[::40] + gray
    src = _subset(shared_sample, tmp_path / "img", names)
    proc = run_cli("-m", "preprocess", "--input", str(src), "--output", str(tmp_path / "out"),
                   "--model", "seresnext101_32x4d")
    assert proc.returncode == 0, proc.stderr
    for name in names:
        got = (tmp_path / "out" / f"{name.split('.')[0]}.bin").read_bytes()
        assert len(got) == 602112
        assert got == modelzoo_reference(src / name), name
    manifest = json.loads((tmp_path / "out" / "preprocess.json").read_text())
    assert manifest["shape"] == [3, 224, 224] and manifest["recipe"]["mean"] == MEAN
    assert len(manifest["files"]) == len(names)


def test_efficientnet_lite_and_inception_presets(shared_sample, tmp_path):
    name = "n01440764_tench.JPEG"
    src = _subset(shared_sample, tmp_path / "img", [name])
    for model, preset, expected in (("efficientnet_lite0", None, modelzoo_reference(src / name, 256, 224,
                                                                                     [0.5] * 3, [0.5] * 3)),
                                    ("resnet50", "inception", modelzoo_reference(src / name, 342, 299))):
        out = tmp_path / f"out-{model}"
        args = ["-m", "preprocess", "--input", str(src), "--output", str(out), "--model", model]
        proc = run_cli(*args, *(["--preset", preset] if preset else []))
        assert proc.returncode == 0, proc.stderr
        assert (out / "n01440764_tench.bin").read_bytes() == expected


def _odd_images(directory: Path) -> dict[str, Image.Image]:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (90, 60, 3), dtype=np.uint8))
    images = {
        "gray.png": rgb.convert("L"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "alpha.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P"),
        "small.bmp": rgb.resize((20, 30)),
        "photo.webp": rgb,
    }
    for name, img in images.items():
        img.save(directory / name)
    return images


def test_any_mode_and_small_images_go_through(tmp_path):
    images = _odd_images(tmp_path / "img")
    proc = run_cli("-m", "preprocess", "--input", str(tmp_path / "img"), "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    for name in images:
        got = (tmp_path / "out" / f"{name.split('.')[0]}.bin").read_bytes()
        assert got == modelzoo_reference(tmp_path / "img" / name), name


def test_uint8_hwc_mode_for_aipp(shared_sample, tmp_path):
    name = "n01443537_goldfish.JPEG"
    src = _subset(shared_sample, tmp_path / "img", [name])
    proc = run_cli("-m", "preprocess", "--input", str(src), "--output", str(tmp_path / "out"), "--mode", "uint8")
    assert proc.returncode == 0, proc.stderr
    data = np.fromfile(tmp_path / "out" / "n01443537_goldfish.bin", dtype=np.uint8).reshape(224, 224, 3)
    as_float = (data.astype(np.float32).transpose(2, 0, 1) / 255.0 - np.array(MEAN, np.float32)[:, None, None]) \
        / np.array(STD, np.float32)[:, None, None]
    ref = np.frombuffer(modelzoo_reference(src / name), dtype=np.float32).reshape(3, 224, 224)
    assert np.allclose(as_float, ref, atol=1e-5)
    assert json.loads((tmp_path / "out" / "preprocess.json").read_text())["layout"] == "HWC"


def test_interrupted_run_resumes_to_the_clean_result(shared_sample, tmp_path):
    names = sorted(p.name for p in shared_sample.glob("*.JPEG"))[:120]
    src = _subset(shared_sample, tmp_path / "img", names)
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    assert run_cli("-m", "preprocess", "--input", str(src), "--output", str(clean)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "preprocess", "--input", str(src), "--output", str(resumed),
                             "--workers", "1"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    while len(list(resumed.glob("*.bin"))) < 20 and time.time() < deadline:
        time.sleep(0.05)
    import os

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list(resumed.glob("*.bin")))
    assert 0 < partial < len(names), partial
    first = sorted(resumed.glob("*.bin"))[0]
    first.write_bytes(first.read_bytes()[:1000])  # a truncated file left by something else is redone too
    rerun = run_cli("-m", "preprocess", "--input", str(src), "--output", str(resumed))
    assert rerun.returncode == 0, rerun.stderr
    assert "already done" in rerun.stdout
    assert not list(resumed.glob(".*.tmp"))
    for path in clean.glob("*.bin"):
        assert (resumed / path.name).read_bytes() == path.read_bytes(), path.name


def _bad_dir(tmp_path: Path, kind: str) -> tuple[Path, str]:
    src = tmp_path / kind
    src.mkdir()
    Image.new("RGB", (40, 40), (10, 20, 30)).save(src / "good.jpg")
    if kind == "zero":
        (src / "zero.jpg").write_bytes(b"")
        return src, "zero.jpg"
    if kind == "text":
        (src / "notes.png").write_text("not an image")
        return src, "notes.png"
    full = (src / "good.jpg").read_bytes()
    Image.new("RGB", (400, 400), (200, 20, 30)).save(src / "cut.jpg")
    (src / "cut.jpg").write_bytes((src / "cut.jpg").read_bytes()[:300])
    assert full
    return src, "cut.jpg"


@pytest.mark.parametrize("kind", ["zero", "text", "truncated"])
def test_bad_images_stop_with_one_line_or_are_skipped(tmp_path, kind):
    src, bad = _bad_dir(tmp_path, kind)
    proc = run_cli("-m", "preprocess", "--input", str(src), "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, bad)
    assert proc.returncode == 3
    skip = run_cli("-m", "preprocess", "--input", str(src), "--output", str(tmp_path / "out2"), "--skip-bad")
    assert skip.returncode == 0, skip.stderr
    manifest = json.loads((tmp_path / "out2" / "preprocess.json").read_text())
    assert [Path(s["source"]).name for s in manifest["skipped"]] == [bad]
    assert [f["stem"] for f in manifest["files"]] == ["good"]


def test_empty_dir_and_duplicate_stems_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    assert_one_line_error(run_cli("-m", "preprocess", "--input", str(tmp_path / "empty"), "--output",
                                  str(tmp_path / "o")), "no images")
    for sub in ("a", "b"):
        (tmp_path / "dup" / sub).mkdir(parents=True)
        Image.new("RGB", (30, 30)).save(tmp_path / "dup" / sub / "x.jpg")
    assert_one_line_error(run_cli("-m", "preprocess", "--input", str(tmp_path / "dup"), "--output",
                                  str(tmp_path / "o2")), "same stem")



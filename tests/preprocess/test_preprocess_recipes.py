"""`python -m preprocess` writes what timm's own eval transform gives for the model, crop mode included."""
from __future__ import annotations

import json
import shutil

import numpy as np
from PIL import Image

from tests.conftest import SHARED_SAMPLE, assert_one_line_error, run_cli

SQUASH_MODEL = "convnext_base.fb_in22k_ft_in1k_384"  # timm: crop_pct 1.0, crop_mode 'squash'


def two_images(tmp_path):
    img = tmp_path / "img"
    img.mkdir()
    for path in sorted(SHARED_SAMPLE.glob("*.JPEG"))[:2]:
        shutil.copy(path, img / path.name)
    return img


def timm_tensor(arch: str, path) -> np.ndarray:
    from convert.frameworks import import_timm

    import_timm()
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg

    transform = create_transform(**resolve_data_config(pretrained_cfg=get_pretrained_cfg(arch).to_dict()))
    with Image.open(path) as image:
        return transform(image.convert("RGB")).numpy()


def test_a_squash_model_is_preprocessed_as_timm_evaluates_it(tmp_path):
    img, out = two_images(tmp_path), tmp_path / "out"
    proc = run_cli("-m", "preprocess", "--input", str(img), "--output", str(out), "--model", SQUASH_MODEL,
                   "--workers", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    recipe = json.loads((out / "preprocess.json").read_text())["recipe"]
    assert recipe["crop"] == "squash" and recipe["resize"] == 384 and recipe["input_size"] == 384
    for path in sorted(img.iterdir()):
        written = np.fromfile(out / f"{path.stem}.bin", dtype=np.float32).reshape(3, 384, 384)
        np.testing.assert_array_equal(written, timm_tensor(SQUASH_MODEL, path))


def test_crop_flag_is_part_of_the_recipe_and_a_change_rewrites_the_bins(tmp_path):
    img, out = two_images(tmp_path), tmp_path / "out"
    common = ("-m", "preprocess", "--input", str(img), "--output", str(out), "--workers", "1", "--no-progress",
              "--resize", "40", "--input-size", "32")
    assert run_cli(*common).returncode == 0
    center = (out / f"{sorted(img.iterdir())[0].stem}.bin").read_bytes()
    proc = run_cli(*common, "--crop", "border")
    assert proc.returncode == 0, proc.stderr
    assert "written with another recipe (crop)" in proc.stdout and "(2 written, 0 already done" in proc.stdout
    assert json.loads((out / "preprocess.json").read_text())["recipe"]["crop"] == "border"
    assert (out / f"{sorted(img.iterdir())[0].stem}.bin").read_bytes() != center


def test_a_non_square_timm_model_is_refused_in_one_line(tmp_path):
    img, out = two_images(tmp_path), tmp_path / "out"
    proc = run_cli("-m", "preprocess", "--input", str(img), "--output", str(out), "--model",
                   "vit_base_patch16_sapiens2", "--no-progress")
    assert_one_line_error(proc, "vit_base_patch16_sapiens2", "non-square input size 1024x768", "--input-size")
    assert proc.returncode == 3 and not out.exists()


def test_an_image_too_thin_for_the_border_crop_is_one_bad_image(tmp_path):
    """600x1 at 256: its shorter side would round to 0 pixels; --skip-bad goes on without it."""
    images = tmp_path / "img"
    images.mkdir()
    Image.new("RGB", (600, 1), (10, 20, 30)).save(images / "thin.png")
    Image.new("RGB", (40, 30), (10, 20, 30)).save(images / "fine.png")
    args = ["-m", "preprocess", "--input", str(images), "--resize", "256", "--input-size", "224", "--crop", "border",
            "--workers", "1", "--no-progress"]
    refused = run_cli(*args, "--output", str(tmp_path / "a"))
    assert_one_line_error(refused, f"{images / 'thin.png'}: 600x1 is too thin for the border crop mode", "--skip-bad")
    assert refused.returncode == 3
    skipped = run_cli(*args, "--output", str(tmp_path / "b"), "--skip-bad")
    assert skipped.returncode == 0, skipped.stderr
    assert sorted(p.name for p in (tmp_path / "b").glob("*.bin")) == ["fine.bin"]

"""An mmcls config's test pipeline is the recipe of its model: preprocess --mmcls-config prepares images as mmcls's
own pipeline does, and convert refuses data prepared otherwise (it was taken silently: bilinear for bicubic,
ImageNet mean and std for 0.5, RGB for a BGR model)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SHARED_SAMPLE, assert_one_line_error, run_cli

IMAGES = ("n01440764_tench", "n01443537_goldfish", "n01484850_great_white_shark", "n01491361_tiger_shark")
MODEL = """
model = dict(type='ImageClassifier',
             backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, num_stages=4,
                           out_indices=(3, ), style='pytorch'),
             neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
                       loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
"""
PIPELINE = """
img_norm_cfg = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb={to_rgb})
test_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', size=({resize}, -1), backend='pillow', interpolation='bicubic'),
                 dict(type='CenterCrop', crop_size={crop}),
                 dict(type='Normalize', **img_norm_cfg),
                 dict(type='ImageToTensor', keys=['img']),
                 dict(type='Collect', keys=['img'])]
data = dict(test=dict(type='ImageNet', data_prefix='', pipeline=test_pipeline))
"""


def mmcls_config(tmp_path, resize=256, crop=224, to_rgb=True):
    path = tmp_path / "tiny_mixer_norm.py"
    path.write_text(MODEL + PIPELINE.format(resize=resize, crop=crop, to_rgb=to_rgb))
    return path


def images(tmp_path):
    directory = tmp_path / "img"
    directory.mkdir()
    for stem in IMAGES:
        (directory / f"{stem}.JPEG").symlink_to(SHARED_SAMPLE / f"{stem}.JPEG")
    return directory


def mmcls_tensors(config_path, directory) -> dict[str, np.ndarray]:
    """The images as mmcls's own test pipeline hands them to the model."""
    from convert.frameworks import import_mmcls

    import_mmcls()
    import mmcv
    from mmcls.datasets.pipelines import Compose

    pipeline = Compose(mmcv.Config.fromfile(str(config_path)).data.test.pipeline)
    return {stem: pipeline({"img_prefix": str(directory), "img_info": {"filename": f"{stem}.JPEG"}})["img"].numpy()
            for stem in IMAGES}


def preprocess(tmp_path, directory, *flags):
    proc = run_cli("-m", "preprocess", "--input", str(directory), "--output", str(tmp_path / "bins"), "--no-progress",
                   *flags)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "bins"


def test_preprocess_with_an_mmcls_config_prepares_images_as_mmcls_does(tmp_path):
    config, directory = mmcls_config(tmp_path, resize=72, crop=64), images(tmp_path)
    bins = preprocess(tmp_path, directory, "--mmcls-config", str(config))
    recipe = json.loads((bins / "preprocess.json").read_text())["recipe"]
    assert (recipe["resize"], recipe["input_size"], recipe["interpolation"]) == (72, 64, "bicubic")
    for stem, expected in mmcls_tensors(config, directory).items():
        ours = np.fromfile(bins / f"{stem}.bin", dtype=np.float32).reshape(expected.shape)
        # mmcls multiplies by 1/std where preprocess divides by std: a float32 rounding apart, no more
        assert np.abs(ours - expected).max() < 1e-5


def convert(tmp_path, config, *flags):
    return run_cli("-m", "convert", "--mmcls-config", str(config), "--batchsize", "1", "--output",
                   str(tmp_path / "model"), *flags, timeout=300)


def test_data_not_prepared_as_the_mmcls_test_pipeline_is_refused_then_taken_when_it_is(tmp_path):
    config, directory = mmcls_config(tmp_path), images(tmp_path)
    preset = preprocess(tmp_path, directory, "--model", "tiny_mixer_norm")  # the preset: bilinear, ImageNet mean
    proc = convert(tmp_path, config, "--preprocess", str(preset))
    assert_one_line_error(proc, str(preset), "interpolation bilinear (model: bicubic)", "mean", "std",
                          f"--mmcls-config {config}")
    assert proc.returncode == 4
    matched = preprocess(tmp_path, directory, "--mmcls-config", str(config))
    proc = convert(tmp_path, config, "--preprocess", str(matched))
    assert proc.returncode == 0, proc.stderr
    data_config = json.loads((tmp_path / "model" / "convert.json").read_text())["data_config"]
    assert data_config["mean"] == [0.5, 0.5, 0.5] and data_config["interpolation"] == "bicubic"
    infer = run_cli("-m", "infer", "--model", str(tmp_path / "model"), "--input", str(matched), "--output",
                    str(tmp_path / "res"), "--output_dirname", "run", "--outfmt", "NPY", "--no-progress")
    assert infer.returncode == 0, infer.stderr


@pytest.mark.parametrize("stage", ["convert", "preprocess"])
def test_an_mmcls_config_feeding_bgr_is_refused(tmp_path, stage):
    config = mmcls_config(tmp_path, to_rgb=False)
    if stage == "convert":
        proc = convert(tmp_path, config)
    else:
        proc = run_cli("-m", "preprocess", "--input", str(images(tmp_path)), "--output", str(tmp_path / "bins"),
                       "--mmcls-config", str(config), "--no-progress")
    assert_one_line_error(proc, str(config), "to_rgb=False", "BGR")
    assert proc.returncode == 3


RESIZE_ONLY = """
img_norm_cfg = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True)
test_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', size={size}, backend='pillow', interpolation='bicubic'),
                 dict(type='Normalize', **img_norm_cfg),
                 dict(type='ImageToTensor', keys=['img']),
                 dict(type='Collect', keys=['img'])]
data = dict(test=dict(type='ImageNet', data_prefix='', pipeline=test_pipeline))
"""


def test_a_test_pipeline_that_resizes_without_a_crop_feeds_its_resize_size(tmp_path):
    # mmcls's 384 px configs (Resize(size=384), no CenterCrop) were prepared as a 384 squash centre-cropped to 224
    config, directory = tmp_path / "resize_only.py", images(tmp_path)
    config.write_text(MODEL + RESIZE_ONLY.format(size=72))
    bins = preprocess(tmp_path, directory, "--mmcls-config", str(config))
    recipe = json.loads((bins / "preprocess.json").read_text())["recipe"]
    assert (recipe["resize"], recipe["input_size"], recipe["crop"]) == (72, 72, "squash")
    for stem, expected in mmcls_tensors(config, directory).items():
        assert expected.shape == (3, 72, 72)
        ours = np.fromfile(bins / f"{stem}.bin", dtype=np.float32).reshape(expected.shape)
        assert np.abs(ours - expected).max() < 1e-5
    proc = convert(tmp_path, config, "--preprocess", str(bins))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "model" / "convert.json").read_text())["data_config"]["input_size"] == 72


def test_a_test_pipeline_that_resizes_the_short_side_without_a_crop_is_refused(tmp_path):
    config = tmp_path / "short_side_only.py"
    config.write_text(MODEL + RESIZE_ONLY.format(size="(72, -1)"))
    proc = run_cli("-m", "preprocess", "--input", str(images(tmp_path)), "--output", str(tmp_path / "bins"),
                   "--mmcls-config", str(config), "--no-progress")
    assert_one_line_error(proc, str(config), "crops nothing", "not square")
    assert proc.returncode == 3


def test_an_mmcls_config_named_like_a_timm_model_takes_nothing_from_timm(tmp_path):
    config, directory = tmp_path / "resnet18.py", images(tmp_path)
    config.write_text(MODEL + PIPELINE.format(resize=72, crop=64, to_rgb=True))
    recipe = json.loads((preprocess(tmp_path, directory, "--mmcls-config", str(config)) / "preprocess.json")
                        .read_text())["recipe"]
    assert recipe["data_source"] == "test pipeline of resnet18.py, the rest preset resnet"
    assert "crop_pct" not in recipe  # timm's resnet18 has crop_pct 0.95
    assert (recipe["model"], recipe["resize"], recipe["input_size"]) == ("resnet18", 72, 64)

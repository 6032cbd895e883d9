"""Session fixtures shared by the precision tests: the preprocessed ImageNet sample and the heavy
artifacts (EfficientNet-Lite0 fp32 / int8 ONNX) are made once per test session under a tmp dir."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_SAMPLE
from tests.convert.precision.references import (CALIBRATION_COUNT, CALIBRATION_METHOD, efficientnet_lite0_with_weights,
                                        export_onnx, preprocess_sample, read_labels)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not (SHARED_SAMPLE / "val_label.txt").is_file():
        pytest.skip(f"{SHARED_SAMPLE} is absent (the shared data folder sits beside the repo)")
    return SHARED_SAMPLE


@pytest.fixture(scope="session")
def imagenet_bins(sample_dir, tmp_path_factory) -> tuple[Path, list[str]]:
    """All 1000 images preprocessed for EfficientNet-Lite0: (directory, stems in sorted order)."""
    directory = tmp_path_factory.mktemp("imagenet-bins")
    stems = preprocess_sample(sample_dir, directory)
    assert len(stems) == 1000
    return directory, stems


@pytest.fixture(scope="session")
def labels(sample_dir) -> dict[str, int]:
    return read_labels(sample_dir / "val_label.txt")


@pytest.fixture(scope="session")
def efficientnet_fp32(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(2)
    path = tmp_path_factory.mktemp("efficientnet") / "efficientnet_lite0.sim.onnx"
    return export_onnx(efficientnet_lite0_with_weights(), path)


@pytest.fixture(scope="session")
def efficientnet_int8(efficientnet_fp32, imagenet_bins) -> tuple[Path, dict]:
    from convert.precision import make_int8_onnx

    directory, _ = imagenet_bins
    path = efficientnet_fp32.with_name("efficientnet_lite0.int8.onnx")
    info = make_int8_onnx(efficientnet_fp32, path, directory, CALIBRATION_COUNT, CALIBRATION_METHOD, "image")
    return path, info

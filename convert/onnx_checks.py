"""What the stages can feed and score, checked on a given (or TensorFlow-made) ONNX before anything is built."""
from __future__ import annotations

from pathlib import Path

from harness.contracts import TensorSpec
from harness.errors import InputError
from harness.vocabulary import INPUT_FORM_LAYOUT

IMAGE_CHANNELS = (1, 3)  # grey or RGB: how a channels axis is told from an image side
INPUT_DTYPES = tuple(dtype for dtype, _ in INPUT_FORM_LAYOUT.values())  # what preprocess writes


def check_channels_first(path: Path, spec) -> None:
    """The stages feed [N, C, H, W]; a channels-last input (a TensorFlow export, say) would take them as garbage."""
    shape = list(spec.shape)
    if len(shape) != 4:
        raise InputError(f"{path}: input {spec.name!r} has shape {shape}; the harness feeds image batches "
                         "[N, C, H, W]: export the model with such an input")
    if shape[3] in IMAGE_CHANNELS and shape[1] not in IMAGE_CHANNELS:
        raise InputError(f"{path}: input {spec.name!r} is channels last {shape} (NHWC); the harness feeds "
                         f"[N, C, H, W]: export it with an NCHW input (tf2onnx --inputs-as-nchw {spec.name}), "
                         "or convert the TensorFlow model with --tensorflow")


def check_task_io(path: Path, spec: TensorSpec, model: str) -> None:
    """The stages feed the .bin files preprocess writes (float32 or uint8) of one fixed size, and the model's task
    reads a fixed number of outputs: any other input, or an output the task would not read, is refused here."""
    from harness.onnx_meta import read_onnx
    from tasks import task_for_model

    if spec.dtype not in INPUT_DTYPES:
        raise InputError(f"{path}: input {spec.name!r} is {spec.dtype}; the harness feeds "
                         f"{' or '.join(INPUT_DTYPES)} images (preprocess --mode): export the model with a "
                         "float32 input (an fp16 model keeps float32 I/O with Casts at its edges)")
    if any(side <= 0 for side in spec.shape[2:]):
        raise InputError(f"{path}: input {spec.name!r} has a dynamic image size {spec.shape}; the harness feeds "
                         "images of one size: export the model with a fixed height and width")
    outputs = [value.name for value in read_onnx(path, load_external_data=False).graph.output]
    task = task_for_model(model)
    if len(outputs) != len(task.outputs.names):
        raise InputError(f"{path}: {len(outputs)} outputs ({', '.join(outputs)}); the {task.name} task reads "
                         f"{len(task.outputs.names)} ({', '.join(task.outputs.names)}), so one would be scored "
                         "as another: export the model with only the outputs the task reads")

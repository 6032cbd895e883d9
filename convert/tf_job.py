"""TensorFlow -> ONNX, run by the TensorFlow interpreter (requirements-tf.txt), never imported by the harness.

    <tf python> convert/tf_job.py --format saved_model|keras|graphdef --model PATH --output x.onnx
        --opset N --work DIR [--inputs a:0 --outputs b:0]

Converts with `python -m tf2onnx.convert` (an NHWC image input is given to ONNX as NCHW through
tf2onnx's --inputs-as-nchw, so preprocess's CHW tensors fit), runs the TensorFlow model on a
normal(0, 1) batch (seed 0) and writes that batch (NCHW) and TensorFlow's output beside the ONNX as
reference_input.npy / reference_output.npy. Prints one JSON line describing what it did; a failure
prints one line on stderr and exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REFERENCE_BATCH = 2
CHANNELS = (1, 3)


class JobError(Exception):
    pass


def image_layout(shape: list) -> str:
    """NHWC when the last axis holds the channels and the second does not; else NCHW."""
    if len(shape) != 4:
        raise JobError(f"expected a 4-D image input, the model's input has shape {shape}")
    return "NHWC" if shape[3] in CHANNELS and shape[1] not in CHANNELS else "NCHW"


def concrete(shape: list) -> list[int]:
    if any(d is None or d < 0 for d in shape[1:]):
        raise JobError(f"the model's input {shape} has an unknown image size; export it with a fixed one")
    return [int(d) for d in shape[1:]]


def saved_model_function(path: str):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
        raise JobError(f"{path}: the SavedModel has no serving_default signature")
    function = signatures["serving_default"]
    specs = function.structured_input_signature[1]
    if len(specs) != 1:
        raise JobError(f"{path}: expected one image input, the signature takes {sorted(specs)}")
    (name, spec), = specs.items()

    def call(batch):
        outputs = function(**{name: tf.constant(batch)})
        return outputs[sorted(outputs)[0]].numpy()

    return loaded, list(spec.shape.as_list()), call


def keras_to_saved_model(path: str, work: Path) -> str:
    """Keras 3 models are not read by tf2onnx's --keras; their SavedModel export is."""
    import keras

    model = keras.models.load_model(path, compile=False)
    destination = str(work / "keras_saved_model")
    model.export(destination, format="tf_saved_model", verbose=False)
    return destination


def graphdef_function(path: str, inputs: str, outputs: str):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    tensor = graph.get_tensor_by_name(inputs)
    output = graph.get_tensor_by_name(outputs)
    session = tf.compat.v1.Session(graph=graph)

    def call(batch):
        return session.run(output, {tensor: batch})

    return session, tensor.shape.as_list(), call


def tf2onnx_command(args, source: str, layout: str, input_name: str | None) -> list[str]:
    flag = {"saved_model": "--saved-model", "keras": "--saved-model", "graphdef": "--graphdef"}[args.format]
    command = [sys.executable, "-m", "tf2onnx.convert", flag, source, "--output", args.output,
               "--opset", str(args.opset)]
    if args.format == "graphdef":
        command += ["--inputs", args.inputs, "--outputs", args.outputs]
    if layout == "NHWC":
        command += ["--inputs-as-nchw", input_name or args.inputs]
    return command


def onnx_input_name(source: str) -> str:
    """tf2onnx names a SavedModel's inputs after the signature's argument, with ':0' appended."""
    return f"{source}:0"


def convert(args) -> dict:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    source = args.model
    if args.format == "keras":
        source = keras_to_saved_model(args.model, work)
    if args.format == "graphdef":
        _, shape, call = graphdef_function(source, args.inputs, args.outputs)
        input_name = None
    else:
        loaded, shape, call = saved_model_function(source)
        input_name = list(loaded.signatures["serving_default"].structured_input_signature[1])[0]
    layout = image_layout(shape)
    size = concrete(shape)
    nchw = [size[2], size[0], size[1]] if layout == "NHWC" else size
    batch = np.random.default_rng(0).standard_normal([REFERENCE_BATCH, *nchw]).astype(np.float32)
    reference = call(batch.transpose(0, 2, 3, 1) if layout == "NHWC" else batch)
    command = tf2onnx_command(args, source, layout, input_name and onnx_input_name(input_name))
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0:
        last = [line for line in proc.stderr.splitlines() if line.strip()][-1:] or ["no message"]
        raise JobError(f"tf2onnx failed: {last[0].strip()}")
    np.save(work / "reference_input.npy", batch)
    np.save(work / "reference_output.npy", np.asarray(reference, dtype=np.float32))
    import tensorflow as tf
    import tf2onnx

    return {"format": args.format, "model_layout": layout, "onnx_layout": "NCHW",
            "transpose_inserted": layout == "NHWC", "input_shape": shape,
            "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "command": command[1:]}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--format", choices=("saved_model", "keras", "graphdef"), required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--opset", type=int, required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--inputs")
    p.add_argument("--outputs")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    try:
        print(json.dumps(convert(args)))
    except JobError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

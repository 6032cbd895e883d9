"""`python -m convert`: checkpoint -> ONNX -> simplified ONNX -> target artifact, per SPEC section 3.2.

Examples:
  python -m convert --model seresnext101_32x4d --checkpoint state_dict.pth --target ascend \\
      --option soc_version=Ascend310P3 --batchsize 16 --output work/convert/ascend
  python -m convert --model efficientnet_lite0 --output work/convert/cpu
  python -m convert --onnx model.onnx --target nvidia --batches "1 4 8 16" --output work/convert/nv
  python -m convert --tensorflow saved_model_dir --model resnet50_tf --output work/convert/tf
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.cli import Parser, parse_key_value
from harness.vocabulary import PRECISIONS, Precision

LAYOUTS = ("auto", "timm", "mmcls", "modelzoo", "torchvision", "efficientnet_pytorch")
DEFAULT_BATCHES = [1, 4, 8, 16, 32, 64]
CALIB_METHODS = ("minmax", "entropy", "percentile")


@dataclass
class ConvertConfig:
    output: Path
    model: str | None = None
    checkpoint: Path | None = None
    layout: str = "auto"
    mmcls_config: str | None = None
    onnx: Path | None = None
    tensorflow: Path | None = None
    tf_inputs: str | None = None
    tf_outputs: str | None = None
    tf_python: Path | None = None
    target: str = "cpu"
    precision: str = Precision.FP32
    batch_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_BATCHES))
    dynamic_batch: bool = True
    opset: int | None = None
    options: dict = field(default_factory=dict)
    preprocess: Path | None = None
    calib: Path | None = None
    calib_count: int = 500
    calib_method: str = "minmax"
    accept_preprocess_mismatch: bool = False
    allow_pickle_globals: list[str] = field(default_factory=list)
    num_classes: int | None = None  # the classifier's classes when a checkpoint's head is not the architecture's


def parse_batches(text: str) -> list[int]:
    """'1 4 8' or '1,4,8' -> [1, 4, 8], sorted and unique, each >= 1."""
    try:
        sizes = sorted({int(v) for v in text.replace(",", " ").split()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batch sizes like '1 4 8', got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be integers >= 1, got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def batch_settings(batchsize: int | None, batches: list[int] | None) -> tuple[list[int], bool]:
    """--batchsize alone: static; --batches (plus --batchsize if given): dynamic; neither: the default range."""
    if batches:
        return sorted(set(batches) | ({batchsize} if batchsize else set())), True
    if batchsize:
        return [batchsize], False
    return list(DEFAULT_BATCHES), True


class ListOptions(argparse.Action):
    """`--list-options TARGET`: the target's declared options as a table, then exit (needs no --output)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from harness.errors import HarnessError
        from targets import target_class
        from targets.options import options_table

        try:
            print(options_table(target_class(str(values)).options_class))
        except HarnessError as exc:
            parser.error(str(exc))
        parser.exit()


def build_parser() -> Parser:
    p = Parser(prog="python -m convert", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="registered model (harness/models.py) or any timm architecture name; "
                                   "default: the stem of --mmcls-config or --onnx")
    p.add_argument("--checkpoint", type=Path, help=".pth/.pt/.safetensors weights (default: the model's "
                                                    "packaged weights if it has any, else random weights)")
    p.add_argument("--layout", choices=LAYOUTS, default="auto", help="checkpoint key layout (default: detected)")
    p.add_argument("--mmcls-config", help="mmcls config file, or the name of a built-in one "
                                          "(seresnext101_32x4d); the model is built by mmcls")
    p.add_argument("--onnx", type=Path, help="use this ONNX file as is (no PyTorch export)")
    p.add_argument("--tensorflow", type=Path, help="a TensorFlow SavedModel directory, Keras .keras/.h5 file or "
                                                   "frozen graph .pb, converted with tf2onnx (NHWC inputs "
                                                   "become NCHW)")
    p.add_argument("--tf-inputs", help="frozen graph only: the input tensor name (e.g. input:0)")
    p.add_argument("--tf-outputs", help="frozen graph only: the output tensor name (e.g. logits:0)")
    p.add_argument("--tf-python", type=Path, help="python with tensorflow and tf2onnx (default: "
                                                  "$HARNESS_TF_PYTHON, else .venv-tf/bin/python: make tf-setup)")
    p.add_argument("--target", default="cpu", help="cpu (default), nvidia, ascend or null")
    p.add_argument("--precision", choices=PRECISIONS, default=Precision.FP32)
    p.add_argument("--batchsize", type=_positive_int, help="build for this one static batch size (with "
                                                            "--batches: one more size of the dynamic range)")
    default_batches = " ".join(map(str, DEFAULT_BATCHES))
    p.add_argument("--batches", type=parse_batches,
                   help=f"batch sizes a dynamic artifact must take (default: '{default_batches}')")
    p.add_argument("--output", "-o", type=Path, required=True, help="directory for the ONNX files, the artifact "
                                                                     "and convert.json")
    p.add_argument("--opset", type=_positive_int, help="ONNX opset (default: the target's)")
    p.add_argument("--option", action="append", type=parse_key_value, default=[], metavar="KEY=VALUE",
                   help="target option, repeatable (engine=torch, soc_version=Ascend310P3, ...)")
    p.add_argument("--list-options", action=ListOptions, metavar="TARGET",
                   help="print the options TARGET declares (stage, default, values) and exit")
    p.add_argument("--preprocess", type=Path, help="preprocess output directory (its preprocess.json is "
                                                   "given to the target, e.g. for AIPP)")
    p.add_argument("--accept-preprocess-mismatch", action="store_true",
                   help="go on when --preprocess used another recipe (mean, std, size, resize, interpolation) "
                        "than the model's data config; the difference is recorded")
    p.add_argument("--calib", type=Path, help="directory of .bin calibration inputs (int8)")
    p.add_argument("--calib-count", type=_positive_int, default=500, help="calibration inputs to use")
    p.add_argument("--calib-method", choices=CALIB_METHODS, default="minmax")
    p.add_argument("--num-classes", type=_positive_int, help="classes of the checkpoint's classifier, for a head "
                                                              "fine-tuned to another label set (default: the "
                                                              "architecture's, e.g. 1000)")
    p.add_argument("--allow-pickle-global", action="append", default=[], metavar="MODULE.NAME",
                   help="let weights-only loading accept this pickled class or function (only for a "
                        "checkpoint you trust); repeatable")
    return p


def parse_args(argv: Sequence[str]) -> ConvertConfig:
    args = build_parser().parse_args(list(argv))
    sizes, dynamic = batch_settings(args.batchsize, args.batches)
    return ConvertConfig(
        output=args.output, model=args.model, checkpoint=args.checkpoint, layout=args.layout,
        mmcls_config=args.mmcls_config, onnx=args.onnx, tensorflow=args.tensorflow,
        tf_inputs=args.tf_inputs, tf_outputs=args.tf_outputs, tf_python=args.tf_python, target=args.target,
        precision=args.precision,
        batch_sizes=sizes, dynamic_batch=dynamic, opset=args.opset, options=dict(args.option),
        preprocess=args.preprocess, calib=args.calib, calib_count=args.calib_count,
        calib_method=args.calib_method, accept_preprocess_mismatch=args.accept_preprocess_mismatch,
        allow_pickle_globals=args.allow_pickle_global, num_classes=args.num_classes)

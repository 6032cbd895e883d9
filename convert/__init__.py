"""Checkpoint -> ONNX -> simplified ONNX -> target artifact, with a convert.json sidecar.

`run(ConvertConfig(...))` is the library entry; `python -m convert` is the thin CLI over it.
"""
from convert.cli import ConvertConfig, parse_args
from convert.run import run

__all__ = ["ConvertConfig", "parse_args", "run"]

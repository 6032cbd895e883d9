"""Shared core of the simulated Ascend toolchain (tests only): the OM container and its executor.

Standard library plus numpy/onnx/onnxruntime; nothing from the harness.
"""

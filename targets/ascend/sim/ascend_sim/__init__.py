"""Shared core of the simulated Ascend toolchain (tests and `make ASCEND_SIM=1`): the OM container and its executor.

Standard library plus numpy/onnx/onnxruntime; nothing from the harness.
"""

"""Huawei Ascend NPUs: ONNX -> OM with atc, run through aclruntime / ais_bench.

Importing this package imports no vendor module: aclruntime, ais_bench and onnxruntime-cann are
imported only when a session is opened.
"""
from targets.ascend.target import AscendTarget

__all__ = ["AscendTarget"]

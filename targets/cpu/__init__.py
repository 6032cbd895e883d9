"""The embedded default target: ONNX Runtime on the CPU. It is the accuracy reference."""
from targets.cpu.target import CpuTarget

__all__ = ["CpuTarget"]

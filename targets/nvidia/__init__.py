"""NVIDIA GPU target: TensorRT engines, or a PyTorch engine where TensorRT is not installed."""
from targets.nvidia.target import NvidiaTarget

__all__ = ["NvidiaTarget"]

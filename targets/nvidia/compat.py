"""The JSON beside each artifact, and the checks that it may run here.

A TensorRT plan runs only with the TensorRT version and GPU architecture that built it; a torch.export
program is read back only by the torch that wrote it. Both get one line that says what to rebuild.
"""
from __future__ import annotations

from pathlib import Path

from harness.errors import TargetError
from harness.files import read_json, write_json
from targets.nvidia.plan import meta_filename

META_KIND = "harness.nvidia.artifact"


def meta_path(artifact: Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(meta_filename(artifact.name))


def write_meta(artifact: Path, meta: dict) -> Path:
    path = meta_path(artifact)
    write_json(path, {"kind": META_KIND, **meta})
    return path


def read_meta(artifact: Path) -> dict:
    path = meta_path(artifact)
    if not path.exists():
        raise TargetError(f"{path}: missing; the nvidia target writes it beside {Path(artifact).name} at "
                          "build time, so rerun convert")
    meta = read_json(path, "nvidia artifact description")
    if not isinstance(meta, dict) or meta.get("kind") != META_KIND:
        raise TargetError(f"{path}: not an nvidia artifact description; rerun convert")
    return meta


def check_tensorrt_engine(meta: dict, here: dict, artifact: Path, allow_other_gpu: bool = False) -> None:
    """`here` holds this machine's tensorrt version, gpu_name and compute_capability."""
    built = meta.get("tensorrt")
    if built != here["tensorrt"]:
        raise TargetError(f"{Path(artifact).name} was built with TensorRT {built}, this is TensorRT "
                          f"{here['tensorrt']}; plans do not move between versions: rerun convert here")
    gpu = meta.get("gpu", {})
    if gpu.get("compute_capability") != here["compute_capability"]:
        raise TargetError(f"{Path(artifact).name} was built for {gpu.get('name')} (compute capability "
                          f"{gpu.get('compute_capability')}), this GPU is {here['gpu_name']} (compute "
                          f"capability {here['compute_capability']}): rerun convert on this GPU")
    if gpu.get("name") != here["gpu_name"] and not allow_other_gpu:
        raise TargetError(f"{Path(artifact).name} was built on {gpu.get('name')}, this GPU is "
                          f"{here['gpu_name']}; TensorRT tunes plans per GPU model: rerun convert here, "
                          "or pass the option allow_other_gpu=1 to run it anyway")


def check_torch_artifact(meta: dict, torch_version: str, artifact: Path) -> None:
    built = meta.get("torch")
    if built != torch_version:
        raise TargetError(f"{Path(artifact).name} was exported by torch {built}, this is torch {torch_version}; "
                          "a torch.export program is read back by the torch that wrote it: rerun convert here")

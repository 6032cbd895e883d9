"""What `--model` names: a convert output directory, the artifact inside one, or a bare OM as ais_bench takes.

A bare OM (no convert.json beside it, e.g. built by the ModelZoo scripts) is described by the runtime itself:
its input and outputs come from the OM, its batch from the OM or `--dymBatch`, and its precision is unknown,
which the summary says.
"""
from __future__ import annotations

from pathlib import Path

from harness.contracts import ConvertManifest, TensorSpec
from harness.errors import InputError

BARE_SUFFIXES = {".om": "ascend"}
UNKNOWN_PRECISION = "unknown"


def load_model(model: Path, dym_batch: int = 0) -> tuple[ConvertManifest, Path]:
    """(manifest, artifact) for --model."""
    if not model.exists():
        raise InputError(f"{model}: not found; pass the convert output directory (or an .om file) with --model")
    directory = model if model.is_dir() else model.parent
    manifest_path = directory / ConvertManifest.FILENAME
    if model.is_file() and (not manifest_path.exists() or ConvertManifest.read(directory).artifact != model.name):
        return bare_manifest(model, dym_batch), model
    manifest = ConvertManifest.read(directory)
    artifact = model if model.is_file() else directory / Path(manifest.artifact).name
    if not artifact.exists():
        raise InputError(f"{artifact}: artifact listed in convert.json is missing; rerun convert")
    return manifest, artifact


def bare_manifest(artifact: Path, dym_batch: int) -> ConvertManifest:
    target = BARE_SUFFIXES.get(artifact.suffix.lower())
    if target is None:
        raise InputError(f"{artifact}: no convert.json beside it; pass the convert output directory, or an "
                         f"artifact the runtime describes itself ({', '.join(BARE_SUFFIXES)})")
    unknown = TensorSpec(name="", shape=[-1], dtype="float32")
    gears = [dym_batch] if dym_batch else []
    return ConvertManifest(
        model=artifact.stem, target=target, precision=UNKNOWN_PRECISION, artifact=artifact.name, onnx="",
        sim_onnx="", input=unknown, output=unknown, batch_sizes=gears, dynamic_batch=bool(dym_batch), opset=0,
        target_info={"bare": True, "gears": gears})

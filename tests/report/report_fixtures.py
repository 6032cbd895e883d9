"""Builders of hand-made result directories for the report tests (summary.json as infer writes it)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.contracts import SCHEMA_VERSION
from harness.stats import summarize_ms

DATA = Path(__file__).parent / "data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def summary_dict(*, target: str, precision: str, batch_size: int, compute_ms: list[float], device_name: str,
                 model: str = "seresnext101_32x4d", mode: str = "pure", end_to_end: float = 0.0,
                 engine: dict | None = None, extra: dict | None = None, outfmt: str = "NPY",
                 outputs: list[dict] | None = None, schema_version: int | None = SCHEMA_VERSION) -> dict:
    """A summary.json with the keys infer writes; throughput computed by hand from the mean. Without a
    schema_version: as infer wrote it before versions (the device name in `engine` only)."""
    mean = sum(compute_ms) / len(compute_ms)
    versioned = {} if schema_version is None else {"schema_version": schema_version, "device_name": device_name}
    return {"kind": "harness.infer", **versioned, "target": target, "device": "0", "artifact": f"/x/{model}.{target}",
            "model": model, "precision": precision, "batch_size": batch_size, "mode": mode, "outfmt": outfmt,
            "outputs": outputs or [{"name": "class", "shape": [6], "dtype": "float32"}],
            "num_inputs": batch_size * len(compute_ms), "num_batches": len(compute_ms), "padded_slots": 0,
            "timings": {"compute": summarize_ms(compute_ms)},
            "throughput": {"compute_only": 1000.0 * batch_size / mean, "end_to_end": end_to_end, "wall_s": 1.0},
            "engine": {"device_name": device_name, **(engine or {})}, "environment": {}, "files": [],
            "compute_ms": list(compute_ms), "extra": extra or {}}


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_result_dir(directory: Path, outputs: dict[str, np.ndarray], *, precision: str = "fp32",
                     outfmt: str = "NPY", summary: bool = True, target: str = "cpu") -> Path:
    """`<stem>_0.<fmt>` per sample (ais_bench naming) plus a dataset-mode summary.json."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in outputs.items():
        array = np.asarray(array, dtype=np.float32)
        path = directory / f"{stem}_0.{outfmt.lower()}"
        if outfmt == "NPY":
            np.save(path, array)
        elif outfmt == "BIN":
            array.tofile(path)
        else:
            path.write_text("".join("%f " % v for v in array.ravel()) + "\n", encoding="ascii")
    if summary:
        size = int(np.asarray(next(iter(outputs.values()))).size)
        data = summary_dict(target=target, precision=precision, batch_size=1, compute_ms=[1.0],
                            device_name=f"{target} device", mode="dataset", outfmt=outfmt,
                            outputs=[{"name": "class", "shape": [size], "dtype": "float32"}])
        write_json(directory / "summary.json", data)
    return directory


def assert_valid_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100

"""Calibration data for post-training quantization: preprocessed .bin files, chosen, checked and batched.

The calibration set is the first `count` files of a preprocess output directory in sorted stem
order, so the same directory and count always give the same set (and the same fingerprint).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import PreprocessManifest, numpy_dtype
from harness.errors import ContractError, InputError
from harness.recipe_check import check_recipe

METHODS = ("entropy", "minmax", "percentile")
CALIBRATION_MISMATCH_NOTE = "calibrated on data preprocessed with another recipe"


@dataclass(frozen=True)
class CalibrationSet:
    directory: Path
    files: tuple[Path, ...]
    sample_shape: tuple[int, ...]
    dtype: str

    def load(self, start: int, stop: int) -> np.ndarray:
        """Files [start, stop) stacked into one batch."""
        dtype = numpy_dtype(self.dtype).newbyteorder("<")
        arrays = [np.fromfile(path, dtype=dtype).reshape(self.sample_shape) for path in self.files[start:stop]]
        return np.stack(arrays).astype(numpy_dtype(self.dtype), copy=False)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InputError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def read_manifest(calib_dir: Path) -> PreprocessManifest:
    calib_dir = Path(calib_dir)
    if not calib_dir.is_dir():
        raise InputError(f"{calib_dir}: calibration directory not found; pass a preprocess output directory")
    if not (calib_dir / PreprocessManifest.FILENAME).is_file():
        raise InputError(f"{calib_dir}: no {PreprocessManifest.FILENAME} in the calibration directory; "
                         "calibrate on the output of `python -m preprocess` for this model")
    try:
        return PreprocessManifest.read(calib_dir)
    except ContractError as exc:
        raise InputError(str(exc)) from None


def select_calibration_files(calib_dir: Path, count: int) -> CalibrationSet:
    """The first `count` .bin files in sorted stem order, each checked to hold one whole sample."""
    if int(count) < 1:
        raise InputError(f"calibration count must be at least 1, got {count}")
    calib_dir = Path(calib_dir)
    manifest = read_manifest(calib_dir)
    present = sorted(entry["stem"] for entry in manifest.files if (calib_dir / f"{entry['stem']}.bin").is_file())
    if len(present) < count:
        raise InputError(f"{calib_dir}: {len(present)} .bin files listed in {manifest.FILENAME}, calibration "
                         f"needs {count}; lower the calibration count or preprocess more images")
    chosen = tuple(calib_dir / f"{stem}.bin" for stem in present[:count])
    expected = manifest.sample_nbytes
    for path in chosen:
        size = path.stat().st_size
        if size != expected:
            raise InputError(f"{path}: {size} bytes, expected {expected} ({'x'.join(map(str, manifest.shape))} "
                             f"{manifest.dtype}); rerun preprocess into this directory")
    return CalibrationSet(calib_dir, chosen, tuple(manifest.shape), manifest.dtype)


def check_calibration_recipe(calib_dir: Path, model: str, model_config: dict, accept: bool) -> dict:
    """The calibration directory's recipe against the model's data config, as infer and convert check --preprocess:
    int8 scales calibrated on other pixels fit other data. Refused in one line unless accepted; {} when it fits."""
    return check_recipe(calib_dir, read_manifest(calib_dir).recipe, model, model_config, accept, use="calibration")


def calibration_mismatch_record(differences: dict) -> dict:
    """What convert.json keeps of an accepted calibration recipe mismatch: the fields and the label that says so."""
    if not differences:
        return {}
    return {"calibration_recipe_mismatch": differences,
            "labels": [f"{CALIBRATION_MISMATCH_NOTE} ({', '.join(differences)})"]}


def check_matches_input(calib: CalibrationSet, input_name: str, sample_shape: list, dtype: str) -> None:
    """The calibration samples must be what the model input takes; symbolic dims match anything."""
    fits = len(calib.sample_shape) == len(sample_shape) and all(
        not isinstance(want, int) or want <= 0 or want == have for want, have in zip(sample_shape, calib.sample_shape))
    if not fits or calib.dtype != dtype:
        shown = "x".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in sample_shape)
        raise InputError(f"{calib.directory}: calibration data is {'x'.join(map(str, calib.sample_shape))} "
                         f"{calib.dtype} ({PreprocessManifest.FILENAME}) but model input {input_name!r} takes "
                         f"{shown} {dtype}; preprocess the calibration images for this model")


def calibration_fingerprint(calib_dir: Path, count: int, method: str) -> str:
    """sha256 over the chosen files' stems and contents, the count and the method."""
    check_method(method)
    calib = select_calibration_files(calib_dir, count)
    digest = hashlib.sha256(f"calibration count={count} method={method}\n".encode())
    for path in calib.files:
        digest.update(f"{path.stem}\n".encode())
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


class BinCalibrationReader:
    """ONNX Runtime's CalibrationDataReader protocol (`get_next`, `__len__`, `set_range`) over a set.

    Each item is one batch, the files [start, stop) of `batches`; `set_range` limits reading to
    items [start, end) so that the calibrator can collect in chunks and never hold every
    activation of the whole set at once.
    """

    def __init__(self, calib: CalibrationSet, input_name: str, batches: list[tuple[int, int]]) -> None:
        self.calib = calib
        self.input_name = input_name
        self.batches = list(batches)
        self._next, self._end = 0, len(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next, self._end = start_index, min(end_index, len(self.batches))

    def get_next(self) -> dict | None:
        if self._next >= self._end:
            return None
        start, stop = self.batches[self._next]
        self._next += 1
        return {self.input_name: self.calib.load(start, stop)}

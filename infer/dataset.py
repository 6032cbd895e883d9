"""Input side of the loop: list input files, check sizes, group into padded batches, read ahead.

Inputs are raw .bin files (one sample each) or .npy files (one sample each, in the model input's dtype),
given as a directory or, as ais_bench takes them, a comma-separated list of files.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import PREPROCESS_JOURNAL_NAME, PreprocessManifest, TensorSpec, numpy_dtype
from harness.errors import ContractError, InputError
from harness.files import claim_stem, stem_of

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


INPUT_SUFFIXES = (".bin", ".npy")


def input_entries(input_arg: str | Path) -> list[Path]:
    """The paths --input names: one directory, or files separated by commas."""
    return [Path(e.strip()) for e in str(input_arg).split(",") if e.strip()]


def list_bin_files(input_arg: str | Path, spec: TensorSpec | None, quiet: bool = False) -> list[Path]:
    """The input files of --input (a directory in natural order, or a comma-separated list of files),
    each checked against the model input (`spec`; None before the runtime has described it, as for a bare OM:
    listed only); where a preprocess.json describes them, the files it lists (others are left out with one
    warning line unless `quiet`)."""
    entries = input_entries(input_arg)
    whole_directory = len(entries) == 1 and entries[0].is_dir()
    if whole_directory:
        files = _files_in(entries[0])
    elif entries and all(e.is_file() for e in entries):
        files = entries
    else:
        bad = next((e for e in entries if not e.is_file()), Path(str(input_arg)))
        what = ("one directory per model input; this harness feeds one-input models"
                if len(entries) > 1 and bad.is_dir() else "not found")
        raise InputError(f"{bad}: {what}; pass the preprocess output directory, or .bin/.npy files separated "
                         "by commas, with --input")
    _refuse_shared_stems(files)
    directory = preprocess_dir(input_arg)
    if directory is not None:
        manifest = _checked_manifest(directory, spec) if spec else PreprocessManifest.read(directory)
        files = _described_files(files, manifest, directory, whole_directory, quiet)
    for path in files if spec else ():
        _check_size(path, spec)
    return files


def preprocess_dir(input_arg: str | Path) -> Path | None:
    """The directory whose preprocess.json describes --input: the input directory, or the one directory all
    listed files are in; None when there is none (plain .bin files, taken on size alone)."""
    entries = input_entries(input_arg)
    if len(entries) == 1 and entries[0].is_dir():
        directories = entries
    else:
        directories = list({entry.parent.resolve(): entry.parent for entry in entries}.values())
    described = [d for d in directories if (d / PreprocessManifest.FILENAME).is_file()]
    if not described:
        return None
    if len(directories) > 1:
        shown = ", ".join(str(d) for d in directories[:3]) + (", ..." if len(directories) > 3 else "")
        raise InputError(f"{described[0] / PreprocessManifest.FILENAME}: --input lists files from "
                         f"{len(directories)} directories ({shown}), which no one preprocess.json describes; "
                         "pass the files of one preprocess output directory, or the directory itself")
    return described[0]


def _refuse_shared_stems(files: list[Path]) -> None:
    """Outputs are named by stem: two inputs of one stem would overwrite each other's."""
    found: dict[str, Path] = {}
    for path in files:
        claim_stem(found, path)


def _files_in(directory: Path) -> list[Path]:
    files = sorted((p for p in directory.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file()),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise InputError(f"{directory}: no .bin or .npy files; run preprocess into this directory first")
    return files


def _described_files(files: list[Path], manifest: PreprocessManifest, directory: Path, whole_directory: bool,
                     quiet: bool) -> list[Path]:
    """The files preprocess.json lists, of those given: all of them for a whole directory (one missing is
    refused); others, such as the .bin of an image since removed, are left out with one warning line."""
    source = directory / PreprocessManifest.FILENAME
    if (directory / PREPROCESS_JOURNAL_NAME).exists():  # a preprocess running, or stopped part way
        raise InputError(f"{directory}: preprocess has not finished here ({PREPROCESS_JOURNAL_NAME} is there); rerun "
                         "the same preprocess command to finish it, then infer")
    if not manifest.files:  # written before the file list existed
        return files
    listed = {f"{entry['stem']}.bin" for entry in manifest.files}
    if whole_directory:
        missing = sorted(listed - {path.name for path in files}, key=natural_key)
        if missing:
            raise ContractError(f"{directory / missing[0]}: listed in {source} but missing ({len(missing)} of "
                                f"{len(listed)} files); rerun preprocess into {directory}")
    kept = [path for path in files if path.name in listed]
    left_out = [path for path in files if path.name not in listed]
    if not kept:
        raise InputError(f"{source}: lists none of the --input files (e.g. {left_out[0].name}); pass files "
                         f"preprocess wrote, or rerun preprocess into {directory}")
    if left_out and not quiet:
        print(f"[WARN] {directory}: {len(left_out)} input files that {source.name} does not list are left out "
              f"(e.g. {left_out[0].name}, left from an earlier preprocess?)", flush=True)
    return kept


def _check_size(path: Path, spec: TensorSpec) -> None:
    if path.suffix.lower() == ".npy":
        _check_npy(path, spec)
        return
    size, want = path.stat().st_size, spec.sample_nbytes
    if size != want:
        raise ContractError(f"{path}: {size} bytes, the model input {spec.name!r} "
                            f"{list(spec.sample_shape)} {spec.dtype} takes {want}; preprocess for this "
                            "model (input size, --mode) or convert for this data")


def npy_header(path: str | Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a .npy file, from its header alone."""
    with open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(handle)
        except ValueError as exc:
            raise ContractError(f"{path}: not a .npy file ({exc})") from None
        if fortran and len(shape) > 1:
            raise ContractError(f"{path}: a Fortran-ordered array; save it in C order (np.ascontiguousarray)")
        return tuple(shape), dtype, handle.tell()


def _check_npy(path: Path, spec: TensorSpec) -> None:
    shape, dtype, _ = npy_header(path)
    sample = tuple(spec.sample_shape)
    if dtype != numpy_dtype(spec.dtype) or shape not in (sample, (1, *sample)):
        raise ContractError(f"{path}: a {list(shape)} {dtype} array, the model input {spec.name!r} takes one "
                            f"sample {list(sample)} {spec.dtype}; save one sample per file in that dtype")


def _checked_manifest(input_dir: Path, spec: TensorSpec) -> PreprocessManifest:
    manifest = PreprocessManifest.read(input_dir)
    if list(manifest.shape) != list(spec.sample_shape) or manifest.dtype != spec.dtype:
        raise ContractError(f"{input_dir / PreprocessManifest.FILENAME}: data is {manifest.shape} "
                            f"{manifest.dtype} {manifest.layout}, the model input {spec.name!r} takes "
                            f"{list(spec.sample_shape)} {spec.dtype}; preprocess for this model")
    return manifest


@dataclass
class Batch:
    index: int
    data: np.ndarray
    stems: list[str]  # real inputs only; rows past len(stems) are padding


def plan_batches(files: list[Path], batch_size: int, shard: tuple[int, int] = (0, 1)) -> list[list[Path]]:
    groups = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    index, count = shard
    return groups[index::count]


def read_file_into(path: str, row: np.ndarray) -> None:
    """Read one whole file (the data of a .npy) into a row of bytes (runs in reader threads and processes)."""
    try:
        offset = npy_header(path)[2] if path.endswith((".npy", ".NPY")) else 0
        fd = os.open(path, os.O_RDONLY)  # no file object: it adds a third to the read of a 150 KB input
        try:
            got, size = os.preadv(fd, [row], offset), os.fstat(fd).st_size
        finally:
            os.close(fd)
    except OSError as exc:  # checked before the run: removed, or made unreadable, since
        raise InputError(f"{path}: cannot be read ({exc.strerror}): the input was removed or changed during the "
                         "run; restore it (rerun preprocess) and rerun the same command") from None
    if got != row.nbytes or size != offset + row.nbytes:
        found = f"{got} bytes read" if got != row.nbytes else f"{size - offset} bytes of data"
        raise ContractError(f"{path}: {found}, {row.nbytes} expected; the file changed during the run (rerun "
                            "preprocess, or leave the input directory alone while infer runs), then rerun the same "
                            "command")


def read_rows(rows: np.ndarray, paths: list[str]) -> None:
    for row, path in zip(rows, paths):
        read_file_into(path, row)


def pad_rows(data: np.ndarray, real: int) -> None:
    """Rows past the real inputs repeat the first one, as ais_bench pads a last partial batch."""
    flat = data.reshape(data.shape[0], -1)
    for row in range(real, data.shape[0]):
        flat[row] = flat[0]


def stems_of(group: list[Path]) -> list[str]:
    return [stem_of(p) for p in group]


def read_batch(index: int, group: list[Path], data: np.ndarray) -> Batch:
    """Read a group of files into `data` on this thread (rows in order, padded)."""
    read_rows(data.reshape(data.shape[0], -1).view(np.uint8), [str(p) for p in group])
    pad_rows(data, len(group))
    return Batch(index=index, data=data, stems=stems_of(group))

"""Read the per-input output files of an infer result directory (or an ais_bench one).

Files are named `<stem>_<k>.<suffix>` for output k of input `<stem>` (ais_bench's convention), in one of
the formats of harness/output_formats.py. The format and, for BIN, the dtype and shape come from the run's
summary (`<dirname>_summary.json` beside the directory); a directory without one (e.g. copied from an Ascend
machine) is read from its files alone when their format describes itself (TXT, NPY).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import read_run_summary
from harness.errors import InputError
from harness.output_formats import FORMATS, format_of_suffix, output_format, parse_output_name

PADDING_PREFIX = "padding_"  # ais_bench names padding placeholders like this; they are not results


@dataclass(frozen=True)
class OutputLayout:
    """How output k of one input is stored: format, and for BIN the dtype and per-input shape."""

    outfmt: str  # a name in harness.output_formats.FORMATS
    dtype: str | None = None
    shape: tuple[int, ...] | None = None


def read_outputs(result_dir: Path, output_index: int = 0) -> dict[str, np.ndarray]:
    """{stem: array} for output `output_index` of every input in `result_dir`, sorted by stem."""
    result_dir = Path(result_dir)
    if not result_dir.is_dir():
        raise InputError(f"{result_dir}: result directory not found; pass the directory infer wrote "
                         "(<output>/<output_dirname>)")
    files = output_files(result_dir, output_index)
    layout = output_layout(result_dir, output_index, files)
    fmt = output_format(layout.outfmt)
    wanted = {path for path in files.values() if format_of_suffix(path.suffix) is fmt}
    if not wanted:
        raise InputError(f"{result_dir}: summary.json says outfmt {layout.outfmt} but there are no "
                         f"*_{output_index}.{fmt.suffix} files; rerun infer with --output")
    return {stem: read_output_file(path, layout) for stem, path in sorted(files.items()) if path in wanted}


def output_files(result_dir: Path, output_index: int = 0) -> dict[str, Path]:
    """{stem: path} of the files holding output `output_index`; one clear error when there are none."""
    found: dict[str, Path] = {}
    for path in result_dir.iterdir():
        parsed = parse_output_name(path.name)
        if parsed is None or parsed[1] != output_index or path.name.startswith(PADDING_PREFIX):
            continue
        stem = parsed[0]
        if stem in found:
            raise InputError(f"{result_dir}: input {stem!r} has output files in two formats "
                             f"({found[stem].name}, {path.name}); keep one format per result directory")
        found[stem] = path
    if not found:
        raise InputError(f"{result_dir}: no output files (<stem>_{output_index}.txt/.npy/.bin, ...); run infer "
                         "with --input and --output into this directory first")
    return found


def output_layout(result_dir: Path, output_index: int, files: dict[str, Path]) -> OutputLayout:
    """The layout from the run summary when present, else guessed from the file extensions."""
    summary = read_run_summary(result_dir)
    if summary is not None:
        spec = summary.outputs[output_index] if output_index < len(summary.outputs) else {}
        shape = tuple(int(d) for d in spec["shape"]) if spec.get("shape") else None
        return OutputLayout(summary.outfmt.upper(), spec.get("dtype"), shape)
    extensions = {path.suffix.lower() for path in files.values()}
    if len(extensions) > 1:
        raise InputError(f"{result_dir}: mixed output formats {sorted(extensions)} and no run summary; "
                         "keep one format per result directory")
    fmt = format_of_suffix(extensions.pop())
    if not fmt.self_describing:
        readable = ", ".join(name for name, f in sorted(FORMATS.items()) if f.self_describing)
        raise InputError(f"{result_dir}: {fmt.name} outputs without the run summary ({result_dir.name}_summary.json "
                         "beside the directory) cannot be read (dtype and shape unknown); rerun infer with --outfmt "
                         f"{readable}, or keep its summary")
    return OutputLayout(fmt.name)


def read_output_file(path: Path, layout: OutputLayout) -> np.ndarray:
    """One output file as an array of its per-input shape; an unreadable file is one clear error."""
    try:
        array = output_format(layout.outfmt).read(path, layout.dtype)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: unreadable {layout.outfmt} output ({_first_line(exc)}); rerun infer "
                         "for this directory with --force (its size looks whole, so a plain rerun keeps it)") from None
    return _shape_like(array, layout.shape, path)


def _shape_like(array: np.ndarray, shape: tuple[int, ...] | None, path: Path) -> np.ndarray:
    """Reshape to the recorded per-input shape, tolerating a leading batch axis of -1 or 1."""
    if not shape:
        return array
    candidates = [shape, shape[1:]] if shape[0] in (-1, 1) else [shape]
    for candidate in candidates:
        if candidate and -1 not in candidate and int(np.prod(candidate)) == array.size:
            return array.reshape(candidate)
    if -1 in shape:
        return array
    raise InputError(f"{path}: {array.size} values, the run summary says the output shape is {list(shape)}; "
                     "the file is truncated or from another run; rerun infer for this directory")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""The record of a dataset run in progress: which run the outputs in a result directory belong to.

infer writes it (hidden, atomically) into the result directory before the first output and removes it once
the run summary is written. So a rerun resumes only the outputs of the same run (artifact and its content,
outfmt, outputs, batch size, target options, inputs and their preprocess.json), and postprocess refuses to
score a directory whose run has not finished.

A run that replaces outputs first writes its record marked `replacing` and removes the previous run's
summary, results and outputs; only then is the record marked resumable. A run killed at any point
therefore leaves either a record (the directory is unfinished) or outputs of one run only.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from harness.contracts import INFER_RECORD_NAME, ConvertManifest, InferSummary, PreprocessManifest, TensorSpec
from harness.errors import HarnessError
from harness.files import read_json, sha256_file, sha256_text, write_json
from harness.output_formats import parse_output_name
from infer.dataset import input_entries, preprocess_dir

KIND = "harness.infer_in_progress"


def record_path(out_dir: Path) -> Path:
    return Path(out_dir) / INFER_RECORD_NAME


def _file_identity(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _artifact_identity(manifest: ConvertManifest, artifact: Path) -> dict:
    recorded = (manifest.hashes.get("files") or {}).get(artifact.name) or {}
    return {**_file_identity(artifact), "sha256": recorded.get("sha256", ""), "build_key": manifest.build_key}


def _inputs_identity(input_arg: str, files: list[Path]) -> dict:
    """The --input paths, the files this run reads (each by path, size and mtime: a regenerated .bin is another
    input) and the content of the preprocess.json that describes them."""
    directory = preprocess_dir(input_arg)
    manifest = directory / PreprocessManifest.FILENAME if directory is not None else None
    return {"inputs": sha256_text("\n".join(str(e.resolve()) for e in input_entries(input_arg))),
            "files": sha256_text("\n".join(json.dumps(_file_identity(f)) for f in files)),
            "preprocess_json": sha256_file(manifest) if manifest is not None else ""}


def run_identity(manifest: ConvertManifest, artifact: Path, input_arg: str, files: list[Path], outfmt: str,
                 outputs: list[TensorSpec], batch_size: int, target_options: dict) -> dict:
    """What makes the outputs of one dataset run the same as another's: compared as JSON."""
    identity = {"artifact": _artifact_identity(manifest, artifact), "outfmt": outfmt.upper(),
                "outputs": [{"name": o.name, "shape": list(o.sample_shape), "dtype": o.dtype} for o in outputs],
                "batch_size": batch_size, "target_options": target_options, **_inputs_identity(input_arg, files)}
    return json.loads(json.dumps(identity, default=str))


def read_record(out_dir: Path) -> dict | None:
    """The record in `out_dir`; None when there is none, {} when it cannot be read (it matches no run)."""
    path = record_path(out_dir)
    if not path.exists():
        return None
    try:
        data = read_json(path, "infer run record")
    except HarnessError:  # broken: whatever run wrote it, it is not this one
        return {}
    return data if isinstance(data, dict) and data.get("kind") == KIND else {}


def differences(record: dict, identity: dict) -> list[str]:
    """The identity fields in which the recorded run differs from this one."""
    recorded = record.get("identity") or {}
    return sorted(key for key in {*recorded, *identity} if recorded.get(key) != identity.get(key))


def resumable(record: dict | None, identity: dict) -> bool:
    return record is not None and bool(record) and not record.get("replacing") and not differences(record, identity)


def output_files(out_dir: Path) -> list[Path]:
    """The per-input output files in `out_dir` (any registered format)."""
    return [p for p in Path(out_dir).iterdir() if parse_output_name(p.name) is not None and p.is_file()]


def _write(out_dir: Path, identity: dict, replacing: bool) -> None:
    write_json(record_path(out_dir), {"kind": KIND, "identity": identity, "replacing": replacing,
                                      "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def finished_records(out_dir: Path, summary: Path) -> list[Path]:
    """What says a run in `out_dir` finished: its summary (beside it, or inside as older runs kept it) and the
    results postprocess wrote into it."""
    inside = Path(out_dir) / InferSummary.FILENAME
    return [p for p in (summary, inside, *Path(out_dir).glob("result*.json")) if p.is_file()]


def remove_finished_records(out_dir: Path, summary: Path) -> None:
    for path in finished_records(out_dir, summary):
        path.unlink(missing_ok=True)


def start_fresh(out_dir: Path, identity: dict, summary: Path) -> None:
    """Begin a run that replaces whatever `out_dir` holds: record it, then remove the previous run's summary,
    results and outputs, then mark the record resumable."""
    _write(out_dir, identity, replacing=True)
    remove_finished_records(out_dir, summary)
    for path in output_files(out_dir):
        path.unlink(missing_ok=True)
    _write(out_dir, identity, replacing=False)


def finish(out_dir: Path) -> None:
    """The run's summary is written: its outputs are finished."""
    record_path(out_dir).unlink(missing_ok=True)


def abandon(out_dir: Path) -> None:
    """A run failed: its record stays when it wrote outputs (a rerun resumes them), else it goes, so that a
    result directory the run created is left empty and removed."""
    try:
        if not output_files(out_dir):
            finish(out_dir)
    except OSError:
        pass

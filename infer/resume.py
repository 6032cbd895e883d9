"""Resuming an interrupted dataset run: which inputs still need outputs.

Outputs are written in place when new (harness.files.write_new_or_replace), so a kill can leave the
files being written at that moment short. An input counts as done only when every one of its
output files is whole, as its format's check says (harness/output_formats.py: BIN and NPY have an exact
size, TXT the exact number of lines), and only when the directory's run record (infer/run_record.py) says
this same run wrote them; other outputs are replaced.
"""
from __future__ import annotations

from pathlib import Path

from harness.contracts import INFER_RECORD_NAME, InferSummary, TensorSpec, numpy_dtype
from harness.errors import HarnessError
from harness.files import stem_of
from harness.output_formats import output_format, output_names
from harness.vocabulary import RunMode
from infer import run_record


def whole_file_check(outfmt: str, spec: TensorSpec):
    """A function telling whether a file at a path is a complete output of `spec` in `outfmt`."""
    return output_format(outfmt).whole_check(tuple(spec.sample_shape), numpy_dtype(spec.dtype))


def unfinished(files: list[Path], out_dir: Path, summary: Path, outfmt: str,
               outputs: list[TensorSpec]) -> tuple[list[Path], int]:
    """An interrupted run (outputs but no summary yet) resumes with the inputs whose outputs are missing
    or short; a finished one that is run again (--force, or changed inputs) is run in full.
    Returns (inputs to run, inputs already done)."""
    if summary.exists():
        return files, 0
    present = {p.name for p in out_dir.iterdir()}
    checks = [whole_file_check(outfmt, spec) for spec in outputs]

    def done(path: Path) -> bool:
        names = output_names([stem_of(path)], len(outputs), output_format(outfmt))[0]
        return all(name in present and check(out_dir / name) for name, check in zip(names, checks))

    todo = [f for f in files if not done(f)]
    if len(todo) < len(files):
        print(f"[INFO] resuming an interrupted run: {len(files) - len(todo)} of {len(files)} inputs already "
              f"have outputs in {out_dir}")
    if not todo:  # the run stopped while writing its summary (a full disk, say): time it again to write one
        print(f"[INFO] every input already has its outputs in {out_dir} but the run has no {summary.name}; "
              "running them again to write it", flush=True)
        return files, 0
    return todo, len(files) - len(todo)


def output_entries(files: list[Path], outfmt: str, count: int) -> list[dict]:
    """The summary's `files` entries ({"stem", "outfiles"}) of inputs whose outputs are in the directory."""
    stems = [stem_of(path) for path in files]
    return [{"stem": stem, "outfiles": names}
            for stem, names in zip(stems, output_names(stems, count, output_format(outfmt)))]


def resume_or_replace(files: list[Path], out_dir: Path, summary: Path, outfmt: str, outputs: list[TensorSpec],
                      identity: dict) -> tuple[list[Path], int]:
    """Resume the run that `identity` describes when the directory's record says it wrote the outputs there;
    else replace them all (one line says why). Either way the record is in place before the first output.
    Returns (inputs to run, inputs already done)."""
    record = run_record.read_record(out_dir)
    if run_record.resumable(record, identity) and not summary.exists():
        run_record.remove_finished_records(out_dir, summary)  # results of the part already written
        return unfinished(files, out_dir, summary, outfmt, outputs)
    found = len(run_record.output_files(out_dir))
    if found:
        print(f"[{'INFO' if summary.exists() and record is None else 'WARN'}] {out_dir}: "
              f"{why_replaced(record, identity, summary)}; replacing its {found} output files, every input runs "
              "again", flush=True)
    run_record.start_fresh(out_dir, identity, summary)
    return files, 0


def why_replaced(record: dict | None, identity: dict, summary: Path) -> str:
    name = INFER_RECORD_NAME
    if record is None:
        return (f"holds a finished run ({summary.name})" if summary.exists() else
                f"no {name} says which run wrote the outputs there (an older harness, or another tool)")
    if not record:
        return f"{name} cannot be read"
    if record.get("replacing"):
        return "an earlier run stopped while it replaced the outputs there"
    changed = run_record.differences(record, identity)
    if changed:
        return f"the outputs there are from another run (other {', '.join(changed)}; see {name})"
    return f"holds a finished run ({summary.name})"


def _whole_outputs(summary: InferSummary, out_dir: Path) -> bool:
    specs = [TensorSpec(o["name"], [-1, *o["shape"]], o["dtype"]) for o in summary.outputs]
    checks = [whole_file_check(summary.outfmt, spec) for spec in specs]
    try:
        return all(len(entry["outfiles"]) == len(checks)
                   and all(check(out_dir / name) for name, check in zip(entry["outfiles"], checks))
                   for entry in summary.files)
    except OSError:  # an output is gone
        return False


def finished_run(out_dir: Path, path: Path, inputs: list[Path], artifact: Path, outfmt: str,
                 batch_size: int | None, device: str, target_options: dict, loop: int = 1) -> InferSummary | None:
    """The summary (at `path`) of a finished dataset run of these inputs with this artifact, on this device with
    these target options and runs per input (--loop), into `out_dir`, when nothing changed since (inputs,
    artifact, outputs whole); else None and the run goes ahead. A run option can change what is computed (TF32 on
    the torch engine) or timed; --loop, what is timed."""
    try:
        summary = InferSummary.read_file(path)
        written = path.stat().st_mtime
        newest = max(p.stat().st_mtime for p in [*inputs, artifact])
    except (HarnessError, OSError, ValueError):
        return None
    same = (summary.mode == RunMode.DATASET and summary.outfmt == outfmt and summary.artifact == str(artifact)
            and batch_size in (None, summary.batch_size) and newest <= written and summary.device == device
            and summary.extra.get("target_options") == target_options
            and summary.extra.get("runs_per_input", 1) == loop
            and sorted(f["stem"] for f in summary.files) == sorted(stem_of(p) for p in inputs))
    return summary if same and _whole_outputs(summary, out_dir) else None

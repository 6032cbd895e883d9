"""What the driver keeps: WORK/fleet/<cell id>/ with the files a cell's node sent back and cell.json (the cell,
its content key, the node and device that ran it, its status); a rerun skips a cell whose stored key is unchanged.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from fleet.matrix import Cell
from harness.contracts import InferSummary
from harness.files import atomic_write_bytes, read_json, write_json

CELL_KIND = "harness.fleet.cell"
CELL_FILE = "cell.json"
REPO = Path(__file__).resolve().parents[1]


def cell_dir(work: Path, cell: Cell) -> Path:
    return Path(work) / "fleet" / cell.cell_id


def is_complete(work: Path, cell: Cell, key: str) -> bool:
    """Stored with the same key, finished (ok or out of memory), and every file it lists is there."""
    directory = cell_dir(work, cell)
    path = directory / CELL_FILE
    if not path.is_file():
        return False
    record = read_json(path, "fleet cell record")
    return (record.get("key") == key and record.get("status") in ("ok", "out_of_memory")
            and all((directory / name).is_file() for name in record.get("files", [])))


def store_cell(work: Path, cell: Cell, key: str, results: list[dict], status: str, reason: str,
               texts: dict) -> Path:
    """Keep a finished cell: one run's files as sent, or the shards' outputs merged and scored once."""
    directory = _staging_dir(work, cell)
    if len(results) > 1:
        names = _store_shards(directory, cell, results, texts)
    else:
        names = list(results[0]["files"])
        for name, data in results[0]["files"].items():
            _write(directory / name, data)
    record = {"kind": CELL_KIND, "cell": cell.cell_id, "key": key, "status": status, "reason": reason,
              "definition": cell.to_dict(), "runs": [_run_record(r) for r in results],
              "device_idle": _idle_states(cell, results), "files": sorted(names)}
    write_json(directory / CELL_FILE, record)
    return _replace_cell_dir(work, cell, directory)


def _staging_dir(work: Path, cell: Cell) -> Path:
    """An empty directory beside the cell's, where this attempt's files are written before they replace it."""
    staging = _new_dir(work, cell)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _new_dir(work: Path, cell: Cell) -> Path:
    return cell_dir(work, cell).with_name(f".{cell.cell_id}.new")


def _old_dir(work: Path, cell: Cell) -> Path:
    return cell_dir(work, cell).with_name(f".{cell.cell_id}.old")


def _replace_cell_dir(work: Path, cell: Cell, staging: Path) -> Path:
    """The cell's directory becomes this attempt's files only: a file of an earlier attempt (its result.json
    when this one ran out of memory, a shard's log) would be read by the report as this cell's. A kill between the
    two renames leaves no cell directory: recover_cell_dir puts one back."""
    directory = cell_dir(work, cell)
    old = _old_dir(work, cell)
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def recover_cell_dir(work: Path, cell: Cell) -> str:
    """Undo a store the driver did not finish (killed mid-swap): a staged attempt with its cell.json (written
    last) is whole and takes the cell's place, else a cell directory set aside is put back; what is left beside
    is removed. Says what it did, '' when nothing was left."""
    directory, new, old = cell_dir(work, cell), _new_dir(work, cell), _old_dir(work, cell)
    if not (new.exists() or old.exists()):
        return ""
    done = ""
    if (new / CELL_FILE).is_file():
        _replace_cell_dir(work, cell, new)
        done = "recovered its last attempt, stored whole when the driver stopped"
    elif not directory.exists() and old.is_dir():
        old.rename(directory)
        done = "recovered its earlier attempt, set aside when the driver stopped"
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return done


def _run_record(result: dict) -> dict:
    return {k: result.get(k) for k in ("node", "device", "shard", "seconds", "status", "reason")}


def store_failure(work: Path, cell: Cell, key: str, reason: str, results: list[dict]) -> Path:
    directory = _staging_dir(work, cell)
    for index, result in enumerate(r for r in results if r.get("files", {}).get("stages.log")):
        _write(directory / f"stages.{index}.log", result["files"]["stages.log"])
    write_json(directory / CELL_FILE, {
        "kind": CELL_KIND, "cell": cell.cell_id, "key": key, "status": "failed", "reason": reason,
        "definition": cell.to_dict(), "runs": [_run_record(r) for r in results], "files": []})
    return _replace_cell_dir(work, cell, directory)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def _idle_states(cell: Cell, results: list[dict]) -> list:
    """Each device's idle check before its timed run, as infer recorded it in the run's summary."""
    states = []
    for result in results:
        summary = result["files"].get(f"{cell.run_name}_summary.json")
        if summary:
            data = json.loads(summary)
            states.append({"node": result["node"]["node_id"], "device": result.get("device"),
                           "idle": (data.get("extra") or {}).get("device_idle")})
    return states


def _store_shards(directory: Path, cell: Cell, results: list[dict], texts: dict) -> list[str]:
    """Merge the shards' outputs and summaries into one run, score it once, keep the small files."""
    from fleet.shard_loops import device_names, mark_shard_loops, shards_that_ran
    from infer.multi import merge

    merged_root = directory / ".merge"
    shutil.rmtree(merged_root, ignore_errors=True)
    run_dir = merged_root / cell.run_name
    run_dir.mkdir(parents=True)
    for name in ("labels", "classes"):
        if texts.get(name) is not None:
            (merged_root / f"{name}.txt").write_text(texts[name], encoding="utf-8")
    parts = []
    for result in sorted(results, key=lambda r: r["shard"][0]):
        with tarfile.open(fileobj=io.BytesIO(result["files"]["outputs.tar"]), mode="r") as tar:
            tar.extractall(run_dir, filter="data")
        summary_bytes = result["files"][f"{cell.run_name}_summary.json"]
        parts.append(InferSummary.from_dict(json.loads(summary_bytes), f"shard {result['shard']}"))
    ran, ordered, idle = shards_that_ran(parts, sorted(results, key=lambda r: r["shard"][0]))
    merged = merge(ran, device_names(ordered), max(r["seconds"] for r in results))
    merged.extra["shards"] = len(results)
    if idle:
        merged.extra["warning"] = "; ".join(filter(None, [merged.extra.get("warning"), idle]))
    for warning in (idle, mark_shard_loops(merged, ran, cell.target.name, ordered) if len(ran) > 1 else ""):
        if warning:
            print(f"fleet: {cell.cell_id}: {warning}", flush=True)
    summary_name = f"{cell.run_name}_summary.json"
    write_json(directory / summary_name, merged.to_dict())
    write_json(merged_root / summary_name, merged.to_dict())
    first = results[0]["files"]
    for name in ("preprocess.json", "convert.json"):
        _write(directory / name, first[name])
    for result in results:
        _write(directory / f"stages.shard{result['shard'][0]}.log", result["files"]["stages.log"])
    return [summary_name, "preprocess.json", "convert.json", *_score_merged(directory, cell, run_dir)]


def _score_merged(directory: Path, cell: Cell, run_dir: Path) -> list[str]:
    labels = directory / ".merge" / "labels.txt"
    out = directory / cell.run_name
    out.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "postprocess", "--result", str(run_dir), "--labels", str(labels),
            "--output", str(out / "result.json"), "--details", str(out / "result_details.json")]
    classes = directory / ".merge" / "classes.txt"
    if classes.is_file():
        argv += ["--classes", str(classes)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        raise RuntimeError(f"postprocess of the merged shards failed: {lines[-1]}")
    shutil.rmtree(directory / ".merge")
    return [f"{cell.run_name}/result.json", f"{cell.run_name}/result_details.json"]

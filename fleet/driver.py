"""`python -m fleet`: every cell of the matrix as a Ray task on a node with its hardware, then one report.

A cell whose node dies is retried by Ray on another node with the same resources (max_retries); a cell no live
node can take any more, or whose retries ran out, is recorded as failed with the reason: no cell is dropped.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fleet.cluster import alive_node_resources, connect, describe, fits, import_ray
from fleet.matrix import MODEL_FILE_KINDS, Cell, Matrix, load_matrix
from fleet.node import run_cell_task
from fleet.shipping import content_hash, ship
from fleet.store import cell_dir, is_complete, recover_cell_dir, store_cell, store_failure
from harness.errors import HarnessError, InputError
from harness.files import sha256_text, write_json

REPO = Path(__file__).resolve().parents[1]
FLEET_VERSION = 1  # part of every cell key: a change in what a cell stores reruns them all


@dataclass
class FleetConfig:
    matrix: Path
    work: Path = Path("work")
    cache: Path = Path("/tmp/harness-fleet")
    max_retries: int = 2
    unplaceable_after_s: float = 30.0
    report: bool = True


@dataclass
class Pending:
    cell: Cell
    key: str
    refs: list
    results: dict = field(default_factory=dict)  # shard index -> result
    unplaceable_since: float | None = None


def run(config: FleetConfig) -> dict:
    matrix = load_matrix(config.matrix)
    texts = _texts(matrix)
    inputs = _input_hashes(matrix)
    keys = {c.cell_id: _cell_key(c, inputs) for c in matrix.cells}
    _recover_interrupted_stores(config, matrix)
    todo = [c for c in matrix.cells if not is_complete(config.work, c, keys[c.cell_id])]
    for cell in matrix.cells:
        if cell not in todo:
            print(f"fleet: {cell.cell_id}: stored results are complete and unchanged, skipped")
    if todo:
        how = connect()
        print(f"fleet: {len(todo)} cell(s) to run on Ray ({how})", flush=True)
        _run_cells(config, matrix, todo, keys, texts)
    return _finish(config, matrix)


def _recover_interrupted_stores(config: FleetConfig, matrix: Matrix) -> None:
    """A driver killed while it swapped a cell's directory left its attempts beside it: keep the last whole one."""
    for cell in matrix.cells:
        recovered = recover_cell_dir(config.work, cell)
        if recovered:
            print(f"fleet: {cell.cell_id}: {recovered}", flush=True)


def _texts(matrix: Matrix) -> dict:
    read = {"labels": matrix.data.labels, "classes": matrix.data.classes}
    texts = {}
    for name, path in read.items():
        if path is None:
            texts[name] = None
            continue
        try:
            texts[name] = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{path}: {name} file unreadable ({exc.strerror}); fix data.{name} in "
                             f"{matrix.source}") from None
    return texts


def _input_hashes(matrix: Matrix) -> dict:
    """Content hash of each input: the data set, the labels and every model file (an ONNX model with its external
    data files), by its path (two models of one name with other weights each keep their own)."""
    paths = {"data": matrix.data.path,
             **{_model_file_key(kind, path): path for cell in matrix.cells for kind, path in _model_files(cell)}}
    hashes = {name: content_hash(Path(path)) for name, path in paths.items()}
    hashes["labels"] = sha256_text(Path(matrix.data.labels).read_text(encoding="utf-8"))
    return hashes


def _model_files(cell: Cell) -> list[tuple[str, str]]:
    """(kind, path) of each model file the cell names: its checkpoint and/or its ONNX model."""
    return [(kind, getattr(cell.model, kind)) for kind in MODEL_FILE_KINDS if getattr(cell.model, kind)]


def _model_file_key(kind: str, path: str) -> str:
    return f"{kind}:{path}"


def _cell_key(cell: Cell, inputs: dict) -> str:
    files = {_model_file_key(kind, path) for kind, path in _model_files(cell)}
    own = {k: v for k, v in inputs.items() if ":" not in k or k in files}
    return sha256_text(json.dumps({"cell": cell.to_dict(), "inputs": own, "version": FLEET_VERSION},
                                  sort_keys=True))


def _run_cells(config: FleetConfig, matrix: Matrix, cells: list[Cell], keys: dict, texts: dict) -> None:
    ray = import_ray()
    shipped = {matrix.data.path: ship(Path(matrix.data.path), matrix.data.transfer, ray.put)}  # each put once
    task = ray.remote(run_cell_task)
    pending: dict = {}
    for cell in cells:
        cell_shipments = {"data": shipped[matrix.data.path]}
        for kind, path in _model_files(cell):
            if path not in shipped:
                shipped[path] = ship(Path(path), matrix.data.transfer, ray.put)
            cell_shipments[kind] = shipped[path]
        options = {**cell.resources(), "max_retries": config.max_retries, "retry_exceptions": False}
        refs = [task.options(**options).remote(cell, (i, cell.shards), cell_shipments, texts, str(config.cache))
                for i in range(cell.shards)]
        pending[cell.cell_id] = Pending(cell, keys[cell.cell_id], refs)
    _wait_all(config, pending, texts)


def _wait_all(config: FleetConfig, pending: dict, texts: dict) -> None:
    ray = import_ray()
    owner = {ref: (cell_id, index) for cell_id, p in pending.items() for index, ref in enumerate(p.refs)}
    while owner:
        ready, _ = ray.wait(list(owner), num_returns=1, timeout=2.0)
        for ref in ready:
            cell_id, index = owner.pop(ref)
            p = pending[cell_id]
            p.results[index] = _result_of(ref)
            if len(p.results) == len(p.refs):
                _store(config, p, texts)
        _cancel_unplaceable(config, pending, owner)


def _result_of(ref) -> dict:
    ray = import_ray()
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return {"status": "failed", "reason": f"{type(exc).__name__}: {first}"[:500], "node": None, "files": {}}


def _cancel_unplaceable(config: FleetConfig, pending: dict, owner: dict) -> None:
    """A task that no live node can take (its node died and no other has the hardware) waits for ever in Ray:
    after unplaceable_after_s it is cancelled and its cell recorded as failed."""
    ray = import_ray()
    nodes = alive_node_resources()
    now = time.monotonic()
    for ref, (cell_id, index) in list(owner.items()):
        p = pending[cell_id]
        request = p.cell.resources()
        if any(fits(request, totals) for totals in nodes):
            p.unplaceable_since = None
            continue
        p.unplaceable_since = p.unplaceable_since or now
        if now - p.unplaceable_since >= config.unplaceable_after_s:
            ray.cancel(ref, force=True)
            owner.pop(ref)
            p.results[index] = {"status": "failed", "node": None, "files": {},
                                "reason": f"no live node has the resources it needs ({describe(request)}) for "
                                          f"{config.unplaceable_after_s:g} s"}
            if len(p.results) == len(p.refs):
                _store(config, p, {})


def _store(config: FleetConfig, p: Pending, texts: dict) -> None:
    results = [p.results[i] for i in sorted(p.results)]
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        reason = "; ".join(sorted({r["reason"] for r in failed}))
        store_failure(config.work, p.cell, p.key, reason, results)
        print(f"fleet: {p.cell.cell_id}: failed: {reason}", flush=True)
        return
    status = "out_of_memory" if any(r["status"] == "out_of_memory" for r in results) else "ok"
    reason = "; ".join(r["reason"] for r in results if r.get("reason"))
    try:
        store_cell(config.work, p.cell, p.key, results, status, reason, texts)
    except (HarnessError, RuntimeError, OSError, KeyError) as exc:
        store_failure(config.work, p.cell, p.key, f"storing the results failed: {exc}", results)
        print(f"fleet: {p.cell.cell_id}: failed: storing the results: {exc}", flush=True)
        return
    where = ", ".join(f"{r['node']['hostname']} node {r['node']['node_id'][:8]} device {r['device']}" for r in results)
    print(f"fleet: {p.cell.cell_id}: {status} ({where})", flush=True)


def _finish(config: FleetConfig, matrix: Matrix) -> dict:
    records = {}
    for cell in matrix.cells:
        path = cell_dir(config.work, cell) / "cell.json"
        records[cell.cell_id] = json.loads(path.read_text()) if path.is_file() else {"status": "missing"}
    summary = {"kind": "harness.fleet", "matrix": str(matrix.source),
               "cells": {cid: {"status": r.get("status"), "reason": r.get("reason", "")} for cid, r in records.items()}}
    fleet_dir = Path(config.work) / "fleet"
    write_json(fleet_dir / "fleet.json", summary)
    finished = [cell_dir(config.work, c) for c in matrix.cells if records[c.cell_id].get("status") != "failed"]
    if config.report and finished:
        _report(finished, fleet_dir / "report")
    failed = {cid: r for cid, r in summary["cells"].items() if r["status"] != "ok"
              and r["status"] != "out_of_memory"}
    if failed:
        first = next(iter(failed.items()))
        raise HarnessError(f"{fleet_dir / 'fleet.json'}: {len(failed)} of {len(records)} cell(s) failed (first: "
                           f"{first[0]}: {first[1]['reason']}); fix that and rerun the same command (finished cells "
                           "are skipped)")
    return summary


def _report(cell_dirs: list[Path], output: Path) -> None:
    argv = [sys.executable, "-m", "report", "--input", *map(str, cell_dirs), "--output", str(output)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no output"]
        raise HarnessError(f"{output}: the report over the fleet's cells failed: {lines[-1]}")

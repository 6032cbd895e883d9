"""One cell (or one shard of it) on the node Ray placed it on: the stages as today, the small files sent back.

The node keeps a cache (preprocessed data sets by recipe, converted models by build, unpacked inputs) under
CACHE/<node id>; the driver gets the sidecars, summaries and scores, never the per-image outputs (except a
shard's, which the driver merges).
"""
from __future__ import annotations

import io
import json
from contextlib import nullcontext
import os
import socket
import tarfile
import time
from pathlib import Path

from fleet.matrix import DEVICE_RESOURCES, MODEL_FILE_KINDS, Cell
from fleet.shipping import materialize, node_lock
from harness.errors import HarnessError
from fleet.stages import (OUT_OF_MEMORY_EXIT, StageFailed, StageRunner, convert_args, convert_key, infer_args,
                          postprocess_args, preprocess_args, recipe_key, stage_env)

CPU_TIMED_LOCK = "cpu-timed.lock"  # one timed CPU run at a time on a machine (all its Ray nodes share it)


def node_facts() -> dict:
    import ray

    context = ray.get_runtime_context()
    node_id = context.get_node_id()
    address = next((n.get("NodeManagerAddress") for n in ray.nodes() if n.get("NodeID") == node_id), None)
    return {"node_id": node_id, "ip": address, "hostname": socket.gethostname(),
            "pid": os.getpid(), "accelerator_ids": {k: list(v) for k, v in context.get_accelerator_ids().items() if v}}


def device_for(cell: Cell, node: dict) -> tuple[str, dict]:
    """The --device index the stages get and the visibility variables they run under.

    Ray hides all but the task's GPU (CUDA_VISIBLE_DEVICES), so that GPU is device 0. An NPU is given by its
    physical index with every NPU visible, because npu-smi (the idle check, power) knows physical indices only."""
    resource = DEVICE_RESOURCES.get(cell.target.name, (None, None))[0]
    if resource == "NPU":
        ids = node["accelerator_ids"].get("NPU") or ["0"]
        return str(ids[0]), {"ASCEND_RT_VISIBLE_DEVICES": None, "ASCEND_VISIBLE_DEVICES": None}
    return "0", {}


def run_cell_task(cell: Cell, shard: tuple[int, int], shipments: dict, texts: dict, cache_root: str) -> dict:
    """The Ray task body: never raises for a stage failure, it returns it (a node that dies is Ray's to retry)."""
    import ray

    node = node_facts()
    cache = Path(cache_root) / node["node_id"][:16]
    marker = cache / "running" / f"{cell.cell_id}.shard{shard[0]}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"cell": cell.cell_id, "shard": shard, "raylet_pid": os.getppid(), **node}))
    log: list[str] = []
    started = time.time()
    try:
        files = _run_stages(cell, shard, shipments, texts, Path(cache_root), cache, node, log, ray.get)
        status, reason = files.pop("__status__", ("ok", ""))
    except (StageFailed, HarnessError) as exc:
        files, status, reason = {}, "failed", str(exc)
    finally:
        marker.unlink(missing_ok=True)
    files["stages.log"] = "".join(log).encode()
    return {"status": status, "reason": reason, "node": node, "device": device_for(cell, node)[0],
            "shard": list(shard), "seconds": round(time.time() - started, 3), "files": files}


def _run_stages(cell: Cell, shard: tuple[int, int], shipments: dict, texts: dict, cache_root: Path, cache: Path,
                node: dict, log: list, get) -> dict:
    device, visibility = device_for(cell, node)
    stage = StageRunner(env=stage_env(visibility), log=log)
    data = materialize(shipments["data"], cache, get)
    model_files = {k: materialize(s, cache, get) for k, s in shipments.items() if k in MODEL_FILE_KINDS}
    labels = _write_text(cache / "labels", texts, "labels")
    classes = _write_text(cache / "labels", texts, "classes")
    prep_key = recipe_key(cell, shipments["data"].sha256)
    prep = cache / "prep" / f"{cell.model.name}-{prep_key}"
    with node_lock(prep.with_suffix(".lock")):  # once per recipe per node; the others wait and reuse it
        stage("preprocess", *preprocess_args(cell, data, prep))
    model_hashes = {k: s.sha256 for k, s in shipments.items() if k in model_files}
    model_dir = cache / "models" / cell.model.name / convert_key(cell, prep_key, model_hashes)
    with node_lock(model_dir.with_suffix(".lock")):
        stage("convert", *convert_args(cell, prep, model_dir, model_files.get("checkpoint"), model_files.get("onnx")))
    runs = cache / "runs" / f"{cell.cell_id}-shard{shard[0]}of{shard[1]}"
    files = {"preprocess.json": (prep / "preprocess.json").read_bytes(),
             "convert.json": (model_dir / "convert.json").read_bytes()}
    try:
        with _timed_device(cell, cache_root):
            stage("infer", *infer_args(cell, model_dir, prep, runs, device, shard))
    except StageFailed as exc:
        if exc.returncode != OUT_OF_MEMORY_EXIT:
            raise
        files["__status__"] = ("out_of_memory", str(exc))
    summary = runs / f"{cell.run_name}_summary.json"
    files[summary.name] = summary.read_bytes()
    if cell.sweep == "accuracy" and "__status__" not in files:
        if shard[1] > 1:
            files["outputs.tar"] = _tar_directory(runs / cell.run_name)
        else:
            stage("postprocess", *postprocess_args(runs / cell.run_name, labels, classes))
            for name in ("result.json", "result_details.json"):
                files[f"{cell.run_name}/{name}"] = (runs / cell.run_name / name).read_bytes()
    return files


def _timed_device(cell: Cell, cache_root: Path):
    """A GPU or NPU is the task's alone through its Ray resource; the CPU is shared by every task of the machine,
    so a timed CPU run (cpu and null targets) holds a machine-wide lock while it runs."""
    if cell.target.name in DEVICE_RESOURCES:
        return nullcontext()
    return node_lock(cache_root / CPU_TIMED_LOCK)


def _write_text(directory: Path, texts: dict, name: str) -> Path | None:
    if texts.get(name) is None:
        return None
    from harness.files import atomic_write_text, sha256_text

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{sha256_text(texts[name])[:16]}.txt"
    if not path.exists():
        atomic_write_text(path, texts[name])
    return path


def _tar_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(directory), arcname=".")
    return buffer.getvalue()

"""Content hashes of everything a conversion depends on, computed without importing torch.

`onnx_key` covers what the ONNX depends on; `build_key` adds what only the target artifact depends
on. Large input files are hashed once and the hash reused while their (path, size, mtime) holds.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from convert.input_form import input_form
from convert.plan import Plan
from harness.contracts import ConvertManifest
from harness.files import sha256_file, sha256_text
from harness.vocabulary import Precision
from targets.options import BUILD

CONVERTER_DIR = Path(__file__).resolve().parent
EXPORT_PACKAGES = ("torch", "onnx", "onnxsim", "onnxruntime")
SOURCE_PACKAGES = {"timm": ("timm",), "mmcls": ("mmcls", "mmcv"), "onnx": (), "tensorflow": ()}
# The converter's own modules whose code shapes the files it writes: a fix in them must rebuild. The
# shared helpers that read ONNX specs and measure the verification's error count as the converter's own.
EXPORT_MODULES = ("checkpoints.py", "export.py", "frameworks.py", "layouts.py", "loader.py", "mmcls_model.py",
                  "onnx_tools.py", "input_form.py", "tf_job.py", "tf_source.py", "../harness/onnx_meta.py",
                  "../harness/parity.py")
PRECISION_MODULES = ("calibration.py", "precision.py", "../harness/onnx_meta.py")
ONNX_PARTS = ("name", "export_code", "model_source", "checkpoint", "layout", "opset", "export_tools", "input_form")
ARTIFACT_PARTS = ("precision", "precision_code", "batch", "target", "preprocess", "calibration", "target_tools")


@dataclass
class Fingerprint:
    parts: dict[str, str]  # part name -> sha256 of its canonical value
    values: dict[str, object]  # the readable values behind the hashes, recorded in the sidecar
    onnx_key: str
    build_key: str
    files: dict[str, dict] = field(default_factory=dict)  # input file records: path, size, mtime_ns, sha256


def canonical_hash(value: object) -> str:
    return sha256_text(json.dumps(value, sort_keys=True, default=str))


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def file_record(path: Path, previous: dict | None) -> dict:
    """path, size, mtime_ns and sha256; the hash is reused when the previous record has the same stat."""
    stat = os.stat(path)
    record = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if previous and all(previous.get(k) == record[k] for k in record) and previous.get("sha256"):
        record["sha256"] = previous["sha256"]
    else:
        record["sha256"] = sha256_file(path)
    return record


def external_data_records(onnx: Path, record: dict, before: dict) -> dict[str, dict]:
    """File records of the given ONNX's external data files (role `onnx_data:<location>`); their locations are kept
    in the ONNX's record and read again only when the .onnx changed."""
    from convert.external_data import external_data_files, external_data_locations

    previous = before.get("onnx_input") or {}
    if previous.get("sha256") == record["sha256"] and "external_data" in previous:
        locations = list(previous["external_data"])
    else:
        locations = external_data_locations(onnx)
    record["external_data"] = locations  # [] too: an unchanged .onnx is not parsed again
    return {f"onnx_data:{location}": file_record(data, before.get(f"onnx_data:{location}"))
            for location, data in zip(locations, external_data_files(onnx, locations))}


def code_hash(modules: tuple[str, ...]) -> str:
    paths = [CONVERTER_DIR / name for name in modules]
    return sha256_text("\n".join(f"{p.name}:{sha256_file(p)}" for p in paths if p.is_file()))


def config_with_bases(path: Path, seen: set[Path] | None = None) -> list[Path]:
    """An mmcls config file and the `_base_` files it inherits from, recursively."""
    seen = set() if seen is None else seen
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    files = [path]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return files
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_base_" for t in node.targets):
            names = ast.literal_eval(node.value) if isinstance(node.value, (ast.Constant, ast.List)) else []
            for name in [names] if isinstance(names, str) else names:
                files += config_with_bases((path.parent / name).resolve(), seen)
    return files


def _model_source(plan: Plan, files: dict) -> dict:
    versions = {name: package_version(name) for name in SOURCE_PACKAGES[plan.kind]}
    if plan.kind == "onnx":
        data = {role.split(":", 1)[1]: record["sha256"] for role, record in files.items()
                if role.startswith("onnx_data:")}
        return {"kind": "onnx", "sha256": files["onnx_input"]["sha256"], **({"external_data": data} if data else {})}
    if plan.kind == "tensorflow":
        from convert.tf_source import source_fingerprint

        config = plan.config
        return source_fingerprint(plan.tensorflow, config.tf_inputs, config.tf_outputs, plan.tf_python)
    if plan.kind == "mmcls":
        config_hashes = [sha256_file(p) for p in config_with_bases(plan.mmcls_config)]
        return {"kind": "mmcls", "config": config_hashes, **versions}
    return {"kind": "timm", "arch": plan.spec.arch, "num_classes": plan.spec.num_classes,
            "registered": plan.spec.registered, "data": plan.spec.data, **versions}


def _calibration(plan: Plan) -> dict | None:
    """The contents of exactly the files that calibrate, their count and the method."""
    config = plan.config
    if config.precision != Precision.INT8 or config.calib is None or not plan.makes_precision_onnx:
        return None
    from convert.calibration import calibration_fingerprint

    return {"dir": str(Path(config.calib).resolve()), "count": config.calib_count, "method": config.calib_method,
            "files": calibration_fingerprint(config.calib, config.calib_count, config.calib_method)}


def preprocess_recipe(manifest: dict | None) -> dict | None:
    """What a target may build into the artifact (AIPP): the recipe and tensor format, not the file list."""
    if not manifest:
        return None
    return {key: manifest.get(key) for key in ("shape", "dtype", "layout", "recipe")}


def _values(plan: Plan, files: dict) -> dict:
    config = plan.config
    checkpoint = files.get("checkpoint", {}).get("sha256") or "none: random weights"
    return {
        "name": plan.name,
        "export_code": code_hash(EXPORT_MODULES),
        "model_source": _model_source(plan, files),
        "checkpoint": {"onnx": "none: ONNX given", "tensorflow": "none: in the TensorFlow model"}.get(
            plan.kind, checkpoint),
        "layout": config.layout,
        "opset": plan.opset,
        "export_tools": {**{name: package_version(name) for name in EXPORT_PACKAGES},
                         "python": platform.python_version()},
        "precision": config.precision,
        "precision_code": code_hash(PRECISION_MODULES) if plan.makes_precision_onnx else None,
        "batch": {"sizes": config.batch_sizes, "dynamic": config.dynamic_batch},
        "target": {"name": plan.target.name, "options": plan.target.resolved_options().changed(BUILD)},
        "preprocess": preprocess_recipe(plan.preprocess),
        "input_form": None if plan.kind in ("onnx", "tensorflow") else input_form(plan.preprocess, plan.target.name),
        "calibration": _calibration(plan),
        "target_tools": plan.target.versions(),
    }


def compute_fingerprint(plan: Plan, previous: ConvertManifest | None) -> Fingerprint:
    before = previous.source.get("files", {}) if previous else {}
    files = {}
    for role, path in (("checkpoint", plan.checkpoint), ("onnx_input", plan.onnx_input)):
        if path is not None:
            files[role] = file_record(path, before.get(role))
    if plan.onnx_input is not None:
        files.update(external_data_records(plan.onnx_input, files["onnx_input"], before))
    values = _values(plan, files)
    parts = {name: canonical_hash(value) for name, value in values.items()}
    if "checkpoint" in files:
        parts["checkpoint"] = files["checkpoint"]["sha256"]  # the file's own content hash, as recorded
    onnx_key = canonical_hash([parts[name] for name in ONNX_PARTS])
    build_key = canonical_hash([onnx_key] + [parts[name] for name in ARTIFACT_PARTS])
    return Fingerprint(parts=parts, values=values, onnx_key=onnx_key, build_key=build_key, files=files)


def output_record(path: Path) -> dict:
    """What an output looked like when written; a later run compares size and mtime only (cheap)."""
    if path.is_dir():
        return {"size": None, "mtime_ns": path.stat().st_mtime_ns, "sha256": None}
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}


def outputs_intact(manifest: ConvertManifest, out_dir: Path, names: list[str]) -> bool:
    recorded = manifest.hashes.get("files", {})
    for name in names:
        path, before = out_dir / name, recorded.get(name)
        if before is None or not path.exists():
            return False
        stat = path.stat()
        if stat.st_mtime_ns != before["mtime_ns"] or (before["size"] is not None and stat.st_size != before["size"]):
            return False
    return True

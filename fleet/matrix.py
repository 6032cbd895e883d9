"""The matrix file (YAML or JSON): models x targets x precisions x batch sizes x sweeps, and the cells it makes.

A cell is one pipeline run: (model, target, precision, batch size, sweep). Its id names it in WORK/fleet/, its key
is the content hash of its definition and its inputs: a stored cell whose key is unchanged is not run again.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import InputError
from harness.files import sha256_text
from harness.vocabulary import PRECISIONS

SWEEPS = ("accuracy", "pure")
TRANSFERS = ("auto", "object_store")
DEFAULT_PURE = {"loop": 200, "warmup": 20, "time_limit": 60}
DEFAULT_CALIB = {"count": 48, "method": "entropy"}
PREPROCESS_KEYS = {"mode", "preset", "resize", "input_size", "interpolation", "crop", "mean", "std"}
# A device resource a target's cell asks Ray for; a target not listed (cpu, null) asks for CPUs only.
DEVICE_RESOURCES = {"nvidia": ("GPU", "num_gpus"), "ascend": ("NPU", "resources")}
MODEL_FILE_KINDS = ("checkpoint", "onnx")  # a model's files: shipped to the nodes, hashed into its cells' keys
MATRIX_KEYS = ("data", "models", "targets", "precisions", "batch_sizes", "sweep", "pure", "calib", "shards")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    checkpoint: str | None = None
    onnx: str | None = None
    preprocess: dict = field(default_factory=dict)  # preprocess flags: mode, preset, resize, input_size, ...


@dataclass(frozen=True)
class TargetEntry:
    name: str
    options: dict = field(default_factory=dict)  # target options (engine=torch, soc_version=...)
    cpus: int = 1
    shards: int = 1


@dataclass(frozen=True)
class DataEntry:
    path: str
    labels: str
    classes: str | None = None
    transfer: str = "auto"  # auto: a path that exists on the node, else the object store


@dataclass(frozen=True)
class Cell:
    model: ModelEntry
    target: TargetEntry
    precision: str
    batch_size: int
    sweep: str
    pure: dict
    calib: dict

    @property
    def cell_id(self) -> str:
        engine = self.target.options.get("engine")
        name = f"{self.model.name}-{self.target.name}{f'-{engine}' if engine else ''}-{self.precision}-bs{self.batch_size}"
        return f"{name}-{self.sweep}-{self.definition_hash()[:8]}"

    @property
    def run_name(self) -> str:
        return self.cell_id

    @property
    def shards(self) -> int:
        return self.target.shards if self.sweep == "accuracy" else 1

    def to_dict(self) -> dict:
        return asdict(self)

    def definition_hash(self) -> str:
        return sha256_text(json.dumps(self.to_dict(), sort_keys=True))

    def resources(self) -> dict:
        """The Ray resource request of one task of this cell: the target's device, or CPUs."""
        device = DEVICE_RESOURCES.get(self.target.name)
        if device is None:
            return {"num_cpus": self.target.cpus}
        name, how = device
        if how == "num_gpus":
            return {"num_cpus": 1, "num_gpus": 1}
        return {"num_cpus": 1, "resources": {name: 1}}


@dataclass(frozen=True)
class Matrix:
    source: Path
    data: DataEntry
    cells: list[Cell]


def load_matrix(path: Path) -> Matrix:
    path = Path(path)
    raw = _read(path)
    unknown = sorted(set(raw) - set(MATRIX_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown keys {unknown}; a matrix file has {', '.join(MATRIX_KEYS)} (see "
                         "docs/fleet.md)")
    data = _data_entry(raw.get("data"), path)
    models = [_model_entry(m, path) for m in _list(raw, "models", path)]
    targets = [_target_entry(t, path, raw.get("shards", 1)) for t in _list(raw, "targets", path)]
    precisions = [_precision(p, path) for p in _axis(raw, "precisions", ["fp32"], path)]
    batches = [_positive(b, "batch_sizes", path) for b in _axis(raw, "batch_sizes", [8], path)]
    sweeps = _axis(raw, "sweep", ["accuracy"], path)
    unknown = [s for s in sweeps if s not in SWEEPS]
    if unknown:
        raise InputError(f"{path}: unknown sweep {unknown}; use {' and/or '.join(SWEEPS)}")
    pure = {**DEFAULT_PURE, **_settings(raw, "pure", PURE_CHECKS, path)}
    if "stable_ci" in pure and not pure["time_limit"]:
        raise InputError(f"{path}: 'pure.stable_ci' acts with a time limit only (it ends a loop that time_limit "
                         "lets go on), and 'pure.time_limit' is 0; give time_limit in seconds, or drop stable_ci")
    calib = {**DEFAULT_CALIB, **_settings(raw, "calib", CALIB_CHECKS, path)}
    cells = [Cell(m, t, p, b, s, pure if s == "pure" else {}, calib if p == "int8" else {})
             for m in models for t in targets for p in precisions for b in batches for s in sweeps]
    _refuse_duplicates(cells, path)
    return Matrix(source=path, data=data, cells=cells)


def _axis(raw: dict, key: str, default: list, path: Path) -> list:
    """One axis of the matrix: a non-empty list (a single value is a list of one), each value once."""
    value = raw.get(key, default)
    value = [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
    if not isinstance(value, list) or not value:
        raise InputError(f"{path}: '{key}' must be a non-empty list, found {value!r} (see docs/fleet.md)")
    repeated = sorted({str(v) for v in value if value.count(v) > 1})
    if repeated:
        raise InputError(f"{path}: '{key}' lists {', '.join(repeated)} more than once; list each value once")
    return value


def _precision(value: object, path: Path) -> str:
    if value not in PRECISIONS:
        raise InputError(f"{path}: precisions takes {', '.join(PRECISIONS)}, found {value!r}")
    return str(value)


def _settings(raw: dict, key: str, checks: dict, path: Path) -> dict:
    """A mapping of settings (pure, calib): each key one it knows, each value what its stage accepts."""
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise InputError(f"{path}: '{key}' must be a mapping (e.g. {key}: {{...}}), found {value!r} (see "
                         "docs/fleet.md)")
    unknown = sorted(set(value) - set(checks), key=str)
    if unknown:
        raise InputError(f"{path}: '{key}' has unknown keys {unknown}; it takes {', '.join(checks)} (see "
                         "docs/fleet.md)")
    for name, setting in value.items():
        expected = checks[name](setting)
        if expected:
            raise InputError(f"{path}: '{key}.{name}' takes {expected}, found {setting!r}")
    return value


def _integer_problem(value, smallest: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
        return f"an integer of {smallest} or more"
    return ""


def _number_problem(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return "a finite number of 0 or more"
    return ""


def _calib_method_problem(value) -> str:
    from convert.cli import CALIB_METHODS

    return "" if value in CALIB_METHODS else f"one of {', '.join(CALIB_METHODS)}"


# What infer's --loop, --warmup_count, --time_limit, --stable_ci and convert's --calib-count, --calib-method take.
PURE_CHECKS = {"loop": lambda v: _integer_problem(v, 1), "warmup": lambda v: _integer_problem(v, 0),
               "time_limit": _number_problem, "stable_ci": _number_problem}
CALIB_CHECKS = {"count": lambda v: _integer_problem(v, 1), "method": _calib_method_problem}


def _refuse_duplicates(cells: list[Cell], path: Path) -> None:
    """Two entries that make the same cell (the same model or target listed twice) would run it twice into one
    directory."""
    seen: set[str] = set()
    for cell in cells:
        if cell.cell_id in seen:
            raise InputError(f"{path}: cell {cell.cell_id} comes out of the matrix twice (a model or target "
                             "listed twice with the same settings); list each once")
        seen.add(cell.cell_id)


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: matrix file unreadable ({exc.strerror}); pass --matrix FILE") from None
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise their own error types
        raise InputError(f"{path}: not a valid matrix file ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a matrix file is a mapping with models, targets, data (see docs/fleet.md)")
    return raw


def _list(raw: dict, key: str, path: Path) -> list:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise InputError(f"{path}: '{key}' must be a non-empty list (see docs/fleet.md)")
    return value


def _positive(value, what: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{path}: {what} takes integers of 1 or more, found {value!r}")
    return value


def _data_entry(raw, path: Path) -> DataEntry:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or not raw.get("path"):
        raise InputError(f"{path}: 'data' needs a path (a directory of images), e.g. data: {{path: data/sample}}")
    base = path.parent
    data_dir = _resolve(raw["path"], base)
    labels = _resolve(raw.get("labels") or str(Path(data_dir) / "val_label.txt"), base)
    classes = raw.get("classes")
    if "classes" not in raw and (Path(data_dir) / "classes.txt").is_file():  # `classes: null` says there is none
        classes = str(Path(data_dir) / "classes.txt")
    transfer = raw.get("transfer", "auto")
    if transfer not in TRANSFERS:
        raise InputError(f"{path}: data transfer {transfer!r}; use one of {', '.join(TRANSFERS)}")
    return DataEntry(path=data_dir, labels=labels, classes=_resolve(classes, base) if classes else None,
                     transfer=transfer)


def _resolve(text: str, base: Path) -> str:
    """A relative path is taken from the current directory when it exists there, else from the matrix file's."""
    candidate = Path(text).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return str(candidate.resolve())
    return str((base / candidate).resolve())


def _model_entry(raw, path: Path) -> ModelEntry:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict) or not raw.get("name"):
        raise InputError(f"{path}: each model needs a name (and optionally checkpoint, onnx, preprocess)")
    unknown = set(raw.get("preprocess") or {}) - PREPROCESS_KEYS
    if unknown:
        raise InputError(f"{path}: model {raw['name']}: unknown preprocess keys {sorted(unknown)}; allowed: "
                         f"{sorted(PREPROCESS_KEYS)}")
    files = {k: _resolve(str(raw[k]), path.parent) for k in MODEL_FILE_KINDS if raw.get(k)}
    return ModelEntry(name=str(raw["name"]), preprocess=dict(raw.get("preprocess") or {}), **files)


def _target_entry(raw, path: Path, default_shards: int) -> TargetEntry:
    if isinstance(raw, str) or raw is None:
        raw = {"name": raw}
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{path}: each target needs a name (cpu, nvidia, ascend, null; in YAML write the null "
                         "target as 'null', in quotes)")
    shards = _positive(raw.get("shards", default_shards), f"target {name} shards", path)
    cpus = _positive(raw.get("cpus", 1), f"target {name} cpus", path)
    options = dict(raw.get("options") or {})
    return TargetEntry(name=name, options=options, cpus=cpus, shards=shards)

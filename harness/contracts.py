"""The file contracts between stages: one dataclass per sidecar, written as JSON beside the output.

Each stage reads the previous stage's sidecar instead of repeated flags, and refuses a mismatch
(shape, dtype, layout) with one line that names the file.

Every record carries `schema_version`. A file of a newer version than this harness knows is refused (its keys
may mean something else); a file written before versions existed has none and is read as LEGACY_SCHEMA_VERSION,
which readers such as the report label.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from harness.errors import ContractError
from harness.files import read_json, write_json
from harness.summary_views import SummaryViews

T = TypeVar("T", bound="Sidecar")

SCHEMA_VERSION = 2  # what this harness writes; raise it when a record's keys change meaning
LEGACY_SCHEMA_VERSION = 1  # files without `schema_version`: written before versions existed
# postprocess's details beside the ModelZoo result.json (whose public format has no room for a version)
ACCURACY_DETAILS_KIND = "harness.accuracy_details"
# a run over several devices: what its end-to-end figure divides by (`extra.end_to_end_wall`)
END_TO_END_WALL_SPAN = "span"  # first timed loop start to last end, on the monotonic clock of one boot
END_TO_END_WALL_LONGEST = "longest device"  # loops without a shared clock: they are taken to have overlapped

DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int8": np.int8,
          "int32": np.int32, "int64": np.int64}


def numpy_dtype(name: str) -> np.dtype:
    try:
        return np.dtype(DTYPES[name])
    except KeyError:
        raise ContractError(f"unsupported dtype {name!r}; expected one of {sorted(DTYPES)}") from None


@dataclass
class TensorSpec:
    """A named tensor; -1 in `shape` marks the dynamic batch axis."""

    name: str
    shape: list[int]
    dtype: str = "float32"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[1:])

    @property
    def sample_nbytes(self) -> int:
        return int(np.prod(self.sample_shape)) * numpy_dtype(self.dtype).itemsize

    def batch_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, *self.sample_shape)


def conforms(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON has the type a sidecar field declares (a bool is not a number here)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is list or origin is list:
        return isinstance(value, list) and all(conforms(v, args[0]) for v in value if args)
    if hint is dict or origin is dict:
        return isinstance(value, dict) and all(conforms(k, args[0]) and conforms(v, args[1])
                                               for k, v in value.items() if args)
    if typing.is_typeddict(hint):
        fields = typing.get_type_hints(hint)
        return (isinstance(value, dict) and set(fields) <= set(value)
                and all(conforms(value[k], fields[k]) for k in fields))
    return isinstance(value, hint) if isinstance(hint, type) else True


def shown(value: Any) -> str:
    """A value read from JSON as a message quotes it: in JSON, cut short."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(hint: Any) -> str:
    """A declared type as a message shows it: list[int], int | None, {name: str, shape: list[int]}."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if typing.is_typeddict(hint):
        return "{" + ", ".join(f"{k}: {type_name(v)}" for k, v in typing.get_type_hints(hint).items()) + "}"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if args:
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def field_error(source: str, kind: str, name: str, value: Any, expected: str) -> ContractError:
    return ContractError(f"{source}: {kind} field {name!r} is {shown(value)}, expected {expected}; "
                         "rerun the stage that wrote it")


def tensor_spec(value: Any, source: str, kind: str, name: str) -> TensorSpec:
    """A TensorSpec field read from JSON: {"name": str, "shape": [int, ...], "dtype": str}."""
    fields = typing.get_type_hints(TensorSpec)
    if (isinstance(value, dict) and set(value) <= set(fields) and {"name", "shape"} <= set(value)
            and all(conforms(v, fields[k]) for k, v in value.items())):
        return TensorSpec(**value)  # a dtype numpy has no name for is refused where its size is needed
    raise field_error(source, kind, name, value, "a tensor {name: str, shape: list[int], dtype: str}")


def checked_schema_version(data: dict, source: str, kind: str) -> int:
    """The schema version of a record read from `source`; one clear error for a version this harness cannot read."""
    version = data.get("schema_version", LEGACY_SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < LEGACY_SCHEMA_VERSION:
        raise ContractError(f"{source}: {kind} record has schema_version {version!r}, not a version number; "
                            "rerun the stage that wrote it")
    if version > SCHEMA_VERSION:
        raise ContractError(f"{source}: {kind} record of schema_version {version}, newer than this harness reads "
                            f"(up to {SCHEMA_VERSION}); update the harness, or rerun the stage that wrote it with "
                            "this one")
    return version


def schema_label(version: int, what: str) -> str:
    """How the report names a record of an older schema version; '' for the current one."""
    if version >= SCHEMA_VERSION:
        return ""
    if version == LEGACY_SCHEMA_VERSION:
        return f"{what} of schema {version} (legacy: written before schema versions)"
    return f"{what} of schema {version} (older)"


@dataclass
class Sidecar:
    """Base for sidecar dataclasses: JSON round trip with a `kind` tag and a schema version checked on read."""

    KIND: ClassVar[str] = ""
    FILENAME: ClassVar[str] = ""
    # a field whose declared type is loose (list[dict]) checked closer on reading: name -> the type its items have
    ITEM_HINTS: ClassVar[dict[str, Any]] = {}

    schema_version: int = field(default=SCHEMA_VERSION, kw_only=True)

    @property
    def schema_label(self) -> str:
        return schema_label(self.schema_version, self.FILENAME)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["schema_version"] = SCHEMA_VERSION  # a record read from an older file was upgraded on reading
        return {"kind": self.KIND, **data}

    @classmethod
    def from_dict(cls: type[T], data: dict, source: str = "") -> T:
        if not isinstance(data, dict) or data.get("kind") != cls.KIND:
            found = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise ContractError(f"{source}: expected a {cls.KIND} sidecar, found {found!r}; "
                                "point at the output directory of the right stage")
        version = checked_schema_version(data, source, cls.KIND)
        data = cls.upgraded(data, version)
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)} - {"schema_version"}
        kwargs = {k: v for k, v in data.items() if k in names}
        for name, value in kwargs.items():
            hint = cls.ITEM_HINTS.get(name, hints[name])
            if hint is TensorSpec:
                kwargs[name] = tensor_spec(value, source, cls.KIND, name)
            elif not conforms(value, hint):
                raise field_error(source, cls.KIND, name, value, type_name(hint))
        kwargs["schema_version"] = version
        try:
            record = cls(**kwargs)
        except TypeError as exc:
            raise ContractError(f"{source}: {cls.KIND} sidecar is incomplete ({exc}); rerun the stage "
                                "that wrote it") from None
        record.check_values(source)
        return record

    def check_values(self, source: str) -> None:
        """Values the field types allow that this harness cannot use: one error naming the file."""

    @classmethod
    def upgraded(cls, data: dict, version: int) -> dict:
        """The keys of an older version as this one declares them (a record whose keys did not change: as is)."""
        return data

    def write(self, directory: Path) -> Path:
        path = Path(directory) / self.FILENAME
        write_json(path, self.to_dict())
        return path

    @classmethod
    def read(cls: type[T], directory: Path) -> T:
        return cls.read_file(Path(directory) / cls.FILENAME)

    @classmethod
    def read_file(cls: type[T], path: Path) -> T:
        return cls.from_dict(read_json(Path(path), f"{cls.KIND} sidecar"), str(path))


@dataclass
class PreprocessManifest(Sidecar):
    """What a .bin directory holds: one raw little-endian tensor per image, no header."""

    KIND: ClassVar[str] = "harness.preprocess"
    FILENAME: ClassVar[str] = "preprocess.json"

    shape: list[int]
    dtype: str
    layout: str
    recipe: dict
    files: list[dict] = field(default_factory=list)  # {"stem", "source", "size", "mtime_ns"} in sorted stem order
    skipped: list[dict] = field(default_factory=list)  # {"source", "reason"}
    ignored: list[dict] = field(default_factory=list)  # {"path", "reason"}: under --input, not images

    @property
    def sample_nbytes(self) -> int:
        return int(np.prod(self.shape)) * numpy_dtype(self.dtype).itemsize


@dataclass
class ConvertManifest(Sidecar):
    """What convert built: ONNX files, the target artifact, its I/O and the hashes of its inputs."""

    KIND: ClassVar[str] = "harness.convert"
    FILENAME: ClassVar[str] = "convert.json"

    model: str
    target: str
    precision: str
    artifact: str
    onnx: str
    sim_onnx: str
    input: TensorSpec
    output: TensorSpec
    batch_sizes: list[int]
    dynamic_batch: bool
    opset: int
    layout: str = "CHW"
    data_config: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    hashes: dict = field(default_factory=dict)
    build_key: str = ""
    versions: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    target_info: dict = field(default_factory=dict)

    def accepted_batches(self) -> tuple[int, int] | None:
        """The batch sizes the build promises, as (low, high): static (B, B); dynamic min..max of the declared
        sizes, one size N meaning "any batch up to N"; None when nothing is declared (a bare OM)."""
        sizes = sorted(set(self.batch_sizes))
        if not sizes:
            return None
        if not self.dynamic_batch:
            return sizes[0], sizes[0]
        return (sizes[0] if len(sizes) > 1 else 1), sizes[-1]


class OutputEntry(typing.TypedDict):
    name: str
    shape: list[int]
    dtype: str


class FileEntry(typing.TypedDict):
    stem: str
    outfiles: list[str]


@dataclass
class InferSummary(SummaryViews, Sidecar):
    """One infer run: what ran where, the outputs it wrote and its timings (SPEC section 4)."""

    KIND: ClassVar[str] = "harness.infer"
    FILENAME: ClassVar[str] = "summary.json"
    ITEM_HINTS: ClassVar[dict[str, Any]] = {"outputs": list[OutputEntry], "files": list[FileEntry],
                                            "throughput": dict[str, float | dict | None], "timings": dict[str, dict]}

    target: str
    device: str
    artifact: str
    model: str
    precision: str
    batch_size: int
    mode: str  # a harness.vocabulary.RunMode
    outfmt: str
    device_name: str = ""  # the device's own name (GPU or NPU model), as its driver reports it
    requested_precision: str = ""  # what convert was asked for, when `precision` (what ran) differs or is unknown
    outputs: list[dict] = field(default_factory=list)  # {"name", "shape", "dtype"} per model output
    num_inputs: int = 0
    num_batches: int = 0
    padded_slots: int = 0
    timings: dict = field(default_factory=dict)  # phase -> summarize_ms(...)
    throughput: dict = field(default_factory=dict)  # compute_only / end_to_end img/s
    engine: dict = field(default_factory=dict)  # target-specific: variant, providers, versions
    environment: dict = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)  # {"stem", "outfiles"}
    compute_ms: list[float] = field(default_factory=list)
    # Energy over the timed loop: harness.energy_summary.EnergySummary as a dict (joules, watts, J/image,
    # img/s/W, counter, resolution), or available false with the reason.
    energy: dict = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def check_values(self, source: str) -> None:
        from harness.output_formats import FORMATS  # here: output_formats reads this module

        if self.outfmt.upper() not in FORMATS:
            raise field_error(source, self.KIND, "outfmt", self.outfmt, f"one of {sorted(FORMATS)}")

    @classmethod
    def upgraded(cls, data: dict, version: int) -> dict:
        if version < 2 and "device_name" not in data:  # schema 1 kept it in the target's `engine` only
            data = {**data, "device_name": str((data.get("engine") or {}).get("device_name") or "")}
        return data


@dataclass
class OutOfMemoryRecord(Sidecar):
    """What infer leaves in a summary's place when the batch does not fit in device memory."""

    KIND: ClassVar[str] = "harness.out_of_memory"
    FILENAME: ClassVar[str] = "summary.json"

    model: str
    target: str
    precision: str
    device: str
    artifact: str
    batch_size: int | None = None
    needed_bytes: int | None = None
    available_bytes: int | None = None
    message: str = ""


# Hidden files that say a stage's run into a directory has started and not finished (read by the next stages)
PREPROCESS_JOURNAL_NAME = ".preprocess.progress"  # written by preprocess/records.py
INFER_RECORD_NAME = ".infer_run.json"  # written by infer/run_record.py


def infer_in_progress(result_dir: Path) -> bool:
    """Whether a dataset run into `result_dir` started and has not written its summary yet."""
    return (Path(result_dir) / INFER_RECORD_NAME).is_file()


def run_summary_path(result_dir: Path) -> Path:
    """Where infer writes a run's summary: `<output>/<dirname>_summary.json`, beside the result directory as
    ais_bench does, so that the result directory holds outputs only (ModelZoo scripts read every file in it)."""
    result_dir = Path(result_dir)
    return result_dir.parent / f"{result_dir.name}_summary.json"


DEVICE_PART_INFIX = "_summary.device"


def device_part_summary_name(dirname: str, device: str) -> str:
    """One device's own summary of a run over several (`--device 0,1`), beside the merged one:
    `<dirname>_summary.device<d>.json`."""
    return f"{dirname}{DEVICE_PART_INFIX}{device}.json"


def merged_summary_of_part(part: Path) -> Path | None:
    """The merged summary `<dirname>_summary.json` beside a device's part; None for a file not named as a part."""
    name = Path(part).name
    cut = name.rfind(DEVICE_PART_INFIX)
    device = name[cut + len(DEVICE_PART_INFIX):].removesuffix(".json") if cut > 0 else ""
    if not device or not name.endswith(".json"):
        return None
    return Path(part).with_name(name[:cut] + "_summary.json")


def run_summary_file(result_dir: Path) -> Path | None:
    """Where the harness summary of a result directory is: beside it, or inside it as `summary.json` (older
    runs). An ais_bench summary in the same place is not the harness's: None."""
    for path in (run_summary_path(result_dir), Path(result_dir) / InferSummary.FILENAME):
        if path.is_file():
            data = read_json(path, "run summary")
            if isinstance(data, dict) and data.get("kind") == InferSummary.KIND:
                return path
    return None


def read_run_summary(result_dir: Path) -> InferSummary | None:
    """The harness summary of a result directory (run_summary_file), or None."""
    path = run_summary_file(result_dir)
    return InferSummary.read_file(path) if path is not None else None

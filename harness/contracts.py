"""The file contracts between stages: one dataclass per sidecar, written as JSON beside the output.

Each stage reads the previous stage's sidecar instead of repeated flags, and refuses a mismatch
(shape, dtype, layout) with one line that names the file.

Every record carries `schema_version`. A file of a newer version than this harness knows is refused (its keys
may mean something else); a file written before versions existed has none and is read as LEGACY_SCHEMA_VERSION,
which readers such as the report label.
"""
from __future__ import annotations

import dataclasses
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
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["schema_version"] = version
        for f in dataclasses.fields(cls):
            if f.type in ("TensorSpec", TensorSpec) and isinstance(kwargs.get(f.name), dict):
                kwargs[f.name] = TensorSpec(**kwargs[f.name])
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ContractError(f"{source}: {cls.KIND} sidecar is incomplete ({exc}); rerun the stage "
                                "that wrote it") from None

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
    files: list[dict] = field(default_factory=list)  # {"stem", "source"} in sorted stem order
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


@dataclass
class InferSummary(SummaryViews, Sidecar):
    """One infer run: what ran where, the outputs it wrote and its timings (SPEC section 4)."""

    KIND: ClassVar[str] = "harness.infer"
    FILENAME: ClassVar[str] = "summary.json"

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


def run_summary_path(result_dir: Path) -> Path:
    """Where infer writes a run's summary: `<output>/<dirname>_summary.json`, beside the result directory as
    ais_bench does, so that the result directory holds outputs only (ModelZoo scripts read every file in it)."""
    result_dir = Path(result_dir)
    return result_dir.parent / f"{result_dir.name}_summary.json"


def read_run_summary(result_dir: Path) -> InferSummary | None:
    """The harness summary of a result directory: beside it, or inside it as `summary.json` (older runs).
    An ais_bench summary in the same place is not the harness's and gives None."""
    for path in (run_summary_path(result_dir), Path(result_dir) / InferSummary.FILENAME):
        if path.is_file():
            data = read_json(path, "run summary")
            if isinstance(data, dict) and data.get("kind") == InferSummary.KIND:
                return InferSummary.from_dict(data, str(path))
    return None

"""The file contracts between stages: one dataclass per sidecar, written as JSON beside the output.

Each stage reads the previous stage's sidecar instead of repeated flags, and refuses a mismatch
(shape, dtype, layout) with one line that names the file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from harness.errors import ContractError
from harness.files import read_json, write_json

T = TypeVar("T", bound="Sidecar")

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


class Sidecar:
    """Base for sidecar dataclasses: JSON round trip with a `kind` tag checked on read."""

    KIND: ClassVar[str] = ""
    FILENAME: ClassVar[str] = ""

    def to_dict(self) -> dict:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[T], data: dict, source: str = "") -> T:
        if not isinstance(data, dict) or data.get("kind") != cls.KIND:
            found = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise ContractError(f"{source}: expected a {cls.KIND} sidecar, found {found!r}; "
                                "point at the output directory of the right stage")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for f in dataclasses.fields(cls):
            if f.type in ("TensorSpec", TensorSpec) and isinstance(kwargs.get(f.name), dict):
                kwargs[f.name] = TensorSpec(**kwargs[f.name])
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ContractError(f"{source}: {cls.KIND} sidecar is incomplete ({exc}); rerun the stage "
                                "that wrote it") from None

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
class InferSummary(Sidecar):
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

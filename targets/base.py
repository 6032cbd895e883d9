"""The target interface, defined once (STYLE.md point 4).

A target builds an artifact from ONNX (`build`) and opens it on a device (`open`). The session is a
context manager; its public `run`/`submit`/`collect` validate inputs and record timings once, and a
target implements only the `_*_impl` parts (Polygraphy's runner template).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.contracts import ConvertManifest, TensorSpec, numpy_dtype
from harness.energy import EnergyMeter, UnavailableMeter
from harness.errors import ContractError, TargetError
from harness.vocabulary import Precision
from targets.options import TargetOptions



@dataclass
class BuildRequest:
    """What convert asks a target to build."""

    onnx: Path  # the simplified ONNX (or the precision-specific ONNX for fp16/int8)
    out_dir: Path
    model: str
    precision: str
    batch_sizes: list[int]  # one entry: static batch; several: the range a dynamic artifact must take
    dynamic_batch: bool
    input: TensorSpec
    output: TensorSpec
    # Build options for this build only, over the target's own (Target.build_options): `key=value` settings.
    options: dict = field(default_factory=dict)
    # Returns the PyTorch module with its weights loaded, for targets that build from PyTorch (torch engine).
    load_model: Callable[[], Any] | None = None
    preprocess: dict | None = None  # the preprocess manifest (as a dict) when given, e.g. for AIPP


@dataclass
class BuildResult:
    artifact: Path
    info: dict = field(default_factory=dict)  # tool versions, build log tail, engine variant ...


@dataclass
class BatchTiming:
    """Per-batch times in ms. compute is what the device spent (events / runtime list), never host guesses."""

    compute_ms: float
    h2d_ms: float | None = None
    d2h_ms: float | None = None
    e2e_ms: float | None = None
    # At most this much of compute_ms may be the host queueing the work: the device reached the compute start
    # before the host had queued the batch's work behind it (it may have been idle). 0: none; None: not known.
    host_in_compute_ms: float | None = None


class Session(ABC):
    """An opened artifact. Use as a context manager; call `run(batch)` or `submit`/`collect`."""

    no_energy_reason = "this target reads no energy counter"

    def __init__(self) -> None:
        self.timings: list[BatchTiming] = []
        self._meter_factory: Callable[[], EnergyMeter] | None = None
        self._closed = False
        self._pending: dict[int, tuple[float, int]] = {}
        self.max_in_flight: int | None = None  # batches submitted and not collected that the target takes at most
        self._next_handle = 0

    # ---- description -------------------------------------------------------------------------
    @abstractmethod
    def inputs(self) -> list[TensorSpec]:
        """Input specs; -1 as the first dim means any batch size the artifact accepts."""

    @abstractmethod
    def outputs(self) -> list[TensorSpec]:
        """Output specs, batch dim -1 when dynamic."""

    def batch_sizes(self) -> list[int] | None:
        """Batch sizes the artifact takes, or None when any size up to `max_batch()` works."""
        first = self.inputs()[0].shape[0]
        return None if first == -1 else [first]

    def info(self) -> dict:
        """Engine variant, device name, library versions: recorded in summary.json."""
        return {}

    def allocate_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Host memory for input batches. A target whose transfers are faster from its own memory
        (pinned, say) returns that; the loop reads files straight into it and submits it as is."""
        return np.empty(shape, dtype=dtype)

    def register_host(self, block: np.ndarray) -> Callable[[], None] | None:
        """Host memory the loop allocated itself (shared with its I/O worker processes), offered to the
        target, which may pin it for faster transfers. Returns what undoes that before the memory is
        freed, or None when nothing was done."""
        return None

    def energy_meter(self) -> EnergyMeter:
        """A fresh meter of the device's energy, started and stopped around each timed loop."""
        if self._meter_factory is None:
            return UnavailableMeter(self.no_energy_reason)
        return self._meter_factory()

    def use_energy_meter(self, factory: Callable[[], EnergyMeter]) -> None:
        """Set by the target's `open`: what makes this device's meter (targets/<name>/...)."""
        self._meter_factory = factory

    # ---- running -----------------------------------------------------------------------------
    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.collect(self.submit(batch))

    def submit(self, batch: np.ndarray) -> int:
        """Start a batch; returns a handle. Targets that can overlap batches do so in `_submit_impl`."""
        self._check_open()
        batch = self._validate(batch)
        handle = self._next_handle
        self._next_handle += 1
        self._pending[handle] = (time.perf_counter(), batch.shape[0])
        self._submit_impl(handle, batch)
        return handle

    def collect(self, handle: int) -> list[np.ndarray]:
        """Finish a batch started by `submit`: its outputs (host arrays, batch rows first)."""
        started, _ = self._pending.pop(handle)
        outputs, timing = self._collect_impl(handle)
        timing.e2e_ms = (time.perf_counter() - started) * 1000.0
        self.timings.append(timing)
        return outputs

    def reset_timings(self) -> None:
        self.timings = []

    def warmup(self, batch: np.ndarray, count: int, in_flight: int = 1) -> None:
        """Run `count` batches (at least `in_flight` when any), keeping up to `in_flight` submitted as the timed
        loop will: a target that makes per-batch buffers on first use (pinned host memory, device memory)
        then has them all before the loop starts, instead of allocating inside the timed loop."""
        if self.max_in_flight is not None:
            in_flight = min(in_flight, self.max_in_flight)
        pending: list[int] = []
        for _ in range(max(count, in_flight) if count > 0 else 0):
            pending.append(self.submit(batch))
            if len(pending) >= in_flight:
                self.collect(pending.pop(0))
        while pending:
            self.collect(pending.pop(0))
        self.reset_timings()

    # ---- implemented by targets -------------------------------------------------------------
    @abstractmethod
    def _submit_impl(self, handle: int, batch: np.ndarray) -> None: ...

    @abstractmethod
    def _collect_impl(self, handle: int) -> tuple[list[np.ndarray], BatchTiming]: ...

    def _close_impl(self) -> None:
        pass

    # ---- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close_impl()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise TargetError("session is closed")

    def _validate(self, batch: np.ndarray) -> np.ndarray:
        spec = self.inputs()[0]
        want = numpy_dtype(spec.dtype)
        if batch.dtype != want:
            raise ContractError(f"input {spec.name!r}: dtype {batch.dtype} given, the artifact takes {want}")
        if tuple(batch.shape[1:]) != spec.sample_shape:
            raise ContractError(f"input {spec.name!r}: sample shape {tuple(batch.shape[1:])} given, "
                                f"the artifact takes {spec.sample_shape}")
        sizes = self.batch_sizes()
        if sizes is not None and batch.shape[0] not in sizes:
            raise ContractError(f"input {spec.name!r}: batch size {batch.shape[0]} given, the artifact "
                                f"takes only {sizes}; convert with a matching BS or BATCHES")
        return np.ascontiguousarray(batch)


class SyncSession(Session):
    """For targets whose runtime call is synchronous: implement `_infer(batch)` only."""

    def __init__(self) -> None:
        super().__init__()
        self._done: dict[int, tuple[list[np.ndarray], BatchTiming]] = {}

    @abstractmethod
    def _infer(self, batch: np.ndarray) -> tuple[list[np.ndarray], BatchTiming]: ...

    def _submit_impl(self, handle: int, batch: np.ndarray) -> None:
        self._done[handle] = self._infer(batch)

    def _collect_impl(self, handle: int) -> tuple[list[np.ndarray], BatchTiming]:
        return self._done.pop(handle)


class Target(ABC):
    """A vendor back end: builds artifacts and opens sessions. Construct through targets.get_target."""

    name: str = ""
    opset: int = 17
    precisions: tuple[Precision, ...] = (Precision.FP32,)
    artifact_suffix: str = ""
    # False: the target's own compiler applies the precision (atc --precision_mode), so convert hands
    # it the fp32 simplified ONNX for every precision instead of an fp16/int8 variant.
    precision_in_onnx: bool = True
    # Set (to why) when the build exports the PyTorch module itself (nvidia's torch engine): a given ONNX or
    # TensorFlow model has nothing to build from.
    pytorch_model_only: str = ""
    options_class: type[TargetOptions] = TargetOptions  # the options it declares (targets/options.py)

    def __init__(self, **options: Any) -> None:
        self.options = self.options_class.parse(options)

    def resolved_options(self) -> TargetOptions:
        """The options with what the target chose itself filled in (an engine picked by what is installed)."""
        return self.options

    def build_options(self, request: BuildRequest) -> TargetOptions:
        return self.options.updated(request.options)

    @abstractmethod
    def build(self, request: BuildRequest) -> BuildResult:
        """Build the target artifact from ONNX into request.out_dir."""

    @abstractmethod
    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0",
             batch_hint: int | None = None) -> Session:
        """Open an artifact built by `build` on one device; `batch_hint` is the batch size the run will likely
        submit, for a target that can prepare for it while it opens."""

    def versions(self) -> dict:
        """Tool and library versions that go into the artifact's content hash."""
        return {}

    def idle_state(self, device: str):
        """Whether the device is idle before a timed run (harness.idle.IdleState)."""
        from harness.idle import not_checked

        return not_checked(f"the {self.name} target has no idle check")

    def check_precision(self, precision: str) -> None:
        if precision not in self.precisions:
            raise TargetError(f"target {self.name!r} cannot run precision {precision!r}; "
                              f"it supports {', '.join(self.precisions)}")

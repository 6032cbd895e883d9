"""The GPU session both engines share: pinned host buffers, three streams, events, CUDA graphs.

`submit` copies the batch into a pinned host buffer and enqueues, without waiting:
    H2D stream      host -> device staging buffer
    compute stream  staging -> the engine's static input (cast, layout), the engine, outputs -> staging
    D2H stream      device staging -> pinned host output
Events between the streams order them, so batch i+1's H2D runs while batch i computes and batch i-1
copies back. `collect` waits on the last event only. A buffer set ("slot") is reused after `collect`.
The engine itself runs as one CUDA graph per batch size when capture works, plain launches otherwise.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import wait
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from harness.contracts import TensorSpec, numpy_dtype
from harness.errors import TargetError
from harness.random_data import random_array
from harness.startup import mark
from targets.base import BatchTiming, Session
from targets.nvidia.device import gpu_identity, import_torch
from targets.nvidia.device_thread import CLOSE_WAIT_S
from targets.nvidia.plan import BatchProfile


class DeviceRunner(ABC):
    """What an engine gives the session: a static input per batch size and a forward on the current stream."""

    warmup_runs = 2  # before capture: lazy initialisation and algorithm choice stay out of the graph

    @abstractmethod
    def make_input(self, batch: int) -> Any:
        """A device tensor of the engine's input dtype and layout, filled with random values."""

    @abstractmethod
    def forward(self, static_input: Any) -> list[Any]:
        """Launch the engine on the current stream; return its output tensors (static ones for TensorRT)."""

    def info(self) -> dict:
        return {}

    def prepare_aside(self, batch: int) -> Any | None:
        """A DeviceThread to make the first calls and the capture on (after this thread did what it can), or None:
        here. See device_thread.py."""
        return None

    def close(self) -> None:
        pass


@dataclass
class Executable:
    """One batch size, ready: its static input and a callable that launches and returns the outputs."""

    static_input: Any
    launch: Callable[[], list[Any]]
    mode: str  # "cuda_graph" or "eager"
    note: str = ""
    keep: list = field(default_factory=list)  # the graph object, kept alive with its memory


@dataclass
class Slot:
    batch: int
    host_in: Any
    dev_in: Any
    dev_out: list
    host_out: list
    events: dict
    host_in_compute_ms: float = 0.0  # see BatchTiming


class CudaPipelineSession(Session):
    def __init__(self, runner: DeviceRunner, device: Any, input_spec: TensorSpec,
                 output_specs: list[TensorSpec], profile: BatchProfile, *, cuda_graphs: bool = True,
                 in_flight: int = 3, info: dict | None = None) -> None:
        super().__init__()
        self._torch = import_torch()
        self._runner = runner
        self._device = device
        self._profile = profile
        self._input = TensorSpec(input_spec.name, [profile.min if profile.static else -1,
                                                   *input_spec.sample_shape], input_spec.dtype)
        self._outputs = [TensorSpec(o.name, [self._input.shape[0], *o.sample_shape], o.dtype)
                         for o in output_specs]
        self._use_graphs = cuda_graphs
        self.max_in_flight = in_flight
        self._extra_info = dict(info or {})
        torch = self._torch
        self._streams = {name: torch.cuda.Stream(device) for name in ("h2d", "compute", "d2h", "capture")}
        self._graph_pool = torch.cuda.graph_pool_handle() if cuda_graphs else None
        self._executables: dict[int, Executable] = {}
        self._prepare_s: dict[int, float] = {}  # per batch size: warm-up runs (compile) and capture
        self._free: dict[int, list[Slot]] = {}
        self._slot_count: dict[int, int] = {}
        self._in_flight: dict[int, Slot] = {}
        self._pinned_inputs: dict[int, Any] = {}  # data pointer -> pinned tensor handed out by allocate_host
        self._pinned_ranges: list[tuple[int, int]] = []  # host memory page-locked by register_host
        self.timeline: list[dict] | None = None  # per batch, each event's ms after an origin: see record_timeline
        self._origin: Any = None

    # ---- description ---------------------------------------------------------------------------
    def inputs(self) -> list[TensorSpec]:
        return [self._input]

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def batch_sizes(self) -> list[int] | None:
        return [self._profile.min] if self._profile.static else None

    def max_batch(self) -> int:
        return self._profile.max

    def info(self) -> dict:
        torch = self._torch
        index = self._device.index
        graphs = {str(b): (e.mode if not e.note else f"{e.mode} ({e.note})") for b, e in self._executables.items()}
        gpu = gpu_identity(index)
        return {**self._extra_info, **self._runner.info(), **gpu, "device_name": gpu["gpu_name"], "device_index": index,
                "batch_profile": self._profile.to_dict(), "cuda_graphs": graphs,
                "in_flight_max": self.max_in_flight, "prepare_s": {str(b): s for b, s in self._prepare_s.items()},
                "peak_device_memory_mib": round(torch.cuda.max_memory_allocated(index) / (1 << 20), 1)}

    def allocate_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        torch = self._torch
        tensor = torch.empty(shape, dtype=_torch_dtype(torch, np.dtype(dtype).name), pin_memory=True)
        array = tensor.numpy()
        self._pinned_inputs[array.ctypes.data] = tensor
        return array

    def register_host(self, block: np.ndarray) -> Callable[[], None] | None:
        """Page-lock the loop's shared buffers so H2D copies read them directly, as from allocate_host."""
        cudart = self._torch.cuda.cudart()
        start = block.ctypes.data
        error = int(cudart.cudaHostRegister(start, block.nbytes, 0))
        self._extra_info["host_registered"] = "yes" if error == 0 else f"no (cudaHostRegister error {error})"
        if error != 0:
            return None  # not pinned: submit stages each batch through the slot's own pinned buffer
        self._pinned_ranges.append((start, start + block.nbytes))

        def unregister() -> None:
            self._torch.cuda.synchronize(self._device)
            self._pinned_ranges.remove((start, start + block.nbytes))
            cudart.cudaHostUnregister(start)
        return unregister

    def _pinned(self, batch: np.ndarray) -> Any | None:
        """A tensor over `batch` when its memory is pinned: one allocate_host gave out, or registered."""
        address = batch.ctypes.data
        tensor = self._pinned_inputs.get(address)
        if tensor is not None and tuple(tensor.shape) == batch.shape:
            return tensor
        if batch.flags.c_contiguous and any(lo <= address and address + batch.nbytes <= hi
                                            for lo, hi in self._pinned_ranges):
            return self._torch.from_numpy(batch)
        return None

    def record_timeline(self) -> None:
        """From now on keep, per collected batch, when each of its events fired (ms after one origin
        event), so that copies running beside compute can be seen (bench/nvidia_overlap.py, tests)."""
        torch = self._torch
        self._origin = torch.cuda.Event(enable_timing=True)
        self._origin.record(self._streams["compute"])
        self.timeline = []

    # ---- running -------------------------------------------------------------------------------
    def _validate(self, batch: np.ndarray) -> np.ndarray:
        batch = super()._validate(batch)
        self._profile.check(batch.shape[0])
        return batch

    def _submit_impl(self, handle: int, batch: np.ndarray) -> None:
        torch = self._torch
        executable = self._executable(batch.shape[0])
        slot = self._take_slot(batch.shape[0])
        # The caller keeps a buffer from allocate_host untouched until collect, so H2D can read it directly.
        source = self._pinned(batch)
        if source is None:
            slot.host_in.copy_(torch.from_numpy(batch))
            source = slot.host_in
        streams, events = self._streams, slot.events
        with torch.cuda.stream(streams["h2d"]):
            events["h2d_start"].record()
            slot.dev_in.copy_(source, non_blocking=True)
            events["h2d_end"].record()
        streams["compute"].wait_event(events["h2d_end"])
        queueing = time.perf_counter()
        with torch.cuda.stream(streams["compute"]), torch.no_grad():
            events["compute_start"].record()
            executable.static_input.copy_(slot.dev_in)
            for staged, produced in zip(slot.dev_out, executable.launch()):
                staged.copy_(produced)
            events["compute_end"].record()
        # If the device already passed compute_start, it may have waited for this thread to queue the rest, and
        # compute_ms may hold that wait: at most the time this thread took from the record to the query's answer.
        passed = events["compute_start"].query()
        slot.host_in_compute_ms = (time.perf_counter() - queueing) * 1000.0 if passed else 0.0
        streams["d2h"].wait_event(events["compute_end"])
        with torch.cuda.stream(streams["d2h"]):
            events["d2h_start"].record()
            for host, staged in zip(slot.host_out, slot.dev_out):
                host.copy_(staged, non_blocking=True)
            events["d2h_end"].record()
        self._in_flight[handle] = slot

    def _collect_impl(self, handle: int) -> tuple[list[np.ndarray], BatchTiming]:
        slot = self._in_flight.pop(handle)
        events = slot.events
        events["d2h_end"].synchronize()
        outputs = [host.numpy().copy() for host in slot.host_out]  # the slot is reused by the next submit
        timing = BatchTiming(compute_ms=events["compute_start"].elapsed_time(events["compute_end"]),
                             h2d_ms=events["h2d_start"].elapsed_time(events["h2d_end"]),
                             d2h_ms=events["d2h_start"].elapsed_time(events["d2h_end"]),
                             host_in_compute_ms=slot.host_in_compute_ms)
        if self.timeline is not None:
            self.timeline.append({name: self._origin.elapsed_time(event) for name, event in events.items()})
        self._free[slot.batch].append(slot)
        return outputs, timing

    def _close_impl(self) -> None:
        torch = self._torch
        try:
            torch.cuda.synchronize(self._device)
        finally:
            self._in_flight.clear()
            self._free.clear()
            self._executables.clear()
            self._pinned_inputs.clear()
            self._runner.close()

    # ---- buffers -------------------------------------------------------------------------------
    def _take_slot(self, batch: int) -> Slot:
        free = self._free.setdefault(batch, [])
        if free:
            return free.pop()
        if self._slot_count.get(batch, 0) >= self.max_in_flight:
            raise TargetError(f"more than {self.max_in_flight} batches submitted without collect; collect "
                              "earlier ones first or raise the option in_flight")
        self._slot_count[batch] = self._slot_count.get(batch, 0) + 1
        return self._new_slot(batch)

    def _new_slot(self, batch: int) -> Slot:
        torch = self._torch
        in_dtype = _torch_dtype(torch, self._input.dtype)
        in_shape = self._input.batch_shape(batch)
        host_out = [torch.empty(o.batch_shape(batch), dtype=_torch_dtype(torch, o.dtype), pin_memory=True)
                    for o in self._outputs]
        names = ("h2d_start", "h2d_end", "compute_start", "compute_end", "d2h_start", "d2h_end")
        return Slot(batch=batch,
                    host_in=torch.empty(in_shape, dtype=in_dtype, pin_memory=True),
                    dev_in=torch.empty(in_shape, dtype=in_dtype, device=self._device),
                    dev_out=[torch.empty_like(h, device=self._device) for h in host_out],
                    host_out=host_out,
                    events={n: torch.cuda.Event(enable_timing=True) for n in names})

    # ---- engine per batch size -----------------------------------------------------------------
    def _executable(self, batch: int) -> Executable:
        if batch not in self._executables:
            started = time.perf_counter()
            self._executables[batch] = self._prepare(batch)
            self._prepare_s[batch] = round(time.perf_counter() - started, 2)
        return self._executables[batch]

    def _prepare(self, batch: int) -> Executable:
        aside = self._runner.prepare_aside(batch)
        if aside is None:
            return self._prepare_here(batch)
        pending = aside.submit(self._prepare_here, batch)
        try:
            executable = pending.result()
        except BaseException:
            # Interrupted while it runs there (Ctrl-C): let the capture end before close synchronises the device
            # and frees what it uses.
            wait([pending], timeout=CLOSE_WAIT_S)
            raise
        if executable.mode == "eager":
            # The capture failed, so this thread launches from now on: one run here builds its own cuDNN plans
            # now, not inside the first timed batch.
            torch, compute = self._torch, self._streams["compute"]
            with torch.cuda.stream(compute), torch.no_grad():
                executable.launch()
            compute.synchronize()
        return executable

    def _prepare_here(self, batch: int) -> Executable:
        torch = self._torch
        runner, compute = self._runner, self._streams["compute"]
        static_input = runner.make_input(batch)
        compute.wait_stream(torch.cuda.current_stream(self._device))  # make_input copied and cast on that one
        with torch.cuda.stream(compute), torch.no_grad():
            for _ in range(runner.warmup_runs):
                runner.forward(static_input)
        compute.synchronize()
        mark(f"bs{batch} warm-up runs")
        if not self._use_graphs:
            return Executable(static_input, lambda: runner.forward(static_input), "eager", "cuda_graphs=0")
        try:
            graph, outputs = self._capture(static_input)
        except Exception as exc:  # e.g. an op that is not permitted under stream capture
            torch.cuda.synchronize(self._device)
            _release_generator(torch, self._device)
            note = f"capture failed: {str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}"
            return Executable(static_input, lambda: runner.forward(static_input), "eager", note)
        mark(f"bs{batch} captured")
        return Executable(static_input, lambda: (graph.replay(), outputs)[1], "cuda_graph", keep=[graph])

    def _capture(self, static_input: Any) -> tuple[Any, list]:
        torch = self._torch
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self._device)
        # Begin and end by hand inside our own stream context: when the capture fails, the stream
        # context is still left and the capture still ended, so plain launches work afterwards.
        # thread_local: the infer stage's reader and writer threads may touch CUDA meanwhile.
        with torch.no_grad(), torch.cuda.stream(self._streams["capture"]):
            graph.capture_begin(pool=self._graph_pool, capture_error_mode="thread_local")
            try:
                outputs = self._runner.forward(static_input)
            finally:
                graph.capture_end()
        return graph, outputs


def _release_generator(torch: Any, device: Any) -> None:
    """A capture that fails before its end leaves the device's default RNG marked as capturing, and every
    later random op in the process then fails; a fresh copy of its state clears that mark."""
    generator = torch.cuda.default_generators[device.index]
    if hasattr(generator, "graphsafe_set_state") and hasattr(generator, "clone_state"):
        generator.graphsafe_set_state(generator.clone_state())


def host_random(torch: Any, shape: tuple[int, ...], dtype: Any, device: Any) -> Any:
    """Random device data drawn on the host: needs no device RNG, and is never all zeros; pixel values
    for uint8."""
    values = random_array(shape, np.uint8 if dtype == torch.uint8 else np.float32)
    return torch.from_numpy(values).to(device=device, dtype=dtype)


def _torch_dtype(torch: Any, name: str) -> Any:
    return getattr(torch, str(numpy_dtype(name)))

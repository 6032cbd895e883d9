"""The harness session over an OM: byte-exact feeds, padding to a gear, the runtime's own timings.

Timestamps of the 2025 runtime lose resolution as the session ages (float32 ms since it was created).
When a batch's timestamps are too coarse for its duration (RESOLUTION_LIMIT), the session is opened again,
which restarts its clock, and the batch runs again: its outputs are the same and its time is then exact.

Where the runtime has a pipelined path (pipeline.py) and the `pipeline` run option allows it, a submitted batch
waits, and collecting the oldest runs every waiting batch of its gear as one group through run_pipeline, so
that the copies of one batch overlap the execution of another; otherwise each batch runs when submitted.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from harness.contracts import TensorSpec, numpy_dtype
from harness.errors import ContractError, InputError, TargetError
from targets.ascend import om_file
from targets.ascend.acl_backend import SESSION_PATH_REFUSAL, Backend, dtype_name, open_backend
from targets.ascend.pipeline import GROUP_MAX, PipelineChoice, batch_timings
from targets.ascend.power import WHOLE_NUMBER
from targets.base import BatchTiming, Session

LOADED_THROUGH = ("a hard link under a temp directory: the runtime takes only paths of [_A-Za-z0-9/.-], and a hard "
                  "link is the OM itself (same mode, owner and size)")
PATH_ILLEGAL = "illegal. Please check"  # ais_bench 2025's front end refusing a model path (path_security_check.py)


# A batch whose duration may be off by more than this fraction (one timestamp step) is timed again,
# once the session is a minute old (steps of 2**-8 ms): a younger one is not reopened, so that a model of a
# few microseconds costs at most one OM load a minute; summary.json says the resolution either way.
RESOLUTION_LIMIT = 0.005
REOPEN_FLOOR_MS = 2.0 ** -8


def device_index(device: str) -> int:
    text = str(device).strip()
    if not WHOLE_NUMBER.fullmatch(text):
        raise InputError(f"Ascend device {device!r}: expected one NPU index such as 0")
    return int(text)


def _spec(desc) -> TensorSpec:
    return TensorSpec(name=str(desc.name), shape=[int(d) for d in desc.shape], dtype=dtype_name(desc.datatype))


def _nbytes(shape: list[int], dtype: str) -> int:
    return int(np.prod(shape)) * numpy_dtype(dtype).itemsize


class AscendSession(Session):
    """Runs an OM built by this target; `gears` are the dynamic-batch sizes when it has them; `pipeline`
    (auto, 1, 0) whether batches in flight run together through the runtime's pipelined path."""

    def __init__(self, om_path: Path, device: str = "0", gears: list[int] | None = None,
                 expected: TensorSpec | None = None, extra_info: dict | None = None, pipeline: str = "auto") -> None:
        super().__init__()
        self._om = Path(os.path.abspath(om_path))  # not resolved: ais_bench checks the path as given
        self._device = device_index(device)
        self._alias = om_file.load_alias(self._om)  # the path the runtime is given, where the OM's has to change
        try:
            self._start(gears, expected, extra_info, pipeline)
        except BaseException:
            om_file.remove_alias(self._alias)
            raise

    def _start(self, gears: list[int] | None, expected: TensorSpec | None, extra_info: dict | None,
               pipeline: str) -> None:
        self._require_pipeline = pipeline == "1"
        self._backend = self._open()
        self._pipeline = PipelineChoice.choose(pipeline, self._backend.pipeline_problem)
        self._waiting: dict[int, tuple[np.ndarray, int]] = {}  # submitted, not yet run, with its gear (pipelined)
        self._done: dict[int, tuple[list[np.ndarray], BatchTiming]] = {}
        self._reopens: list[float] = []  # seconds each reopening took
        self._resolutions: list[float] = []  # per timed batch, ms
        descs = self._backend.input_descs()
        if len(descs) != 1:
            raise ContractError(f"{self._om}: the OM has {len(descs)} inputs; the harness feeds one")
        self._input = _spec(descs[0])
        self._outputs = [_spec(d) for d in self._backend.output_descs()]
        self._dynamic = self._input.shape[0] == -1
        self._gears = sorted(gears) if (self._dynamic and gears) else None
        self._check_om(descs[0], expected)
        self._extra = dict(extra_info or {})

    def _open(self) -> Backend:
        try:
            return open_backend(str(self._alias or self._om), self._device, self._require_pipeline)
        except InputError as exc:  # a rule of the model path the runtime would apply: name the OM itself
            if self._alias is None:
                raise
            raise InputError(self._named(str(exc))) from None
        except (RuntimeError, ValueError, TypeError) as exc:
            exc = self._named(str(exc))
            if SESSION_PATH_REFUSAL in str(exc) or PATH_ILLEGAL in str(exc):
                raise TargetError(f"{self._om}: the Ascend runtime refused the model path ({exc}); check its "
                                  "permissions, owner and characters (ais_bench's FAQ security_error)") from None
            raise TargetError(f"{self._om}: the Ascend runtime cannot load it on device {self._device} "
                              f"({exc}); check that `npu-smi info` lists device {self._device}, that the OM "
                              "was built for its SoC and that it is whole (a cut copy fails too: rerun convert or "
                              "copy it again)") from None

    def _named(self, message: str) -> str:
        """The message with the OM's own path where it names the link the runtime was given."""
        return message.replace(str(self._alias), str(self._om)) if self._alias else message

    def _check_om(self, desc, expected: TensorSpec | None) -> None:
        spec = self._input
        if any(d < 1 for d in spec.sample_shape):
            raise ContractError(f"{self._om}: input {spec.name!r} has dynamic dims {spec.shape} besides the batch (an "
                                "OM built with --dynamic_image_size, --dynamic_dims or --input_shape_range); the "
                                "harness runs static and dynamic-batch OMs: rebuild it with a fixed "
                                f"--input_shape, or convert the model with this harness")
        if self._dynamic and not self._gears:
            raise ContractError(f"{self._om}: a dynamic-batch OM, and no gear is known; pass --dymBatch N (one of "
                                "its --dynamic_batch_size gears) or run the convert output directory")
        if self._dynamic and expected is None:
            return  # a bare OM run at one --dymBatch gear: its largest gear, which sizes the input, is unknown
        full = self._gears[-1] if self._dynamic else spec.shape[0]
        want = _nbytes([full, *spec.sample_shape], spec.dtype)
        if int(desc.size) != want:
            raise ContractError(f"{self._om}: input {spec.name!r} is {desc.size} bytes in the OM, but its shape "
                                f"{spec.shape} {spec.dtype} needs {want}; the OM does not match convert.json, "
                                "rerun convert")
        if expected is None:
            return
        if (spec.name, spec.sample_shape, spec.dtype) != (expected.name, expected.sample_shape, expected.dtype):
            raise ContractError(f"{self._om}: the OM takes {spec.name!r} {list(spec.sample_shape)} {spec.dtype} "
                                f"per sample, convert.json says {expected.name!r} {list(expected.sample_shape)} "
                                f"{expected.dtype}; the OM was replaced or is stale, rerun convert")

    # ---- description ---------------------------------------------------------------------------
    def inputs(self) -> list[TensorSpec]:
        return [self._input]

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def batch_sizes(self) -> list[int] | None:
        return None if self._dynamic else [self._input.shape[0]]

    def max_batch(self) -> int:
        return self._gears[-1] if self._dynamic else self._input.shape[0]

    def info(self) -> dict:
        timing = {"timestamp_resolution_ms": max(self._resolutions, default=0.0),
                  "session_reopens": len(self._reopens), "session_reopen_s": round(sum(self._reopens), 3)}
        loaded = {"om_loaded_through": LOADED_THROUGH} if self._alias else {}
        return {"engine": "om", "om": self._om.name, **loaded, "device_id": self._device, "gears": self._gears,
                **self._backend.api_info(), **self._pipeline.info(), **timing, **self._extra}

    # ---- running -------------------------------------------------------------------------------
    def _gear_for(self, rows: int) -> int:
        if not self._dynamic:
            return self._input.shape[0]
        for gear in self._gears:
            if gear >= rows:
                return gear
        raise ContractError(f"batch of {rows} is larger than the OM's largest gear {self._gears[-1]}; "
                            "convert with a larger batch size")

    def _feed(self, batch: np.ndarray, gear: int) -> np.ndarray:
        """Cast to the OM input dtype and pad to the gear by repeating the first row (as ais_bench)."""
        array = np.ascontiguousarray(batch, dtype=numpy_dtype(self._input.dtype))
        if array.shape[0] < gear:
            pad = np.repeat(array[:1], gear - array.shape[0], axis=0)
            array = np.ascontiguousarray(np.concatenate([array, pad]))
        return array

    def _check_realsize(self, array: np.ndarray) -> None:
        realsize = int(self._backend.input_descs()[0].realsize)
        if array.nbytes != realsize:
            raise ContractError(f"input {self._input.name!r}: the batch has {array.nbytes} bytes, the OM takes "
                                f"exactly {realsize} (realsize) for batch {array.shape[0]}; rerun convert")

    def _submit_impl(self, handle: int, batch: np.ndarray) -> None:
        gear = self._gear_for(batch.shape[0])  # a batch no gear takes is refused when submitted, either way
        if self._pipeline.active:
            self._waiting[handle] = (batch, gear)
        else:
            self._run_group({handle: batch}, gear)

    def _collect_impl(self, handle: int) -> tuple[list[np.ndarray], BatchTiming]:
        while handle not in self._done:
            self._run_group(*self._next_group())
        return self._done.pop(handle)

    def _next_group(self) -> tuple[dict[int, np.ndarray], int]:
        """The oldest waiting batch and those after it of the same gear (infer_pipeline runs one gear)."""
        first_gear = next(iter(self._waiting.values()))[1]
        group: dict[int, np.ndarray] = {}
        for handle, (batch, gear) in self._waiting.items():
            if gear != first_gear or len(group) == GROUP_MAX:
                break
            group[handle] = batch
        for handle in group:
            del self._waiting[handle]
        return group, first_gear

    def _run_group(self, group: dict[int, np.ndarray], gear: int) -> None:
        batches = list(group.values())
        arrays = [self._feed(batch, gear) for batch in batches]
        outputs, compute, resolution, (h2d, d2h) = self._execute(arrays, gear)
        timings = self._timings(compute, h2d, d2h, len(arrays))
        if resolution > RESOLUTION_LIMIT * min(t.compute_ms for t in timings) and resolution >= REOPEN_FLOOR_MS:
            self._reopen()
            outputs, compute, resolution, (h2d, d2h) = self._execute(arrays, gear)
            timings = self._timings(compute, h2d, d2h, len(arrays))
        self._resolutions.append(resolution)
        if self._pipeline.active:
            self._pipeline.ran(len(arrays))
        for handle, batch, batch_outputs, timing in zip(group, batches, outputs, timings):
            rows = batch.shape[0]
            kept = [self._rows(out, spec, gear)[:rows] for out, spec in zip(batch_outputs, self._outputs)]
            self._done[handle] = (kept, timing)

    def _timings(self, compute: list[float], h2d: list[float] | None, d2h: list[float] | None,
                 batches: int) -> list[BatchTiming]:
        try:
            return batch_timings(compute, h2d, d2h, batches)
        except TargetError as exc:
            advice = ", or run with --option pipeline=0 (one batch at a time)" if self._pipeline.active else ""
            raise TargetError(f"{self._om.name}: {exc}{advice}") from None

    def _execute(self, arrays: list[np.ndarray], gear: int):
        backend = self._backend
        try:
            if self._dynamic:
                backend.set_dynamic_batchsize(gear)
            for array in arrays:  # a wrong size inside run_pipeline's threads would end the process
                self._check_realsize(array)
            backend.reset_timings()
            if self._pipeline.active:
                outputs = backend.infer_pipeline(arrays, self._dynamic)
            else:
                outputs = [backend.infer(arrays[0], self._dynamic)]
            compute, resolution = backend.compute_ms()
            return outputs, compute, resolution, backend.transfer_ms()
        except RuntimeError as exc:
            raise TargetError(f"{self._om.name}: inference failed on device {self._device}: {exc}") from None

    def _reopen(self) -> None:
        """A new session restarts the runtime's timestamp clock (its zero point is the session's creation)."""
        start = time.perf_counter()
        self._backend.release()
        self._backend = self._open()
        self._reopens.append(time.perf_counter() - start)

    @staticmethod
    def _rows(output: np.ndarray, spec: TensorSpec, gear: int) -> np.ndarray:
        """Outputs of a dynamic OM may come back at the largest gear's size: keep the gear's rows."""
        sample = tuple(d for d in spec.sample_shape)
        if output.ndim and output.shape[0] == gear and tuple(output.shape[1:]) == sample:
            return output
        count = gear * int(np.prod(sample)) if all(d > 0 for d in sample) else output.size
        return output.reshape(-1)[:count].reshape(gear, *sample)

    def _close_impl(self) -> None:
        self._waiting.clear()
        try:
            self._backend.release()
        finally:
            om_file.remove_alias(self._alias)

"""One small interface over the two ways to run an OM from Python, in both API generations.

`ais_bench.infer.interface.InferSession` is used when it imports, else the raw `aclruntime` module
(ref-ascend.md sections 4 and 5). Differences handled here, and nowhere else:
- summary: InferSession.sumary() (2023) or .summary() (2024+); the C++ session only has .sumary();
- exec_time_list: ms floats (2023) or (start_ms, end_ms) pairs (2024+);
- reset: reset_sumaryinfo() (2023) or reset_summaryinfo() (2024+);
- release: free_resource() where it exists; finalize() once per process at exit (static in 2024+);
- MemorySummary (H2D/D2H lists) only where aclruntime has it;
- BaseTensor (host pointer feeds) only from aclruntime 2022-10 on;
- the model path checks of 2025 (om_file.py): made first where the front end has them; the C++ session's own
  refusal ("please check model path") is explained by the rules it applies (no owner check); other errors,
  and runtimes without the checks (ait benchmark's, which already has free_resource), are not held to them;
- infer_pipeline / run_pipeline (newer generations only; pipeline.py says which path runs).
2025 timestamps are float32 ms since the session was created, so their resolution coarsens as the session
ages (1 ms after 4 hours): `timestamp_resolution_ms` says how fine the last batch's were.
"""
from __future__ import annotations

import atexit
import logging
import sys
from typing import Any, Callable

import numpy as np

from harness.errors import InputError, MissingDependencyError
from targets.ascend.om_file import om_path_problem
from targets.ascend.pipeline import SINCE as PIPELINE_SINCE, pipeline_problem

HOW_TO_INSTALL = ("build and install aclruntime and ais_bench from gitee ascend/tools "
                  "(ais-bench_workload/tool/ais_bench: `pip3 wheel ./backend/ && pip3 wheel ./`) on the "
                  "Ascend machine, after `source /usr/local/Ascend/ascend-toolkit/set_env.sh`")
# aclruntime.dtype numbering (= ACL aclDataType)
ACL_DTYPES = {0: "float32", 1: "float16", 2: "int8", 3: "int32", 4: "uint8", 6: "int16", 7: "uint16",
              8: "uint32", 9: "int64", 10: "uint64", 11: "double", 12: "bool"}
PATH_CHECK = "check_model_path_legality"  # ais_bench 2025's interface; ait benchmark's has none
SESSION_PATH_REFUSAL = "please check model path"  # 2025 PyInferenceSession.cpp, after CheckFileBeforeRead
SESSION_OM_SIZE_MAX = 64 << 30  # File.h MAX_OM_SIZE
BASE_TENSOR_SINCE = "aclruntime from ais_bench 2022-10-21 or later (the ais_bench package of CANN 6.0 or newer)"

_finalizers: list[Callable[[], None]] = []


def durations_ms(exec_time_list: list) -> list[float]:
    """Per-execution ms from either exec_time_list format."""
    return [float(e[1]) - float(e[0]) if isinstance(e, (tuple, list)) else float(e) for e in exec_time_list]


def timestamp_resolution_ms(exec_time_list: list) -> float:
    """The coarsest float32 step among the entries: how far off a duration taken from them can be."""
    values = [float(e[1]) if isinstance(e, (tuple, list)) else float(e) for e in exec_time_list]
    if not values:
        return 0.0
    return float(np.spacing(np.float32(max(abs(v) for v in values))))


def dtype_name(datatype: Any) -> str:
    name = getattr(datatype, "name", None)
    if isinstance(name, str) and name in ACL_DTYPES.values():
        return name
    try:
        return ACL_DTYPES[int(datatype)]
    except (KeyError, TypeError, ValueError):
        return str(datatype).rsplit(".", 1)[-1]


def _import_aclruntime():
    try:
        import aclruntime
    except ImportError as exc:
        raise MissingDependencyError("aclruntime", HOW_TO_INSTALL, why=str(exc)) from None
    return aclruntime


def _run_finalizers() -> None:
    while _finalizers:
        try:
            _finalizers.pop()()
        except Exception:  # the process is exiting; a failing aclFinalize must not mask the result
            pass


def _finalize_once(finalize: Callable[[], None]) -> None:
    if not _finalizers:
        atexit.register(_run_finalizers)
        _finalizers.append(finalize)


class Backend:
    """Shared parts; subclasses wrap the object that runs the OM."""

    kind = ""

    def __init__(self, aclruntime, session) -> None:
        self._acl = aclruntime
        self._session = session
        self.exec_time_format = ""
        self.pipeline_problem: str | None = "not checked"

    def input_descs(self) -> list:
        return list(self._session.get_inputs())

    def output_descs(self) -> list:
        return list(self._session.get_outputs())

    def set_dynamic_batchsize(self, batch: int) -> None:
        self._session.set_dynamic_batchsize(int(batch))

    def reset_timings(self) -> None:
        self._reset_summary()
        memory = self._memory_summary()
        if memory is not None:
            memory.reset()

    def compute_ms(self) -> tuple[list[float], float]:
        """Per-execution ms since the last reset, and the resolution of the timestamps they came from."""
        times = list(self._summary().exec_time_list)
        if times and not self.exec_time_format:
            self.exec_time_format = "start_end_pairs" if isinstance(times[0], (tuple, list)) else "ms"
        return durations_ms(times), timestamp_resolution_ms(times)

    def transfer_ms(self) -> tuple[list[float] | None, list[float] | None]:
        memory = self._memory_summary()
        if memory is None:
            return None, None
        return [float(v) for v in memory.H2D_time_list], [float(v) for v in memory.D2H_time_list]

    def _memory_summary(self):
        factory = getattr(self._acl, "MemorySummary", None)
        return factory() if factory is not None else None

    def api_info(self) -> dict:
        info = {"runtime": self.kind, "exec_time_list": self.exec_time_format or "not seen yet",
                "has_free_resource": hasattr(self._session, "free_resource")}
        if getattr(self._acl, "SIMULATED", False):  # the test simulation says so; its timings mean nothing
            info["simulated"] = True
        return info

    def _summary(self):
        raise NotImplementedError

    def _reset_summary(self) -> None:
        raise NotImplementedError

    def infer(self, array: np.ndarray, dynamic: bool) -> list[np.ndarray]:
        raise NotImplementedError

    def infer_pipeline(self, arrays: list[np.ndarray], dynamic: bool) -> list[list[np.ndarray]]:
        """Several batches of one gear in one run_pipeline call: the outputs of each, in order."""
        raise NotImplementedError

    def release(self) -> None:
        """Free this session's device memory where the API can; aclFinalize only at process exit."""
        session = self._session
        if hasattr(session, "free_resource"):
            session.free_resource()
        if hasattr(session, "finalize"):
            _finalize_once(session.finalize)


class InferSessionBackend(Backend):
    kind = "ais_bench.InferSession"

    def _summary(self):
        method = getattr(self._session, "summary", None) or getattr(self._session, "sumary")
        return method()

    def _reset_summary(self) -> None:
        reset = getattr(self._session, "reset_summaryinfo", None) or getattr(self._session, "reset_sumaryinfo")
        reset()

    def infer(self, array: np.ndarray, dynamic: bool) -> list[np.ndarray]:
        # feeds must be a list (2024+ refuses tuples); "dymbatch" is a no-op in 2023 after our own
        # set_dynamic_batchsize, and in 2024+ sets the same gear from the feed's shape.
        outputs = self._session.infer([array], mode="dymbatch" if dynamic else "static")
        return [np.asarray(o) for o in outputs]

    def infer_pipeline(self, arrays: list[np.ndarray], dynamic: bool) -> list[list[np.ndarray]]:
        # "dymbatch" sets the gear from the last feeds' shape: every batch of a group has the same gear
        outputs = self._session.infer_pipeline([[array] for array in arrays], mode="dymbatch" if dynamic else "static")
        return [[np.asarray(o) for o in batch] for batch in outputs]


class AclruntimeBackend(Backend):
    kind = "aclruntime"

    def __init__(self, aclruntime, session) -> None:
        super().__init__(aclruntime, session)
        self._output_names = [d.name for d in session.get_outputs()]

    def _summary(self):
        return self._session.sumary()

    def _reset_summary(self) -> None:
        self._session.reset_sumaryinfo()

    def infer(self, array: np.ndarray, dynamic: bool) -> list[np.ndarray]:
        outputs = self._session.run(self._output_names, [self._host_pointer(array)])
        arrays = []
        for tensor in outputs:
            tensor.to_host()
            arrays.append(np.array(tensor))
        return arrays

    def infer_pipeline(self, arrays: list[np.ndarray], dynamic: bool) -> list[list[np.ndarray]]:
        # the gear is the session's (set_dynamic_batchsize before); outputs come back on the host
        feeds = [[self._host_pointer(array)] for array in arrays]
        shapes = [[list(array.shape)] for array in arrays]
        outputs = self._session.run_pipeline(self._output_names, feeds, shapes, False, False)
        return [[np.array(tensor) for tensor in batch] for batch in outputs]

    def _host_pointer(self, array: np.ndarray) -> Any:
        return self._acl.BaseTensor(array.__array_interface__["data"][0], array.nbytes)


def _import_infer_session():
    """ais_bench's InferSession, or None. Importing it runs logging.basicConfig(stdout, INFO) (2025):
    the root logger is put back as it was so the harness's own output does not change."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from ais_bench.infer.interface import InferSession
    except ImportError:
        return None
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return InferSession


def _front_end_checks_path(infer_session: Any) -> bool:
    """Whether this ais_bench front end checks the model path itself (its interface imports the check)."""
    module = sys.modules.get(getattr(infer_session, "__module__", ""), None)
    return callable(getattr(module, PATH_CHECK, None))


def _check_path(om_path: str) -> None:
    problem = om_path_problem(om_path)
    if problem:
        raise InputError(f"{om_path}: {problem}")


def _explain_refused_path(om_path: str, exc: Exception) -> None:
    """The 2025 C++ session's own refusal: which of its rules failed and what to change. Any other error (a
    load failure quotes the path too) is the runtime's to tell, and so is a refusal no rule here explains."""
    if SESSION_PATH_REFUSAL not in str(exc):
        return
    problem = session_path_problem(om_path)
    if problem:
        raise InputError(f"{om_path}: {problem}")


def session_path_problem(om_path: str) -> str | None:
    """What File::CheckFileBeforeRead (2025 File.cpp) refuses about an OM path, or None: ais_bench's rules
    without the owner, up to 64 GiB."""
    return om_path_problem(om_path, check_owner=False, size_max=SESSION_OM_SIZE_MAX)


def open_backend(om_path: str, device_id: int, require_pipeline: bool = False) -> Backend:
    """InferSession when ais_bench imports, else raw aclruntime. `pipeline_problem` says why the backend
    has no pipelined path (None: it has one); when it is required, its absence is refused before loading."""
    infer_session = _import_infer_session()
    aclruntime = _import_aclruntime()
    if infer_session is not None and _front_end_checks_path(infer_session):
        _check_path(om_path)  # before its own refusal, which logs and says only "illegal"
    problem = pipeline_problem(aclruntime, infer_session)
    if require_pipeline and problem:
        raise MissingDependencyError("the pipelined path (--option pipeline=1)", PIPELINE_SINCE, why=problem)
    try:
        backend = _open(om_path, device_id, aclruntime, infer_session)
    except (RuntimeError, ValueError, TypeError) as exc:
        _explain_refused_path(om_path, exc)
        raise
    backend.pipeline_problem = problem
    return backend


def _open(om_path: str, device_id: int, aclruntime: Any, infer_session: Any) -> Backend:
    if infer_session is None:
        if not hasattr(aclruntime, "BaseTensor"):  # checked before the model takes device memory
            raise MissingDependencyError("aclruntime with BaseTensor", f"install {BASE_TENSOR_SINCE}",
                                         why="this aclruntime has no BaseTensor (an ais_infer-era build)")
        options = aclruntime.session_options()
        options.loop = 1
        return AclruntimeBackend(aclruntime, aclruntime.InferenceSession(om_path, device_id, options))
    return InferSessionBackend(aclruntime, infer_session(device_id, om_path))

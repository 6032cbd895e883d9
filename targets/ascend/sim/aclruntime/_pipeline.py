"""`InferenceSession.run_pipeline` of the 2025 simulation: the overload over host pointers,
PyInferenceSession::InferPipelineBaseTensor (PyInferenceSession.cpp) and the stage functions of pipeline.cpp.

    run_pipeline(output_names: list[str], inputs_list: list[list[BaseTensor]],
                 shapes_list: list[list[list[int]]], auto_dym_shape: bool, auto_dym_dims: bool)
        -> list[list[Tensor]]   one list per feeds list, in order, the named outputs as host tensors

As in the C++, one thread per stage (H2D copy, execution, D2H copy, collection) joined by queues, so the copies
of one feeds list overlap the execution of another; each execution is timed into exec_time_list and each
copy into MemorySummary as in `run`. The gear is the session's (the C++ sets none per item for dynamic
batch). The other overload, (infiles_list, infer_options, extra_session), which reads and writes files,
is not simulated: a call with its arguments is refused as pybind refuses arguments no overload takes.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable

from aclruntime._tensor import BaseTensor, timed_copy

SIGNATURE = ("run_pipeline(self: aclruntime.InferenceSession, arg0: list[str], "
             "arg1: list[list[aclruntime.BaseTensor]], arg2: list[list[list[int]]], arg3: bool, arg4: bool) "
             "-> list[list[aclruntime.Tensor]]")


def run_pipeline(session, *args) -> list:
    output_names, inputs_list, shapes_list, auto_dym_shape, auto_dym_dims = _converted(args)
    session._check_output_names(output_names)
    if len(inputs_list) != len(shapes_list):
        raise RuntimeError("input list len not equal to shapes list len")
    names = [desc.name for desc in session.get_inputs()]
    if any(len(shapes) != len(names) for shapes in shapes_list):
        raise RuntimeError("input name count not equal to shapes count")
    dynamic = [_dym_text(names, shapes) for shapes in shapes_list] if (auto_dym_shape or auto_dym_dims) else None
    set_dym = session.set_dynamic_shape if auto_dym_shape else session.set_dynamic_dims

    def h2d(index: int) -> tuple:
        return index, [timed_copy(tensor.raw_bytes(), "H2D") for tensor in inputs_list[index]]

    def compute(item: tuple) -> list:
        index, datas = item
        if dynamic is not None:
            set_dym(dynamic[index])
        return session.infer_on_device(output_names, session.checked_input(datas))

    def d2h(outputs: list) -> list:
        for tensor in outputs:
            tensor.to_host()
        return outputs

    return _staged(range(len(inputs_list)), [h2d, compute, d2h])


def _staged(items, stages: list[Callable]) -> list:
    """Each stage in a thread of its own, queues between them; the first failure is raised here."""
    queues = [queue.Queue() for _ in range(len(stages) + 1)]
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_stage, args=(work, queues[i], queues[i + 1], errors), daemon=True)
               for i, work in enumerate(stages)]
    for thread in threads:
        thread.start()
    for item in items:
        queues[0].put(item)
    queues[0].put(None)
    results = []
    while (result := queues[-1].get()) is not None:
        results.append(result)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _stage(work: Callable, inbox: queue.Queue, outbox: queue.Queue, errors: list) -> None:
    while (item := inbox.get()) is not None:
        if errors:
            continue  # after a failure the later items are only drained
        try:
            outbox.put(work(item))
        except Exception as exc:  # handed to the caller's thread
            errors.append(exc)
    outbox.put(None)


def _dym_text(names: list, shapes: list) -> str:
    """AutoSetDym: "name:d0,d1,...;name2:..." from each input's shape."""
    return ";".join(f"{name}:{','.join(str(d) for d in shape)}" for name, shape in zip(names, shapes))


def _converted(args: tuple) -> tuple:
    """pybind's argument conversion for this overload: anything else matches no overload (TypeError)."""
    if len(args) != 5:
        raise _incompatible(args)
    output_names, inputs_list, shapes_list, auto_shape, auto_dims = args
    try:
        names = _sequence(output_names, lambda name: _of_type(name, str))
        inputs = _sequence(inputs_list, lambda feeds: _sequence(feeds, lambda t: _of_type(t, BaseTensor)))
        shapes = _sequence(shapes_list, lambda feeds: _sequence(
            feeds, lambda shape: _sequence(shape, _size_t)))
        flags = [_boolean(auto_shape), _boolean(auto_dims)]
    except TypeError:
        raise _incompatible(args) from None
    return names, inputs, shapes, *flags


def _incompatible(args: tuple) -> TypeError:
    given = ", ".join(type(a).__name__ for a in args)
    return TypeError("run_pipeline(): incompatible function arguments. The following argument types are "
                     f"supported (simulated):\n    1. {SIGNATURE}\n\nInvoked with types: {given}")


def _sequence(value, item: Callable) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(value)
    return [item(v) for v in value]


def _of_type(value, kind: type):
    if not isinstance(value, kind):
        raise TypeError(value)
    return value


def _size_t(value) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < 0:
        raise TypeError(value)
    return int(value)


def _boolean(value) -> bool:
    """pybind's bool caster when converting: None, or anything with a truth value of its own."""
    if value is None or hasattr(type(value), "__bool__"):
        return bool(value)
    raise TypeError(value)

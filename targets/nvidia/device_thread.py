"""A second thread for a session's device work, so that it runs while the main thread is busy in Python.

A warm start spends seconds importing inductor and loading the saved graph, which hold the interpreter lock,
and seconds in cuDNN choosing and building a plan for each convolution on its first call, which does not.
cuDNN keeps those plans per thread (PyTorch's cache is thread-local), so the thread that builds them must also
make the first call, the warm-up runs and the CUDA graph capture: this one. Replaying the graph later works
from any thread.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable


class DeviceThread:
    """One daemon thread running submitted calls in order on `device` (made current there)."""

    def __init__(self, torch: Any, device: Any) -> None:
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._torch = torch
        self._device = device
        self._thread = threading.Thread(target=self._run, name="device", daemon=True)  # never holds up an exit
        self._thread.start()

    def submit(self, call: Callable[..., Any], *args: Any) -> Future:
        done: Future = Future()
        self._work.put((call, args, done))
        return done

    def call(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run `call` there after what was submitted before, and return its result (or raise its error) here."""
        return self.submit(call, *args).result()

    def close(self) -> None:
        self._work.put(None)

    def _run(self) -> None:
        if self._device.type == "cuda":
            self._torch.cuda.set_device(self._device)  # the current device is per thread
        while (item := self._work.get()) is not None:
            call, args, done = item
            if not done.set_running_or_notify_cancel():
                continue
            try:
                with self._torch.no_grad():  # grad mode is per thread too
                    done.set_result(call(*args))
            except BaseException as exc:  # handed to the waiting thread, which raises it
                done.set_exception(exc)

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

CLOSE_WAIT_S = 30.0  # what close() waits for a call still running (a first call and capture take seconds)


class DeviceThread:
    """One daemon thread running submitted calls in order on `device` (made current there)."""

    def __init__(self, torch: Any, device: Any) -> None:
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._torch = torch
        self._device = device
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="device", daemon=True)  # never holds up an exit
        self._thread.start()

    def submit(self, call: Callable[..., Any], *args: Any) -> Future:
        done: Future = Future()
        if self._closed:
            done.set_exception(RuntimeError("the device thread is closed"))
        else:
            self._work.put((call, args, done))
        return done

    def call(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run `call` there after what was submitted before, and return its result (or raise its error) here."""
        return self.submit(call, *args).result()

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Cancel what has not started, let the running call finish (up to `wait_s`), end the thread."""
        self._closed = True
        self._work.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(wait_s)

    def _run(self) -> None:
        broken: BaseException | None = None
        try:
            if self._device.type == "cuda":
                self._torch.cuda.set_device(self._device)  # the current device is per thread
        except BaseException as exc:  # every call fails with it, instead of waiting for a thread that is gone
            broken = exc
        while (item := self._work.get()) is not None:
            call, args, done = item
            if self._closed or not done.set_running_or_notify_cancel():
                if not done.done():
                    done.set_exception(RuntimeError("the device thread is closed"))
                continue
            if broken is not None:
                done.set_exception(broken)
                continue
            try:
                with self._torch.no_grad():  # grad mode is per thread too
                    done.set_result(call(*args))
            except BaseException as exc:  # handed to the waiting thread, which raises it
                done.set_exception(exc)

"""Energy over the timed loop of an infer run, from the device's own counters.

A meter is started just before the timed loop and stopped just after it. The loop's thread does no
more than two counter reads (start and stop); everything else (power samples, intermediate counter
reads that catch wrap-arounds) happens in a background thread at a modest rate. Two kinds:

- `CounterMeter`: a cumulative energy counter (NVML total energy, RAPL energy_uj), read at start and
  stop, with the wrap-around of each domain undone; optional power samples give the peak and a
  sampled-power integral to cross-check the counter.
- `SampledPowerMeter`: only a power reading exists (npu-smi, NVML before Volta); energy is the
  trapezoidal integral of the samples over the window.

Where no counter can be read, `UnavailableMeter` says which and why: the summary never carries a
made-up number. harness/energy_summary.py turns a reading into summary.json's `energy`.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol, Sequence

SAMPLE_INTERVAL_S = 0.1  # 10 Hz: fine enough for the peak, cheap enough not to slow the loop


class CounterUnreadable(Exception):
    """A counter or power reading failed; the message says which and why."""


class EnergyCounter(Protocol):
    """A cumulative counter of one or more domains (RAPL packages), each in joules."""

    name: str
    resolution: str

    def read(self) -> tuple[float, ...]: ...

    def wrap_ranges(self) -> tuple[float | None, ...]:
        """Per domain, the joules at which it wraps to zero; None where it does not wrap."""


class PowerGauge(Protocol):
    name: str
    resolution: str

    def read_watts(self) -> float: ...


@dataclass
class EnergyReading:
    """What one meter measured over one window; `unavailable` holds the reason when it measured nothing."""

    counter: str = ""
    resolution: str = ""
    method: str = ""  # "energy counter" or "sampled power"
    seconds: float = 0.0
    joules: float | None = None
    average_watts: float | None = None
    peak_watts: float | None = None
    samples: int = 0
    sample_interval_s: float = 0.0
    sampled_joules: float | None = None  # power samples integrated over the window (cross-check of a counter)
    comparison: dict = field(default_factory=dict)  # other tools' figures over the same window
    unavailable: str = ""


# ---- arithmetic -----------------------------------------------------------------------------------
def wrapped_delta(start: float, end: float, wrap: float | None) -> float:
    """end - start of a counter that restarts from zero after `wrap` (one wrap at most between reads)."""
    if end >= start or not wrap:
        return end - start
    return end + wrap - start


def counter_joules(readings: Sequence[tuple[float, ...]], wraps: Sequence[float | None]) -> list[float]:
    """Joules between consecutive readings, summed over domains, each domain's wrap undone."""
    return [sum(wrapped_delta(a, b, w) for a, b, w in zip(first, second, wraps))
            for first, second in zip(readings, readings[1:])]


def integrate_watts(samples: Sequence[tuple[float, float]], t0: float, t1: float) -> float | None:
    """Trapezoidal integral of (time, watts) over [t0, t1]; before the first and after the last sample
    the nearest sample's value holds."""
    points = sorted(samples)
    if not points or t1 <= t0:
        return None

    def at(t: float) -> float:
        if t <= points[0][0]:
            return points[0][1]
        for (ta, wa), (tb, wb) in zip(points, points[1:]):
            if t <= tb:
                return wa + (wb - wa) * (t - ta) / (tb - ta) if tb > ta else wb
        return points[-1][1]

    inside = [(t, w) for t, w in points if t0 < t < t1]
    path = [(t0, at(t0)), *inside, (t1, at(t1))]
    return sum((tb - ta) * (wa + wb) / 2.0 for (ta, wa), (tb, wb) in zip(path, path[1:]))


# ---- the background sampler ---------------------------------------------------------------------
class Sampler:
    """Calls `read` every `interval` seconds in a daemon thread, keeping (mid-read time, value) and the
    time each read ended."""

    def __init__(self, read: Callable[[], object], interval: float, final_sample: bool = False) -> None:
        self.samples: list[tuple[float, object]] = []
        self.ends: list[float] = []
        self.error = ""
        self._read, self._interval, self._final = read, interval, final_sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="energy-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _take(self) -> bool:
        before = time.perf_counter()
        try:
            value = self._read()
        except CounterUnreadable as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # in this thread an exception would only print; the reading says it instead
            self.error = f"the energy sampler failed: {type(exc).__name__}: {exc}"
            return False
        after = time.perf_counter()
        self.samples.append(((before + after) / 2.0, value))
        self.ends.append(after)
        return True

    def _run(self) -> None:
        while self._take() and not self._stop.wait(self._interval):
            pass
        if self._final and not self.error:
            self._take()


# ---- meters -------------------------------------------------------------------------------------------
class EnergyMeter(ABC):
    """Started before and stopped after the timed loop; `stop` returns what it measured."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> EnergyReading: ...


class UnavailableMeter(EnergyMeter):
    def __init__(self, reason: str, counter: str = "") -> None:
        self.reason, self.counter = reason, counter

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> EnergyReading:
        return EnergyReading(counter=self.counter, seconds=time.perf_counter() - self._started,
                             unavailable=self.reason)


class CounterMeter(EnergyMeter):
    def __init__(self, counter: EnergyCounter, gauge: PowerGauge | None = None,
                 interval: float = SAMPLE_INTERVAL_S) -> None:
        self.counter, self.gauge, self.interval = counter, gauge, interval

    def _sample(self) -> tuple[tuple[float, ...], float | None]:
        return self.counter.read(), self.gauge.read_watts() if self.gauge else None

    def start(self) -> None:
        self._error = ""
        try:
            self._first = self.counter.read()
            self._t0 = time.perf_counter()  # after the read, as at stop: the window matches the counter's
        except CounterUnreadable as exc:
            self._error = str(exc)
            return
        self._sampler = Sampler(self._sample, self.interval)
        self._sampler.start()

    def stop(self) -> EnergyReading:
        if self._error:
            return EnergyReading(counter=self.counter.name, unavailable=self._error)
        last_read = time.perf_counter()
        try:
            last = self.counter.read()
        except CounterUnreadable as exc:
            last, self._error = None, str(exc)
        t1 = time.perf_counter()
        self._sampler.stop()
        if last is None:
            return EnergyReading(counter=self.counter.name, seconds=t1 - self._t0, unavailable=self._error)
        # only reads that ended before the last one began: a later one would look like a wrap-around
        done = [s for s, end in zip(self._sampler.samples, self._sampler.ends) if end < last_read]
        return self._reading(t1, last, done)

    def _reading(self, t1: float, last: tuple[float, ...], samples: list) -> EnergyReading:
        times = [self._t0] + [t for t, _ in samples] + [t1]
        steps = counter_joules([self._first] + [v[0] for _, v in samples] + [last], self.counter.wrap_ranges())
        seconds = t1 - self._t0
        joules = sum(steps)
        power = [(t, v[1]) for t, v in samples if v[1] is not None]
        # without power samples, the counter's steps of at least half an interval (a shorter one can
        # hold one more or one less of the counter's own updates, and a wild figure)
        peaks = [w for _, w in power] or [j / (b - a) for j, a, b in zip(steps, times, times[1:])
                                          if b - a >= self.interval / 2]
        return EnergyReading(
            counter=self.counter.name + (f"; power: {self.gauge.name}" if self.gauge else ""),
            resolution=self.counter.resolution, method="energy counter", seconds=seconds, joules=joules,
            average_watts=joules / seconds if seconds > 0 else None, peak_watts=max(peaks, default=None),
            samples=len(samples), sample_interval_s=self.interval,
            sampled_joules=integrate_watts(power, self._t0, t1) if power else None)


class SampledPowerMeter(EnergyMeter):
    """Energy from power samples alone: the loop thread only notes the start and stop times."""

    def __init__(self, gauge: PowerGauge, interval: float = SAMPLE_INTERVAL_S, why: str = "") -> None:
        self.gauge, self.interval, self.why = gauge, interval, why

    def start(self) -> None:
        self._sampler = Sampler(self.gauge.read_watts, self.interval, final_sample=True)
        self._t0 = time.perf_counter()
        self._sampler.start()

    def stop(self) -> EnergyReading:
        t1 = time.perf_counter()
        self._sampler.stop()
        samples = [(t, float(w)) for t, w in self._sampler.samples]
        name = self.gauge.name + (f" ({self.why})" if self.why else "")
        if self._sampler.error or not samples:
            return EnergyReading(counter=name, seconds=t1 - self._t0,
                                 unavailable=self._sampler.error or "no power sample was taken")
        joules = integrate_watts(samples, self._t0, t1)
        seconds = t1 - self._t0
        return EnergyReading(counter=name, resolution=self.gauge.resolution, method="sampled power",
                             seconds=seconds, joules=joules, average_watts=joules / seconds if seconds > 0 else None,
                             peak_watts=max(w for _, w in samples), samples=len(samples),
                             sample_interval_s=self.interval)


class Metered:
    """What `metered` yields: the reading once the block has ended."""

    reading: EnergyReading | None = None


@contextmanager
def metered(meter: EnergyMeter) -> Iterator[Metered]:
    """Run a block between meter.start() and meter.stop(); an exception in the block stops the
    sampler too and leaves `reading` None."""
    box = Metered()
    meter.start()
    try:
        yield box
    except BaseException:
        meter.stop()
        raise
    box.reading = meter.stop()


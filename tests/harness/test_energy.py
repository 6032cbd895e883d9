"""The energy meters with fake counters: wrap-around, missing counter, resolution, sampled power, summary."""
from __future__ import annotations

import math
import threading
import time

import pytest

from harness.energy import (CounterMeter, CounterUnreadable, SampledPowerMeter, UnavailableMeter, counter_joules,
                            integrate_watts, metered, wrapped_delta)
from harness.energy_summary import energy_line, merge_energy, summarize_energy


class TimeCounter:
    """A counter that gains `watts` joules per second of perf_counter, wrapping at `wrap`, counting in
    steps of `step` joules; it notes which thread read it."""

    resolution = "fake"

    def __init__(self, watts: float, wrap: float | None = None, step: float = 0.0) -> None:
        self.watts, self.wrap, self.step = watts, wrap, step
        self.origin = time.perf_counter()
        self.readers: list[str] = []
        self.name = f"fake {watts} W"

    def true_joules(self) -> float:
        return self.watts * (time.perf_counter() - self.origin)

    def read(self) -> tuple[float, ...]:
        self.readers.append(threading.current_thread().name)
        value = self.true_joules()
        if self.step:
            value = math.floor(value / self.step) * self.step
        return (value % self.wrap if self.wrap else value,)

    def wrap_ranges(self):
        return (self.wrap,)


class ConstantGauge:
    name, resolution = "fake gauge", "fake"

    def __init__(self, watts: float) -> None:
        self.watts = watts

    def read_watts(self) -> float:
        return self.watts


def test_wrapped_delta_undoes_one_wrap_per_domain():
    assert wrapped_delta(10.0, 25.0, 100.0) == 15.0
    assert wrapped_delta(90.0, 5.0, 100.0) == pytest.approx(100.0 - 90.0 + 5.0)
    # two domains, one wrapping: (95 -> 3 over a range of 100) + (1 -> 4)
    assert counter_joules([(95.0, 1.0), (3.0, 4.0)], (100.0, 50.0)) == [pytest.approx(8.0 + 3.0)]


def test_counter_meter_follows_a_counter_through_several_wraps():
    # 40 W for ~0.6 s is ~24 J: the counter wraps at 5 J about five times; samples every 20 ms see each one
    counter = TimeCounter(40.0, wrap=5.0)
    meter = CounterMeter(counter, interval=0.02)
    meter.start()
    time.sleep(0.6)
    reading = meter.stop()
    assert reading.joules == pytest.approx(40.0 * reading.seconds, rel=1e-3)
    assert reading.average_watts == pytest.approx(40.0, rel=1e-3)
    assert reading.peak_watts == pytest.approx(40.0, rel=0.05)
    assert reading.samples >= 10 and reading.method == "energy counter" and not reading.unavailable


def test_the_loop_thread_reads_the_counter_twice_only():
    counter = TimeCounter(10.0)
    with metered(CounterMeter(counter, interval=0.01)) as box:
        time.sleep(0.2)
    main = threading.current_thread().name
    assert counter.readers.count(main) == 2
    assert len(counter.readers) - 2 == box.reading.samples > 5


def test_a_coarse_counter_is_off_by_at_most_its_step():
    counter = TimeCounter(30.0, step=2.0)  # counts in 2 J steps
    meter = CounterMeter(counter, interval=0.05)
    meter.start()
    time.sleep(0.4)
    reading = meter.stop()
    assert reading.joules % 2.0 == pytest.approx(0.0, abs=1e-9)
    assert abs(reading.joules - 30.0 * reading.seconds) <= 2.0 + 1e-9


def test_counter_meter_with_power_samples_cross_checks_itself():
    meter = CounterMeter(TimeCounter(25.0), ConstantGauge(25.0), interval=0.02)
    meter.start()
    time.sleep(0.3)
    reading = meter.stop()
    summary = summarize_energy(reading, images=600)
    assert reading.sampled_joules == pytest.approx(25.0 * reading.seconds, rel=1e-9)
    assert summary.counter_to_sampled_ratio == pytest.approx(reading.joules / reading.sampled_joules)
    assert summary.counter_to_sampled_ratio == pytest.approx(1.0, rel=1e-3)
    assert reading.peak_watts == 25.0


class BrokenCounter:
    name, resolution = "broken", ""

    def read(self):
        raise CounterUnreadable("/sys/x/energy_uj is not readable by this user")

    def wrap_ranges(self):
        return (None,)


def test_a_missing_counter_gives_the_reason_and_no_number():
    meter = CounterMeter(BrokenCounter())
    meter.start()
    summary = summarize_energy(meter.stop(), images=10)
    assert not summary.available and summary.joules is None and summary.joules_per_image is None
    assert summary.unavailable == "/sys/x/energy_uj is not readable by this user"
    unavailable = UnavailableMeter("no counter here")
    unavailable.start()
    assert summarize_energy(unavailable.stop(), 10).to_dict()["unavailable"] == "no counter here"
    assert energy_line(summary.to_dict()) == "[INFO] energy: unavailable: /sys/x/energy_uj is not readable by this user"


class StillCounter:
    """A counter that updates less often than a short loop lasts (NVML's can take tens of ms)."""
    name, resolution = "still", "1 mJ"

    def read(self):
        return (1234.5,)

    def wrap_ranges(self):
        return (None,)


def test_a_counter_that_did_not_advance_gives_no_figure_and_says_run_longer():
    meter = CounterMeter(StillCounter(), interval=0.01)
    meter.start()
    time.sleep(0.03)
    summary = summarize_energy(meter.stop(), images=1280)
    assert not summary.available and summary.joules is None and summary.images_per_second_per_watt is None
    assert "did not advance" in summary.unavailable and "run longer" in summary.unavailable
    assert energy_line(summary.to_dict()).startswith("[INFO] energy: unavailable: the energy counter did not advance")


def test_integral_holds_the_edge_samples_and_is_trapezoidal():
    samples = [(1.0, 10.0), (2.0, 20.0), (4.0, 20.0)]
    # [0,1] 10 W held, [1,2] ramp 10->20, [2,4] 20 W, [4,5] 20 W held
    assert integrate_watts(samples, 0.0, 5.0) == pytest.approx(10 + 15 + 40 + 20)
    # a window inside: [1.5, 3] = ramp 15->20 over 0.5 s + 20 W over 1 s
    assert integrate_watts(samples, 1.5, 3.0) == pytest.approx(0.5 * 17.5 + 20.0)
    assert integrate_watts([], 0.0, 1.0) is None


def test_sampled_power_meter_integrates_a_step():
    start = time.perf_counter()

    class StepGauge(ConstantGauge):
        def read_watts(self) -> float:
            return 100.0 if time.perf_counter() - start < 0.25 else 300.0

    meter = SampledPowerMeter(StepGauge(0.0), interval=0.01)
    meter.start()
    time.sleep(0.5)
    reading = meter.stop()
    # 100 W for the first 0.25 s (the meter started within a millisecond of `start`), 300 W after; the
    # step is smeared over about one sample interval
    expected = 100.0 * 0.25 + 300.0 * (reading.seconds - 0.25)
    assert reading.joules == pytest.approx(expected, abs=200.0 * 0.02)
    assert reading.peak_watts == 300.0 and reading.method == "sampled power"


def test_summary_figures_follow_from_joules_and_images():
    reading = CounterMeter(TimeCounter(50.0), interval=0.05)
    reading.start()
    time.sleep(0.1)
    summary = summarize_energy(reading.stop(), images=256).to_dict()
    assert summary["available"] is True
    assert summary["joules_per_image"] == pytest.approx(summary["joules"] / 256)
    assert summary["images_per_second_per_watt"] == pytest.approx(256 / summary["joules"])
    assert summary["average_watts"] == pytest.approx(summary["joules"] / summary["seconds"])


def test_merged_devices_add_joules_or_name_the_missing_one():
    a = {"available": True, "joules": 30.0, "seconds": 2.0, "images": 100, "counter": "c", "peak_watts": 20.0}
    b = {"available": True, "joules": 10.0, "seconds": 1.0, "images": 60, "counter": "c", "peak_watts": 12.0}
    merged = merge_energy([a, b], ["0", "1"], side_by_side=True)
    assert merged["joules"] == 40.0 and merged["images"] == 160 and merged["seconds"] == 2.0
    assert merged["joules_per_image"] == pytest.approx(40.0 / 160)
    assert merged["average_watts"] == pytest.approx(40.0 / 2.0) and merged["peak_watts"] == 32.0
    apart = merge_energy([a, b], ["0", "1"])  # loops not known to have run at once: no combined peak
    assert apart["peak_watts"] is None and apart["joules"] == 40.0
    missing = merge_energy([a, {"available": False, "unavailable": "no RAPL", "images": 3}], ["0", "1"])
    assert not missing["available"] and missing["joules"] is None and missing["unavailable"] == "device 1: no RAPL"


def test_an_exception_in_the_block_stops_the_sampler():
    counter = TimeCounter(1.0)
    with pytest.raises(RuntimeError):
        with metered(CounterMeter(counter, interval=0.01)):
            time.sleep(0.05)
            raise RuntimeError("loop failed")
    time.sleep(0.05)
    assert not any(t.name == "energy-sampler" for t in threading.enumerate())


def test_a_failing_gauge_makes_the_reading_unavailable_with_the_error():
    class FailingGauge(ConstantGauge):
        def read_watts(self) -> float:
            raise ValueError("could not convert string to float: 'NA'")

    meter = SampledPowerMeter(FailingGauge(0.0), interval=0.01)
    meter.start()
    reading = meter.stop()
    assert reading.joules is None
    assert reading.unavailable == "the energy sampler failed: ValueError: could not convert string to float: 'NA'"


def test_a_sample_read_that_overlaps_the_last_read_is_not_taken_for_a_wrap():
    class SlowInThread(TimeCounter):
        """Reads in the sampler thread take 50 ms and see the counter at their end."""

        def read(self):
            if threading.current_thread().name == "energy-sampler":
                time.sleep(0.05)
            return super().read()

    counter = SlowInThread(10.0, wrap=1000.0)
    meter = CounterMeter(counter, interval=0.001)  # a sampler read is nearly always in flight
    meter.start()
    time.sleep(0.3)
    reading = meter.stop()
    assert reading.joules == pytest.approx(10.0 * reading.seconds, abs=0.01)

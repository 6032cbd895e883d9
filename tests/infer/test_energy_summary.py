"""summary.json `energy` end to end: cpu and null targets through `python -m infer`, and a known counter in-process."""
from __future__ import annotations

import json
import time

import pytest

from harness.energy import CounterMeter
from tests.conftest import make_convert_dir, run_cli, write_bins

FIELDS = {"available", "counter", "resolution", "method", "seconds", "joules", "average_watts", "peak_watts",
          "samples", "joules_per_image", "images_per_second_per_watt", "unavailable", "images"}


class FortyWattCounter:
    name, resolution = "forty watts", "exact"

    def __init__(self) -> None:
        self.origin = time.perf_counter()

    def read(self) -> tuple[float, ...]:
        return (40.0 * (time.perf_counter() - self.origin),)

    def wrap_ranges(self):
        return (None,)


def infer(model, out, name, *extra) -> dict:
    proc = run_cli("-m", "infer", "--model", str(model), "--output", str(out), "--output_dirname", name, *extra)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / f"{name}_summary.json").read_text())
    assert FIELDS <= set(summary["energy"]), summary["energy"]
    return summary | {"stdout": proc.stdout}


def test_null_target_says_it_has_no_counter(tmp_path):
    model = make_convert_dir(tmp_path / "null", target="null", batch=2)
    summary = infer(model, tmp_path / "res", "pure", "--loop", "5")
    energy = summary["energy"]
    assert energy["available"] is False and energy["joules"] is None and energy["joules_per_image"] is None
    assert energy["unavailable"] == "the null target has no device, so no energy counter"
    assert "[INFO] energy: unavailable: the null target has no device" in summary["stdout"]
    merged = infer(model, tmp_path / "res", "two", "--loop", "5", "--device", "0,1")["energy"]
    assert merged["unavailable"] == ("device 0: the null target has no device, so no energy counter; "
                                     "device 1: the null target has no device, so no energy counter")


@pytest.mark.parametrize("mode", ["pure", "dataset"])
def test_cpu_target_reports_rapl_or_why_not(tmp_path, mode):
    from targets.cpu.rapl import cpu_energy_meter

    model = make_convert_dir(tmp_path / "cpu", batch=4)
    extra = ["--loop", "10"] if mode == "pure" else ["--input", str(tmp_path / "bins")]
    write_bins(tmp_path / "bins", 9)
    energy = infer(model, tmp_path / "res", mode, *extra)["energy"]
    here = cpu_energy_meter()
    if getattr(here, "reason", None):
        assert energy["available"] is False and energy["unavailable"] == here.reason
    else:
        assert energy["available"] is True and energy["counter"].startswith("RAPL package energy")
        assert energy["joules_per_image"] == pytest.approx(energy["joules"] / energy["images"])


@pytest.mark.parametrize("mode", ["pure", "dataset"])
def test_summary_energy_from_a_known_counter(tmp_path, monkeypatch, mode):
    from infer.cli import parse_args
    from infer.run import run
    from targets.cpu import rapl

    monkeypatch.setattr(rapl, "cpu_energy_meter", lambda: CounterMeter(FortyWattCounter(), interval=0.01))
    model = make_convert_dir(tmp_path / "cpu", batch=4)
    write_bins(tmp_path / "bins", 30)
    args = ["--model", str(model), "--output", str(tmp_path / "res"), "--output_dirname", mode, "--no-progress"]
    args += ["--loop", "50", "--time_limit", "0.3"] if mode == "pure" else ["--input", str(tmp_path / "bins")]
    summary = run(parse_args(args))
    energy = json.loads((tmp_path / "res" / f"{mode}_summary.json").read_text())["energy"]
    assert energy == summary.energy
    images = summary.num_inputs
    assert energy["available"] and energy["images"] == images == (30 if mode == "dataset" else images)
    # the counter and the clock are read one after the other: a thread switch between them (5 ms at most)
    # can put up to 0.2 J between the two
    assert energy["joules"] == pytest.approx(40.0 * energy["seconds"], abs=0.2)
    assert energy["average_watts"] == pytest.approx(energy["joules"] / energy["seconds"], rel=1e-12)
    assert energy["joules_per_image"] == pytest.approx(energy["joules"] / images, rel=1e-12)
    assert energy["images_per_second_per_watt"] == pytest.approx(images / energy["joules"], rel=1e-12)
    # the meter's window is the timed loop's: it starts just before and stops just after it
    wall = summary.throughput["wall_s"]
    assert wall <= energy["seconds"] < wall + 0.05

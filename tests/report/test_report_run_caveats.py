"""The caveats a run records travel with its numbers into the report: infer's warning, how far apart the timed
loops of a run over several devices began, which walltime its end-to-end divides by, that the null target timed no
device. Each device's part of such a run is not a run of its own, a copy of a run (or of its scoring) counts once,
a run that timed nothing shows no figure, uint8 and float32 inputs are not one series, and a named pipe among the
results is not waited on. The runs are made by infer on the null target."""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil

import pytest
from PIL import Image

from report import cli
from report.collect import collect
from report.series import build_series
from tests.conftest import make_convert_dir, run_cli
from tests.report.test_report_build import section, table_after

BATCH = 4


def infer_null(model, output, dirname: str, *extra: str) -> dict:
    proc = run_cli("-m", "infer", "--model", str(model), "--output", str(output), "--output_dirname", dirname,
                   "--batchsize", str(BATCH), "--no-progress", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads((output / f"{dirname}_summary.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run over devices 0,1 whose workers did not warm up (infer warns of it), and a one-device run of 2 ms a
    batch at the same batch size."""
    root = tmp_path_factory.mktemp("caveats")
    model = make_convert_dir(root / "model", target="null", batch=BATCH)
    multi = infer_null(model, root / "res", "multi", "--loop", "10", "--warmup_count", "0", "--option",
                       "compute_ms=1", "--device", "0,1")
    single = infer_null(model, root / "res", "single", "--loop", "5", "--option", "compute_ms=2")
    return root / "res", multi, single


def report_of(inputs, out):
    cli.run(cli.ReportConfig(input=list(inputs), output=out, include_published=False))
    return (out / "report.md").read_text(), json.loads((out / "report.json").read_text())


def test_a_run_warning_is_shown_beside_its_numbers_in_every_table(runs, tmp_path):
    res, multi, _ = runs
    warning = multi["extra"]["warning"]
    assert warning.startswith("--warmup_count 0: each device prepared its engine")  # what infer wrote
    markdown, report = report_of([res], tmp_path / "out")
    (row,) = [r for r in report["perf"] if r["source"].endswith("multi_summary.json")]
    assert row["warning"] == warning
    with open(tmp_path / "out" / "perf.csv", newline="") as handle:
        (csv_row,) = [r for r in csv.DictReader(handle) if r["source"].endswith("multi_summary.json")]
    assert csv_row["warning"] == warning
    (compared,) = [r for r in report["comparison"] if r["source"].endswith("multi_summary.json")]
    assert compared["warning"] == warning and compared["baseline_warning"] == ""

    per_target = section(markdown, "## 2. Performance per target")
    line = next(line for line in per_target.splitlines() if line.endswith("multi_summary.json | warning [1] |"))
    assert line.startswith(f"| {BATCH} | pure |")
    assert f"- [1] batch {BATCH}, pure: **warning**: {warning}" in per_target

    comparison = section(markdown, "## 3. Vendor comparison")
    img_s = table_after(comparison, "#### img/s, compute-only")
    combined = f"{multi['throughput']['compute_only']:,.1f}"
    assert img_s[str(BATCH)]["none x2 combined fp32 [measured]"] == f"{combined} [!1]"
    assert img_s[str(BATCH)]["none fp32 [measured]"] == "2,000.0"  # its run warned of nothing: no mark
    assert f"- [!1] none x2 combined, fp32, batch {BATCH} ({res / 'multi_summary.json'}): **warning**: {warning}" \
        in comparison
    ratios = table_after(comparison, "#### ratio to")
    assert ratios[str(BATCH)]["none x2 combined fp32 [measured]"].endswith(" [!1]")  # a ratio of a warned figure

    for figure in ("throughput_tiny.png", "throughput_e2e_tiny.png"):  # the plotted point carries a red x
        with Image.open(tmp_path / "out" / figure) as image:
            description = image.text["Description"]
        assert description.endswith(f"red x: its run recorded a warning (listed in report.md): none x2 combined "
                                    f"fp32 batch {BATCH}"), description


def test_a_run_over_devices_shows_how_far_apart_its_loops_began_and_its_wall(runs, tmp_path):
    res, multi, _ = runs
    skew = multi["throughput"]["loop_start_skew_s"]
    assert multi["extra"]["end_to_end_wall"] == "span" and 0 <= skew < 0.5
    (row,) = [r for r in collect([res]).perf if r.source.endswith("multi_summary.json")]
    assert row.loop_start_skew_s == skew
    assert f"their timed loops started within {skew * 1000:.3g} ms of each other" in row.conditions
    assert "end-to-end all images over the walltime from the first device's timed loop start to the last " \
           "one's end" in row.conditions
    markdown, report = report_of([res], tmp_path / "out")
    assert f"within {skew * 1000:.3g} ms of each other" in section(markdown, "## 2. Performance per target")
    assert [r["loop_start_skew_s"] for r in report["perf"] if r["gpus"] == 2] == [skew]

    older = copy.deepcopy(multi)  # merged before loops shared a clock: no skew, the longest device's wall
    del older["throughput"]["loop_start_skew_s"]
    older["extra"]["end_to_end_wall"] = "longest device"
    (tmp_path / "older").mkdir()
    (tmp_path / "older" / "old_summary.json").write_text(json.dumps(older))
    (old,) = collect([tmp_path / "older"]).perf
    assert "how far apart their timed loops started is not recorded" in old.conditions
    assert "the longest device's walltime" in old.conditions and old.loop_start_skew_s is None


def test_a_negative_skew_is_refused_naming_the_field(runs, tmp_path):
    _, multi, single = runs
    bad = copy.deepcopy(multi)
    bad["throughput"]["loop_start_skew_s"] = -0.2  # later than itself: no skew
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad_summary.json").write_text(json.dumps(bad))
    (tmp_path / "in" / "good_summary.json").write_text(json.dumps(single))
    found = collect([tmp_path / "in"])
    assert [r.source for r in found.perf] == [str(tmp_path / "in" / "good_summary.json")]
    (reason,) = found.skipped
    assert "bad_summary.json" in reason and "throughput.loop_start_skew_s" in reason


def test_each_device_part_shows_within_its_run_not_as_one_device_runs(runs, tmp_path):
    res, multi, single = runs
    found = collect([res])
    assert sorted(r.source.rsplit("/", 1)[-1] for r in found.perf) == ["multi_summary.json", "single_summary.json"]
    assert found.device_parts == [f"{res / f'multi_summary.device{d}.json'}: device {d} of the run over devices "
                                  f"0,1 in {res / 'multi_summary.json'}" for d in "01"]
    assert sorted(c["run"] for c in found.idle_checks) == [  # each device checked before its part ran
        f"tiny on null, fp32, batch {BATCH}", f"tiny on null, fp32, batch {BATCH}, device 0",
        f"tiny on null, fp32, batch {BATCH}, device 1"]
    # the one-device series holds the one-device run, never a device of the run over two (1 ms a batch, not 2)
    series = {s.device: s.img_s(BATCH) for s in build_series(found.perf)}
    assert series == {"none": single["throughput"]["compute_only"],
                      "none x2 combined": multi["throughput"]["compute_only"]}
    assert single["throughput"]["compute_only"] == pytest.approx(2000.0)

    alone = tmp_path / "alone"  # a part whose merged summary is not there is all there is of it: shown
    alone.mkdir()
    shutil.copy(res / "multi_summary.device1.json", alone)
    (part,) = collect([alone]).perf
    assert part.device == "none" and part.img_s_compute == pytest.approx(4000.0)
    assert part.conditions.startswith("one device's part of a run over several devices, which ran beside it (no "
                                      "readable merged summary multi_summary.json of it here)")


def test_a_copy_of_a_run_counts_once(runs, tmp_path):
    res, _, single = runs
    for name in ("work", "store"):
        (tmp_path / name).mkdir()
        shutil.copy(res / "single_summary.json", tmp_path / name / "single_summary.json")
    rerun = copy.deepcopy(single)  # the same settings measured again: another run, kept
    rerun["compute_ms"] = [2.5] * len(rerun["compute_ms"])
    (tmp_path / "store" / "rerun_summary.json").write_text(json.dumps(rerun))
    found = collect([tmp_path / "work", tmp_path / "store"])
    assert sorted(r.source for r in found.perf) == [str(tmp_path / "store" / "rerun_summary.json"),
                                                    str(tmp_path / "work" / "single_summary.json")]
    assert found.duplicates == [f"{tmp_path / 'store' / 'single_summary.json'}: the same run as "
                                f"{tmp_path / 'work' / 'single_summary.json'} (identical summary); counted once"]
    markdown, _ = report_of([tmp_path / "work", tmp_path / "store"], tmp_path / "out")
    assert "Copies of a run found more than once, each counted once:" in markdown


def test_a_run_that_timed_nothing_shows_no_throughput(runs, tmp_path):
    _, _, single = runs
    empty = copy.deepcopy(single)  # as infer records a loop that timed no batch: throughput 0, no compute times
    empty.update(num_inputs=0, num_batches=0, compute_ms=[], timings={"compute": {}})
    empty["throughput"] = {"compute_only": 0.0, "end_to_end": 0.0, "wall_s": 0.0}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty_summary.json").write_text(json.dumps(empty))
    (record,) = collect([tmp_path / "in"]).perf
    assert record.img_s_compute is None and record.img_s_e2e is None
    assert "no timed batches (0 batches, 0 compute times): no throughput" in record.conditions
    markdown, report = report_of([tmp_path / "in"], tmp_path / "out")
    assert report["comparison"] == [] and report["perf"][0]["img_s_compute"] is None
    assert "| 0.0 |" not in markdown


def test_uint8_and_float32_inputs_are_two_series(runs, tmp_path):
    _, _, single = runs
    assert single["engine"]["input_form"] == "float32"
    uint8 = copy.deepcopy(single)
    uint8["engine"]["input_form"] = "uint8"
    uint8["compute_ms"] = [1.0] * len(uint8["compute_ms"])
    uint8["throughput"]["compute_only"] = 4000.0
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "f32_summary.json").write_text(json.dumps(single))
    (tmp_path / "in" / "u8_summary.json").write_text(json.dumps(uint8))
    series = {s.label: s.img_s(BATCH) for s in build_series(collect([tmp_path / "in"]).perf)}
    assert series == {"none fp32 [measured]": pytest.approx(2000.0), "none fp32 uint8 input [measured]": 4000.0}


def test_a_copied_run_directory_gives_one_accuracy_row_and_a_rescored_one_two(tmp_path):
    from tests.report.test_report_integrity import accuracy_run, modelzoo

    accuracy_run(tmp_path / "work", num_inputs=2, images=2)
    shutil.copytree(tmp_path / "work", tmp_path / "store")  # the same run and scoring, stored again
    found = collect([tmp_path / "work", tmp_path / "store"])
    assert [r.source for r in found.accuracy] == [str(tmp_path / "work" / "out" / "run" / "result.json")]
    assert f"{tmp_path / 'store' / 'out' / 'run' / 'result.json'}: the same scoring of the same run as " \
           f"{tmp_path / 'work' / 'out' / 'run' / 'result.json'}; counted once" in found.duplicates
    rescored = tmp_path / "store" / "out" / "run" / "result.json"  # scored again with other labels: kept
    rescored.write_text(json.dumps(modelzoo(2, top1="50.0%")))
    found = collect([tmp_path / "work", tmp_path / "store"])
    assert sorted(r.top1 for r in found.accuracy) == [50.0, 100.0] and len(found.perf) == 1


def test_a_null_target_run_says_no_device_timed_it(runs, tmp_path):
    res, multi, single = runs
    assert single["engine"]["emulated_compute_ms"] == 2.0  # what the null target recorded of --option compute_ms
    by_name = {r.source.rsplit("/", 1)[-1]: r for r in collect([res]).perf}
    assert by_name["single_summary.json"].conditions.startswith(
        "null target: no model ran, compute time emulated at 2 ms a batch")
    assert by_name["multi_summary.json"].conditions.startswith(
        "null target: no model ran, compute time emulated at 1 ms a batch")
    overhead = copy.deepcopy(single)  # no --option compute_ms: the loop's own time
    del overhead["engine"]["emulated_compute_ms"]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "o_summary.json").write_text(json.dumps(overhead))
    (record,) = collect([tmp_path / "in"]).perf
    assert record.conditions.startswith("null target: no model ran, the times are the harness loop's own overhead")


def test_a_named_pipe_among_the_results_is_passed_over_not_waited_on(runs, tmp_path):
    res, _, _ = runs
    (tmp_path / "in").mkdir()
    shutil.copy(res / "single_summary.json", tmp_path / "in")
    os.mkfifo(tmp_path / "in" / "tee_summary.json")  # opening it to read would wait for a writer
    proc = run_cli("-m", "report", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                   "--no-published", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"report: skipped {tmp_path / 'in' / 'tee_summary.json'}: not a regular file (a named pipe, socket or " \
           "device); passed over" in proc.stderr
    assert "1 measured performance rows" in proc.stdout

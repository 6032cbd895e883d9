"""ais_bench command lines: the real `python -m ais_bench` (2025, unmodified) over the simulated aclruntime,
and the same command lines given to `python -m infer`, which must write the same files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from targets import get_target
from tests.conftest import assert_one_line_error
from tests.targets.ascend.models import CLASSES, IMAGE, build_request, tiny_classifier
from tests.targets.ascend.upstream import ROOT

SAMPLES = 5


@pytest.fixture
def om_and_data(ascend_sim, tmp_path):
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "om", batch_sizes=[2])
    om = get_target("ascend").build(request).artifact
    prep = tmp_path / "prep"
    prep.mkdir()
    images = np.random.default_rng(0).standard_normal((SAMPLES, 3, IMAGE, IMAGE)).astype(np.float32)
    for i, image in enumerate(images):
        image.tofile(prep / f"img_{i}.bin")
    labels = tmp_path / "val_label.txt"
    labels.write_text("".join(f"img_{i} {i % CLASSES}\n" for i in range(SAMPLES)))
    return om, prep, labels


def _run(module: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], str(ROOT)])}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("outfmt", ["TXT", "NPY", "BIN"])
def test_same_command_line_same_files_as_the_real_cli(om_and_data, tmp_path, outfmt):
    om, prep, labels = om_and_data
    line = ["--model", str(om), "--input", str(prep), "--output", str(tmp_path / "result"), "--outfmt", outfmt,
            "--batchsize", "2"]
    _ok(_run("ais_bench", *line, "--output_dirname", "real"))
    _ok(_run("infer", *line, "--output_dirname", "ours"))
    real, ours = tmp_path / "result" / "real", tmp_path / "result" / "ours"
    assert _files(real) == _files(ours) and len(_files(ours)) == SAMPLES  # outputs only, byte for byte
    assert (tmp_path / "result" / "real_summary.json").is_file()
    summary = json.loads((tmp_path / "result" / "ours_summary.json").read_text())  # beside, as ais_bench's
    assert summary["precision"] == "unknown" and summary["batch_size"] == 2 and summary["num_inputs"] == SAMPLES
    if outfmt == "NPY":
        assert np.load(ours / "img_0_0.npy").shape == (1, CLASSES)  # ais_bench keeps the batch axis
    if outfmt != "BIN":  # ais_bench BIN outputs carry no dtype or shape to score
        scores = []
        for name in ("real", "ours"):
            result = tmp_path / f"{name}.json"
            _ok(_run("postprocess", "--result", str(tmp_path / "result" / name), "--labels", str(labels),
                     "--output", str(result)))
            scores.append(json.loads(result.read_text()))
        assert scores[0] == scores[1]


def test_postprocess_reads_the_harness_summary_beside_bin_outputs(om_and_data, tmp_path):
    om, prep, labels = om_and_data
    _ok(_run("infer", "--model", str(om), "--input", str(prep), "--output", str(tmp_path / "r"),
             "--output_dirname", "bin", "--outfmt", "BIN"))
    _ok(_run("postprocess", "--result", str(tmp_path / "r" / "bin"), "--labels", str(labels), "--output",
             str(tmp_path / "bin.json")))
    values = {v["key"]: v["value"] for v in json.loads((tmp_path / "bin.json").read_text())["value"]}
    assert values["Number of images"] == str(SAMPLES)


def test_pure_inference_and_loop_mean_what_ais_bench_means(om_and_data, tmp_path):
    om, prep, _ = om_and_data
    _ok(_run("infer", "--model", str(om), "--batchsize", "2", "--loop", "7", "--output", str(tmp_path / "r"),
             "--output_dirname", "pure"))
    pure = json.loads((tmp_path / "r" / "pure_summary.json").read_text())
    assert pure["mode"] == "pure" and pure["num_batches"] == 7 and len(pure["compute_ms"]) == 7
    _ok(_run("infer", "--model", str(om), "--input", str(prep), "--loop", "3", "--output", str(tmp_path / "r"),
             "--output_dirname", "loop"))
    looped = json.loads((tmp_path / "r" / "loop_summary.json").read_text())
    assert looped["num_batches"] == 3 and len(looped["compute_ms"]) == 3 * 3  # every execution is timed
    assert len(list((tmp_path / "r" / "loop").iterdir())) == SAMPLES


def test_inputs_as_a_list_of_bin_and_npy_files(om_and_data, tmp_path):
    om, prep, _ = om_and_data
    _ok(_run("infer", "--model", str(om), "--input", str(prep), "--output", str(tmp_path / "r"),
             "--output_dirname", "dir", "--outfmt", "TXT"))
    npys = tmp_path / "npy"
    npys.mkdir()
    files = []
    for i in range(SAMPLES):
        data = np.fromfile(prep / f"img_{i}.bin", np.float32).reshape(3, IMAGE, IMAGE)
        if i % 2:
            np.save(npys / f"img_{i}.npy", data[np.newaxis])  # (1, C, H, W) as ais_bench writes its own
            files.append(str(npys / f"img_{i}.npy"))
        else:
            files.append(str(prep / f"img_{i}.bin"))
    _ok(_run("infer", "--model", str(om), "--input", ",".join(files), "--output", str(tmp_path / "r"),
             "--output_dirname", "list", "--outfmt", "TXT"))
    assert _files(tmp_path / "r" / "dir") == _files(tmp_path / "r" / "list")


def test_dym_batch_runs_a_dynamic_om_at_that_gear(ascend_sim, tmp_path):
    from tests.targets.ascend.models import cpu_reference

    onnx = tiny_classifier(tmp_path / "tiny.onnx")
    request = build_request(onnx, tmp_path / "om", batch_sizes=[4], dynamic=True)
    om = get_target("ascend").build(request).artifact
    prep = tmp_path / "prep"
    prep.mkdir()
    images = np.random.default_rng(1).standard_normal((3, 3, IMAGE, IMAGE)).astype(np.float32)
    for i, image in enumerate(images):
        image.tofile(prep / f"s{i}.bin")
    _ok(_run("infer", "--model", str(om), "--input", str(prep), "--dymBatch", "2", "--output",
             str(tmp_path / "r"), "--output_dirname", "d", "--outfmt", "NPY"))
    summary = json.loads((tmp_path / "r" / "d_summary.json").read_text())
    assert summary["batch_size"] == 2 and summary["num_batches"] == 2
    got = np.stack([np.load(tmp_path / "r" / "d" / f"s{i}_0.npy")[0] for i in range(3)])
    np.testing.assert_allclose(got, cpu_reference(onnx, images), rtol=1e-5, atol=1e-5)
    refused = _run("infer", "--model", str(om), "--input", str(prep))
    assert refused.returncode != 0 and "pass --dymBatch N" in refused.stderr


@pytest.mark.parametrize("flag, value, says", [
    ("--dymHW", "224,224", "--dymHW is an ais_bench flag for dynamic-HW models"),
    ("--aipp_config", "x.config", "--aipp_config is an ais_bench flag for dynamic AIPP"),
])
def test_ais_bench_flags_without_an_equivalent_are_refused_by_name(om_and_data, flag, value, says):
    om, prep, _ = om_and_data
    proc = _run("infer", "--model", str(om), "--input", str(prep), flag, value)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_ais_bench_pipeline_flag_sets_the_pipeline_option(om_and_data, ascend_sim, tmp_path):
    om, prep, _ = om_and_data
    ran = {}
    for value in ("1", "0"):
        _ok(_run("infer", "--model", str(om), "--input", str(prep), "--pipeline", value, "--output",
                 str(tmp_path / "r"), "--output_dirname", f"p{value}", "--outfmt", "NPY"))
        summary = json.loads((tmp_path / "r" / f"p{value}_summary.json").read_text())
        ran[value] = (summary["engine"]["pipeline"], summary["engine"]["pipeline_requested"])
    assert ran == {"1": ("pipelined", "1"), "0": ("sequential", "0")}
    assert _files(tmp_path / "r" / "p1") == _files(tmp_path / "r" / "p0")
    ascend_sim.api("2023")  # a runtime without run_pipeline: ais_bench's --pipeline 1 cannot be honoured
    proc = _run("infer", "--model", str(om), "--input", str(prep), "--pipeline", "1")
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "pipeline" in proc.stderr, proc.stderr


def test_neutral_ais_bench_flags_are_accepted(om_and_data, tmp_path):
    om, prep, _ = om_and_data
    _ok(_run("infer", "--model", str(om), "--input", str(prep), "--debug", "0", "--run_mode", "array",
             "--output_batchsize_axis", "0", "--pure_data_type", "zero"))


def test_a_static_om_takes_its_own_batch_only(om_and_data):
    om, prep, _ = om_and_data
    proc = _run("infer", "--model", str(om), "--input", str(prep), "--batchsize", "4")
    assert proc.returncode != 0 and "takes batch 2 only" in proc.stderr


def test_a_precision_mode_that_feeds_cube_ops_fp16_is_labelled_so(ascend_sim, tmp_path):
    """`--option precision_mode=force_fp32` does not compute in fp32: convert.json and summary.json say what ran."""
    from tests.targets.ascend.models import cpu_reference, manifest_for

    onnx = tiny_classifier(tmp_path / "tiny.onnx")
    request = build_request(onnx, tmp_path / "om", batch_sizes=[2], precision_mode="force_fp32")
    result = get_target("ascend").build(request)
    assert result.info["effective_precision"] == "fp32-cube-fp16in"
    manifest_for(request, result).write(tmp_path / "om")
    images = np.random.default_rng(2).standard_normal((2, 3, IMAGE, IMAGE)).astype(np.float32)
    prep = tmp_path / "prep"
    prep.mkdir()
    for i, image in enumerate(images):
        image.tofile(prep / f"s{i}.bin")
    _ok(_run("infer", "--model", str(tmp_path / "om"), "--input", str(prep), "--output", str(tmp_path / "r"),
             "--output_dirname", "cube", "--outfmt", "NPY"))
    summary = json.loads((tmp_path / "r" / "cube_summary.json").read_text())
    assert (summary["precision"], summary["requested_precision"]) == ("fp32-cube-fp16in", "fp32")
    got = np.stack([np.load(tmp_path / "r" / "cube" / f"s{i}_0.npy")[0] for i in range(2)])
    reference = cpu_reference(onnx, images)
    assert not np.array_equal(got, reference)  # fp16 inputs to the convolutions: close, not equal
    np.testing.assert_allclose(got, reference, rtol=2e-2, atol=2e-2)


def test_two_devices_write_one_result_directory(om_and_data, ascend_sim, tmp_path):
    om, prep, _ = om_and_data
    ascend_sim.set("ASCEND_SIM_DEVICES", "2")
    line = ["--model", str(om), "--input", str(prep), "--output", str(tmp_path / "r"), "--outfmt", "TXT",
            "--batchsize", "2"]
    _ok(_run("infer", *line, "--output_dirname", "one"))
    _ok(_run("infer", *line, "--output_dirname", "two", "--device", "0,1"))
    assert _files(tmp_path / "r" / "one") == _files(tmp_path / "r" / "two")
    merged = json.loads((tmp_path / "r" / "two_summary.json").read_text())
    assert merged["device"] == "0,1" and merged["num_inputs"] == SAMPLES
    assert sorted(merged["throughput"]["per_device"]) == ["0", "1"]


def test_a_bare_om_over_more_devices_than_batches_is_refused_before_any_runs(om_and_data, ascend_sim, tmp_path):
    # the parent counts the batches before the runtime has described the OM's input
    om, prep, _ = om_and_data
    ascend_sim.set("ASCEND_SIM_DEVICES", "2")
    two = tmp_path / "two"
    two.mkdir()
    for name in ("img_0.bin", "img_1.bin"):
        (two / name).write_bytes((prep / name).read_bytes())
    proc = _run("infer", "--model", str(om), "--input", str(two), "--output", str(tmp_path / "r"), "--outfmt", "TXT",
                "--batchsize", "2", "--output_dirname", "d", "--device", "0,1")
    assert_one_line_error(proc, "--device 0,1 runs 2 devices, but the 2 inputs make 1 batch of 2")
    assert not (tmp_path / "r" / "d").exists()

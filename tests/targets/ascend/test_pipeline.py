"""The pipelined path of the Ascend target (`--option pipeline=auto|1|0`): the same bytes as one batch at a
time, on real images through Huawei's real ais_bench front end (2025) over the simulated aclruntime; the
2023 generation, which has no pipeline, runs sequentially under auto and refuses pipeline=1 in one line."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError, MissingDependencyError
from targets import get_target
from tests.conftest import assert_one_line_error, run_cli
from tests.targets.ascend.models import IMAGE, build_request, cpu_reference, manifest_for, tiny_classifier
from tests.targets.ascend.upstream import ROOT

IMAGES = ROOT.parent / "shared" / "data" / "imagenet-sample"
COUNT = 11  # three batches of 4, the last one padded
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)

pytestmark = pytest.mark.usefixtures("ascend_sim")


def real_images(count: int = COUNT) -> np.ndarray:
    """The first ImageNet sample photos, resized to the tiny classifier's 32x32 and normalised, NCHW."""
    from PIL import Image

    paths = sorted(IMAGES.glob("*.JPEG"))[:count]
    if len(paths) < count:
        pytest.skip(f"{IMAGES} is absent (the shared ImageNet sample lives beside the checkout)")
    images = [np.asarray(Image.open(p).convert("RGB").resize((IMAGE, IMAGE), Image.BILINEAR), np.float32) / 255.0
              for p in paths]
    return np.ascontiguousarray(((np.stack(images) - MEAN) / STD).transpose(0, 3, 1, 2))


@pytest.fixture
def onnx(tmp_path):
    return tiny_classifier(tmp_path / "tiny.onnx")


def _open(onnx: Path, out: Path, pipeline: str, batch_sizes=(4,), dynamic=False):
    request = build_request(onnx, out, batch_sizes=batch_sizes, dynamic=dynamic)
    target = get_target("ascend", pipeline=pipeline)
    result = target.build(request)
    return target.open(result.artifact, manifest_for(request, result), "0")


def _in_flight(session, batches: list[np.ndarray]) -> list[np.ndarray]:
    """All batches submitted before the first is collected, as the infer loop keeps batches in flight."""
    handles = [session.submit(batch) for batch in batches]
    return [session.collect(handle)[0] for handle in handles]


def test_pipelined_and_sequential_give_the_same_bytes_on_real_images(onnx, tmp_path):
    rows = [1, 4, 3, 2, 4]  # gears 1, 4, 4, 2, 4: one call per run of one gear
    batches = np.split(real_images(sum(rows)), np.cumsum(rows)[:-1])
    outputs = {}
    for mode in ("1", "0"):
        with _open(onnx, tmp_path / mode, mode, batch_sizes=[1, 2, 4], dynamic=True) as session:
            outputs[mode] = _in_flight(session, batches)
            info, timings = session.info(), list(session.timings)
        assert len(timings) == len(batches) and all(t.compute_ms > 0 and t.h2d_ms and t.d2h_ms for t in timings)
        if mode == "1":
            assert info["pipeline"] == "pipelined" and info["pipeline_groups"] == 4
            assert info["pipeline_largest_group"] == 2 and "exec_time_list" in info["pipeline_timing"]
        else:
            assert info["pipeline"] == "sequential" and info["pipeline_why_not"] == "pipeline=0"
    for piped, alone, batch in zip(outputs["1"], outputs["0"], batches):
        assert piped.tobytes() == alone.tobytes()
        np.testing.assert_array_equal(piped, cpu_reference(onnx, batch))


def test_each_batch_gets_its_own_execution_time(onnx, tmp_path, ascend_sim):
    import aclruntime

    ascend_sim.set("ASCEND_SIM_EXEC_MS", "2")
    batches = np.split(real_images(8), 2)
    with _open(onnx, tmp_path / "om", "1") as session:
        _in_flight(session, batches)
        measured = [t.compute_ms for t in session.timings]
    np.testing.assert_allclose(measured, aclruntime.true_exec_ms()[-2:], rtol=1e-3)
    assert all(m >= 2.0 for m in measured)


def test_raw_aclruntime_runs_the_pipeline_itself(onnx, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)  # no front end: the binding alone
    batches = np.split(real_images(8), 2)
    outputs = {}
    for mode in ("1", "0"):
        with _open(onnx, tmp_path / mode, mode) as session:
            outputs[mode] = _in_flight(session, batches)
            assert session.info()["runtime"] == "aclruntime"
            assert session.info()["pipeline"] == ("pipelined" if mode == "1" else "sequential")
    assert [o.tobytes() for o in outputs["1"]] == [o.tobytes() for o in outputs["0"]]


def test_2023_auto_runs_sequentially_and_says_why(onnx, tmp_path, ascend_sim):
    ascend_sim.api("2023")
    with _open(onnx, tmp_path / "om", "auto") as session:
        _in_flight(session, np.split(real_images(8), 2))
        info = session.info()
    assert info["pipeline"] == "sequential" and info["pipeline_requested"] == "auto"
    assert "no run_pipeline" in info["pipeline_why_not"] and "\n" not in info["pipeline_why_not"]


def test_2023_refuses_pipeline_1_before_loading(onnx, tmp_path, ascend_sim):
    ascend_sim.api("2023")
    with pytest.raises(MissingDependencyError) as error:
        _open(onnx, tmp_path / "om", "1")
    message = str(error.value)
    assert "\n" not in message and "pipeline=1" in message and "run_pipeline" in message
    assert "pipeline=auto" in message


def test_pipeline_1_is_refused_for_onnxruntime_cann(tmp_path):
    target = get_target("ascend", engine="ort-cann", pipeline="1")
    with pytest.raises(InputError, match="pipeline=1 needs the om engine"):
        target.open(tmp_path / "tiny.fp16.cann.onnx", None)


def _infer_cli(om: Path, prep: Path, out: Path, name: str, *options: str):
    env = {"PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], str(ROOT)])}
    return run_cli("-m", "infer", "--model", str(om), "--input", str(prep), "--output", str(out), "--output_dirname",
                   name, "--outfmt", "BIN", "--batchsize", "4", "--no-progress", *options, env=env)


@pytest.fixture
def om_and_prep(onnx, tmp_path):
    om = get_target("ascend").build(build_request(onnx, tmp_path / "om")).artifact
    prep = tmp_path / "prep"
    prep.mkdir()
    for i, image in enumerate(real_images()):
        image.tofile(prep / f"img_{i:02d}.bin")
    return om, prep


def test_infer_cli_writes_the_same_files_either_way(om_and_prep, onnx, tmp_path):
    om, prep = om_and_prep
    files, summaries = {}, {}
    for name, mode in (("piped", "1"), ("sequential", "0")):
        proc = _infer_cli(om, prep, tmp_path / "r", name, "--option", f"pipeline={mode}")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        files[name] = {p.name: p.read_bytes() for p in sorted((tmp_path / "r" / name).iterdir())}
        summaries[name] = json.loads((tmp_path / "r" / f"{name}_summary.json").read_text())
    assert files["piped"] == files["sequential"] and len(files["piped"]) == COUNT
    reference = cpu_reference(onnx, real_images())
    for i in range(COUNT):
        np.testing.assert_array_equal(np.frombuffer(files["piped"][f"img_{i:02d}_0.bin"], np.float32), reference[i])
    piped, sequential = summaries["piped"], summaries["sequential"]
    assert piped["engine"]["pipeline"] == "pipelined" and sequential["engine"]["pipeline"] == "sequential"
    assert piped["timings"]["compute"]["count"] == piped["num_batches"] == 3
    assert piped["timings"]["h2d"]["count"] == piped["timings"]["d2h"]["count"] == 3


def test_infer_cli_refuses_pipeline_1_on_2023_in_one_line(om_and_prep, tmp_path, ascend_sim):
    om, prep = om_and_prep
    ascend_sim.api("2023")
    proc = _infer_cli(om, prep, tmp_path / "r", "refused", "--option", "pipeline=1")
    assert_one_line_error(proc, "pipeline=1", "no run_pipeline")

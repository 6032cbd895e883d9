"""build + open + run through the simulated toolchain, against ONNX Runtime CPU as the reference."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from targets import get_target
from tests.targets.ascend.models import IMAGE, build_request, cpu_reference, manifest_for, tiny_classifier

pytestmark = pytest.mark.usefixtures("ascend_sim")


@pytest.fixture
def onnx_path(tmp_path):
    return tiny_classifier(tmp_path / "tiny.onnx")


def _batch(rows: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 3, IMAGE, IMAGE)).astype(np.float32)


def _build_and_run(request, batch):
    target = get_target("ascend")
    result = target.build(request)
    with target.open(result.artifact, manifest_for(request, result), "0") as session:
        outputs = session.run(batch)
        timings = list(session.timings)
        info = session.info()
    return result, outputs, timings, info


def test_fp32_equals_onnxruntime_cpu(sim_api, onnx_path, tmp_path):
    batch = _batch(4)
    result, outputs, timings, info = _build_and_run(build_request(onnx_path, tmp_path / "out"), batch)
    assert result.artifact.name == "tiny_fp32_bs4.om"
    assert info["runtime"] == "ais_bench.InferSession"
    assert info["simulated"] is True  # the simulation marks itself; reports leave its timings out
    assert info["exec_time_list"] == {"2023": "ms", "2025": "start_end_pairs"}[sim_api]
    assert info["soc_version"] == "Ascend310P3"
    np.testing.assert_array_equal(outputs[0], cpu_reference(onnx_path, batch))
    assert len(timings) == 1 and timings[0].compute_ms > 0
    assert timings[0].h2d_ms is not None and timings[0].d2h_ms is not None


def test_raw_aclruntime_when_ais_bench_is_missing(sim_api, onnx_path, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)  # makes the import fail
    batch = _batch(4)
    _, outputs, timings, info = _build_and_run(build_request(onnx_path, tmp_path / "out"), batch)
    assert info["runtime"] == "aclruntime"
    np.testing.assert_array_equal(outputs[0], cpu_reference(onnx_path, batch))
    assert timings[0].compute_ms > 0 and timings[0].h2d_ms is not None


def test_fp16_is_close_but_not_equal(sim_api, onnx_path, tmp_path):
    batch = _batch(4)
    result, outputs, _, _ = _build_and_run(build_request(onnx_path, tmp_path / "out", precision="fp16"), batch)
    assert "--precision_mode=force_fp16" in result.info["atc_argv"]
    reference = cpu_reference(onnx_path, batch)
    assert not np.array_equal(outputs[0], reference)
    np.testing.assert_allclose(outputs[0], reference, rtol=2e-2, atol=2e-2)
    assert (outputs[0].argmax(1) == reference.argmax(1)).all()


def test_dynamic_batch_picks_a_gear_and_drops_padding(sim_api, onnx_path, tmp_path):
    request = build_request(onnx_path, tmp_path / "out", batch_sizes=[1, 4, 8], dynamic=True)
    target = get_target("ascend")
    result = target.build(request)
    assert result.info["gears"] == [1, 4, 8]
    assert "--dynamic_batch_size=1,4,8" in result.info["atc_argv"]
    with target.open(result.artifact, manifest_for(request, result)) as session:
        assert session.batch_sizes() is None and session.max_batch() == 8
        assert session.inputs()[0].shape == [-1, 3, IMAGE, IMAGE]
        for rows in (1, 3, 8):
            batch = _batch(rows, seed=rows)
            out = session.run(batch)[0]
            assert out.shape == (rows, 10)
            np.testing.assert_array_equal(out, cpu_reference(onnx_path, batch))


def test_static_om_pads_nothing_and_refuses_other_batch_sizes(onnx_path, tmp_path):
    from harness.errors import ContractError

    request = build_request(onnx_path, tmp_path / "out", batch_sizes=[4])
    target = get_target("ascend")
    result = target.build(request)
    with target.open(result.artifact, manifest_for(request, result)) as session:
        assert session.batch_sizes() == [4]
        with pytest.raises(ContractError, match="batch size 3"):
            session.run(_batch(3))


def test_aipp_uint8_input_matches_host_normalisation(sim_api, onnx_path, tmp_path):
    """uint8 HWC 40x40 -> AIPP center crop 32 and (x/255 - mean)/std on chip == the float path."""
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    preprocess = {"shape": [40, 40, 3], "dtype": "uint8", "layout": "HWC", "recipe": {"mean": mean, "std": std}}
    request = build_request(onnx_path, tmp_path / "out", preprocess=preprocess)
    target = get_target("ascend")
    result = target.build(request)
    assert result.info["aipp"] == "tiny_fp32_bs4.aippconfig"
    images = np.random.default_rng(3).integers(0, 256, size=(4, 40, 40, 3), dtype=np.uint8)
    with target.open(result.artifact, manifest_for(request, result)) as session:
        assert session.inputs()[0].shape == [4, 40, 40, 3] and session.inputs()[0].dtype == "uint8"
        out = session.run(images)[0]
    crop = images[:, 4:36, 4:36, :].astype(np.float32) / 255.0
    host = ((crop - np.float32(mean)) / np.float32(std)).transpose(0, 3, 1, 2).astype(np.float32)
    np.testing.assert_allclose(out, cpu_reference(onnx_path, np.ascontiguousarray(host)), rtol=1e-4, atol=1e-4)


def test_om_name_with_os_suffix_is_found(ascend_sim, onnx_path, tmp_path):
    ascend_sim.set("ASCEND_SIM_OM_SUFFIX", "1")
    result = get_target("ascend").build(build_request(onnx_path, tmp_path / "out"))
    assert result.artifact.name == "tiny_fp32_bs4_linux_x86_64.om"


def test_atc_runs_in_the_output_directory_given_relative_paths(onnx_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = Path("work") / "out"
    preprocess = {"shape": [32, 32, 3], "dtype": "uint8", "layout": "HWC", "recipe": {"mean": [0.5] * 3,
                                                                                      "std": [0.5] * 3}}
    request = build_request(Path(onnx_path.name), out, preprocess=preprocess)
    result = get_target("ascend").build(request)
    assert (out / "fusion_result.json").exists() and not (tmp_path / "fusion_result.json").exists()
    assert (out / "tiny_fp32_bs4.atc.log").read_text().startswith("$ ")
    assert "ATC run success" in result.info["atc_log_tail"] and result.info["aipp"] == "tiny_fp32_bs4.aippconfig"
    assert f"--insert_op_conf={tmp_path / out / 'tiny_fp32_bs4.aippconfig'}" in result.info["atc_argv"]


def test_soc_version_detected_from_npu_smi(ascend_sim, onnx_path, tmp_path):
    ascend_sim.set("ASCEND_SIM_NPU_SMI", "910b3")
    request = build_request(onnx_path, tmp_path / "out")
    request.options.pop("soc_version")
    result = get_target("ascend").build(request)
    assert result.info["soc_version"] == "Ascend910B3"
    assert "--soc_version=Ascend910B3" in result.info["atc_argv"]


def test_fp32_flag_follows_the_cann_version(ascend_sim, onnx_path, tmp_path):
    ascend_sim.set("ASCEND_SIM_CANN", "6.3.RC2")  # no --precision_mode_v2 in its atc --help
    old = get_target("ascend").build(build_request(onnx_path, tmp_path / "old"))
    assert old.info["precision_flags"] == ["--precision_mode=must_keep_origin_dtype"]
    assert old.info["effective_precision"] == "fp32"
    ascend_sim.set("ASCEND_SIM_CANN", "7.0.0")
    from targets.ascend import cann

    cann.atc_help.cache_clear()
    new = get_target("ascend").build(build_request(onnx_path, tmp_path / "new"))
    assert new.info["precision_flags"] == ["--precision_mode_v2=origin"]
    assert get_target("ascend").versions()["atc_precision_flag"] == "precision_mode_v2"


def test_versions_read_the_toolkit(ascend_sim):
    assert get_target("ascend").versions() == {"cann": "7.0.0", "atc_precision_flag": "precision_mode_v2"}


def test_build_info_is_json_and_names_the_om_input(onnx_path, tmp_path):
    result = get_target("ascend").build(build_request(onnx_path, tmp_path / "out", batch_sizes=[2]))
    info = json.loads(json.dumps(result.info))
    assert info["input"] == {"name": "image", "shape": [2, 3, IMAGE, IMAGE], "dtype": "float32"}
    assert info["cann"] == "7.0.0" and info["soc_version"] == "Ascend310P3"

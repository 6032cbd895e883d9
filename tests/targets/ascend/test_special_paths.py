"""Convert directories whose paths atc refuses (spaces, quotes, `$`, non-ASCII): atc's own path rule
(graphengine CheckInputPathValid / CheckOutputPathValid) in the simulated atc, the build staged around it, and
what the real ais_bench front ends do with the OM afterwards."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from targets import get_target
from targets.ascend.atc_paths import atc_takes
from tests.targets.ascend.models import IMAGE, build_request, cpu_reference, manifest_for, tiny_classifier
from tests.targets.ascend.upstream import SIM

NAMES = ["my models", "it's", "cost$HOME", "jürgen", '"quoted" `tick`']
# graphengine util.cc: `^[\u4e00-\u9fa5A-Za-z0-9./_-]+$`, and the reason of its E10001
GE_REASON = "The path can only contain 'a-z' 'A-Z' '0-9' '-' '.' '_' and Chinese characters."


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The system temp dir for this test only, so what a build leaves there can be seen."""
    temp = tmp_path / "systmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def _batch(rows: int) -> np.ndarray:
    return np.random.default_rng(5).standard_normal((rows, 3, IMAGE, IMAGE)).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_simulated_atc_refuses_what_graphengine_refuses(ascend_sim, tmp_path, name):
    base = tmp_path / name
    base.mkdir()
    onnx = tiny_classifier(base / "tiny.onnx")
    argv = [str(SIM / "bin" / "atc"), "--framework=5", f"--model={onnx}", f"--output={tmp_path / 'ok' / 'x'}",
            "--input_shape=image:1,3,32,32", "--soc_version=Ascend310P3"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"E10001: Value [{onnx}] for parameter [--model] is invalid. Reason: {GE_REASON}" in proc.stdout


def test_simulated_atc_takes_chinese_characters(ascend_sim, tmp_path):
    base = tmp_path / "模型"
    base.mkdir()
    onnx = tiny_classifier(base / "tiny.onnx")
    proc = subprocess.run([str(SIM / "bin" / "atc"), "--framework=5", f"--model={onnx}", f"--output={base / 'x'}",
                           "--input_shape=image:1,3,32,32", "--soc_version=Ascend310P3"],
                          capture_output=True, text=True, cwd=base)
    assert proc.returncode == 0, proc.stdout
    assert (base / "x.om").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_build_in_a_directory_atc_refuses_gives_the_same_om(ascend_sim, tmp_path, private_tmp, name):
    ascend_sim.api("2023")  # a front end without path rules, so the OM is run where it lies
    base = tmp_path / name / "out dir"
    base.mkdir(parents=True)
    onnx = tiny_classifier(base / "tiny.onnx")
    request = build_request(onnx, base)
    target = get_target("ascend")
    result = target.build(request)
    assert result.artifact == base.resolve() / "tiny_fp32_bs4.om" and result.artifact.is_file()
    assert "temporary directory" in result.info["atc_staged"]
    assert all(atc_takes(Path(arg.partition("=")[2]), resolve=False)
               for arg in result.info["atc_argv"] if arg.startswith(("--model=", "--output=")))
    assert list(private_tmp.iterdir()) == []  # the staging directory is gone
    assert oct(result.artifact.stat().st_mode & 0o777) == "0o640"
    batch = _batch(4)
    with target.open(result.artifact, manifest_for(request, result)) as session:
        out = session.run(batch)[0]
    np.testing.assert_array_equal(out, cpu_reference(onnx, batch))


def test_build_in_a_plain_directory_is_not_staged(ascend_sim, tmp_path, private_tmp):
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "out")
    result = get_target("ascend").build(request)
    assert "atc_staged" not in result.info
    assert f"--model={(tmp_path / 'tiny.onnx').resolve()}" in result.info["atc_argv"]


def test_onnx_with_external_data_and_aipp_config_are_staged_together(ascend_sim, tmp_path, private_tmp):
    import onnx

    base = tmp_path / "with space"
    base.mkdir()
    plain = tiny_classifier(tmp_path / "plain.onnx")
    model = onnx.load(str(plain))
    onnx.save(model, str(base / "tiny.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="tiny.weights", size_threshold=0)
    assert (base / "tiny.weights").is_file()
    preprocess = {"shape": [40, 40, 3], "dtype": "uint8", "layout": "HWC",
                  "recipe": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
    request = build_request(base / "tiny.onnx", base / "out", preprocess=preprocess)
    target = get_target("ascend")
    result = target.build(request)
    assert result.info["aipp"] == "tiny_fp32_bs4.aippconfig" and "atc_staged" in result.info
    assert list(private_tmp.iterdir()) == []
    ascend_sim.api("2023")
    images = np.random.default_rng(3).integers(0, 256, size=(4, 40, 40, 3), dtype=np.uint8)
    with target.open(result.artifact, manifest_for(request, result)) as session:
        out = session.run(images)[0]
    mean, std = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])
    host = ((images[:, 4:36, 4:36, :].astype(np.float32) / 255.0 - mean) / std).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, cpu_reference(plain, np.ascontiguousarray(host)), rtol=1e-4, atol=1e-4)


def test_unusable_temp_dir_is_refused_in_one_line(ascend_sim, tmp_path, monkeypatch):
    bad_tmp = tmp_path / "bad tmp"
    bad_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(bad_tmp))
    base = tmp_path / "a b"
    base.mkdir()
    request = build_request(tiny_classifier(base / "tiny.onnx"), base)
    with pytest.raises(InputError, match=r"set TMPDIR to a directory") as info:
        get_target("ascend").build(request)
    assert "\n" not in str(info.value)
    assert list(bad_tmp.iterdir()) == [] and not list(base.glob("*.om"))


@pytest.mark.parametrize("raw", [False, True], ids=["InferSession", "aclruntime"])
def test_ais_bench_2025_runs_the_om_through_a_hard_link(ascend_sim, tmp_path, private_tmp, monkeypatch, raw):
    """2025's front end and C++ session take only [_A-Za-z0-9/.-]; a hard link from such a path is the OM itself."""
    base = tmp_path / "my models"
    base.mkdir()
    onnx = tiny_classifier(base / "tiny.onnx")
    request = build_request(onnx, base)
    target = get_target("ascend")
    result = target.build(request)
    if raw:
        monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
    batch = _batch(4)
    with target.open(result.artifact, manifest_for(request, result)) as session:
        [alias_dir] = private_tmp.iterdir()
        assert [p.stat().st_ino for p in alias_dir.iterdir()] == [result.artifact.stat().st_ino]
        out = session.run(batch)[0]
        info = session.info()
    np.testing.assert_array_equal(out, cpu_reference(onnx, batch))
    assert info["om"] == "tiny_fp32_bs4.om" and "hard link" in info["om_loaded_through"]
    assert info["runtime"] == ("aclruntime" if raw else "ais_bench.InferSession")
    assert list(private_tmp.iterdir()) == []  # removed on close


def test_the_link_keeps_the_real_checks_on_the_om_itself(ascend_sim, tmp_path, private_tmp):
    base = tmp_path / "my models"
    base.mkdir()
    request = build_request(tiny_classifier(base / "tiny.onnx"), base)
    target = get_target("ascend")
    result = target.build(request)
    result.artifact.chmod(0o664)
    with pytest.raises(InputError) as info:
        target.open(result.artifact, manifest_for(request, result))
    assert str(info.value) == f"{result.artifact}: is writable by group or others (mode 664), which ais_bench " \
                              f"refuses; run `chmod go-w {result.artifact}`"
    assert list(private_tmp.iterdir()) == []


def test_without_a_link_ais_bench_2025_refusal_says_how_to_fix_it(ascend_sim, tmp_path, private_tmp, monkeypatch):
    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link")

    base = tmp_path / "my models"
    base.mkdir()
    request = build_request(tiny_classifier(base / "tiny.onnx"), base)
    target = get_target("ascend")
    result = target.build(request)
    monkeypatch.setattr(os, "link", cross_device)
    with pytest.raises(InputError, match=re.escape(f"{result.artifact}: ais_bench takes only paths of")) as info:
        target.open(result.artifact, manifest_for(request, result))
    assert "move the convert output directory" in str(info.value) and "TMPDIR" in str(info.value)
    assert list(private_tmp.iterdir()) == []


def test_the_real_2025_check_refuses_the_same_path(ascend_sim, tmp_path):
    """The character rule the harness applies first is the real front end's own."""
    from ais_bench.infer.common.path_security_check import is_match_path_white_list

    for name in NAMES:
        assert not is_match_path_white_list(str(tmp_path / name / "x.om"))
        assert not atc_takes(tmp_path / name / "x.om", resolve=False)
    assert is_match_path_white_list(str(tmp_path / "my_models" / "x.om"))

"""Each bad input gives one clear line from the harness error hierarchy."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from harness.contracts import TensorSpec
from harness.errors import ContractError, InputError, MissingDependencyError, TargetError, ToolError
from targets import get_target
from tests.targets.ascend.models import IMAGE, build_request, manifest_for, tiny_classifier


@pytest.fixture
def onnx_path(tmp_path):
    return tiny_classifier(tmp_path / "tiny.onnx")


def _raises(kind, pattern, call, *args):
    with pytest.raises(kind, match=pattern) as info:
        call(*args)
    assert "\n" not in str(info.value), str(info.value)
    return str(info.value)


def test_no_atc_on_path(monkeypatch, onnx_path, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    message = _raises(MissingDependencyError, "atc is not available", get_target("ascend").build,
                      build_request(onnx_path, tmp_path / "out"))
    assert "set_env.sh" in message


def test_cann_environment_not_sourced(ascend_sim, monkeypatch, onnx_path, tmp_path):
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME")
    monkeypatch.delenv("ASCEND_HOME_PATH")
    message = _raises(MissingDependencyError, "the CANN environment", get_target("ascend").build,
                      build_request(onnx_path, tmp_path / "out"))
    assert "ASCEND_TOOLKIT_HOME and ASCEND_HOME_PATH are unset" in message and "source" in message


def test_atc_failure_shows_its_log_tail(ascend_sim, onnx_path, tmp_path):
    ascend_sim.set("ASCEND_SIM_ATC_FAIL", "E19999: Inner Error, simulated for the test")
    message = _raises(ToolError, "atc failed with exit code 1", get_target("ascend").build,
                      build_request(onnx_path, tmp_path / "out"))
    assert "E19999: Inner Error, simulated for the test" in message and "tiny_fp32_bs4.atc.log" in message


def test_atc_rejects_an_input_name_the_onnx_lacks(ascend_sim, onnx_path, tmp_path):
    request = build_request(onnx_path, tmp_path / "out")
    request.input = TensorSpec("data", request.input.shape)
    _raises(ToolError, r"Input \[data\] in --input_shape does not exist", get_target("ascend").build, request)


def test_unknown_soc_refused_before_atc(ascend_sim, onnx_path, tmp_path):
    _raises(TargetError, "unknown Ascend SoC 'TeslaT4'", get_target("ascend").build,
            build_request(onnx_path, tmp_path / "out", soc_version="TeslaT4"))


def test_soc_atc_does_not_know(ascend_sim, onnx_path, tmp_path):
    _raises(ToolError, r"Value \[Ascend999\] for parameter \[--soc_version\] is invalid", get_target("ascend").build,
            build_request(onnx_path, tmp_path / "out", soc_version="Ascend999"))


def test_unknown_engine_and_precision(ascend_sim, onnx_path, tmp_path):
    _raises(InputError, "ascend target option engine=tensorrt: choose one of om, ort-cann", get_target("ascend").build,
            build_request(onnx_path, tmp_path / "out", engine="tensorrt"))
    _raises(TargetError, "cannot run precision 'int8'", get_target("ascend").build,
            build_request(onnx_path, tmp_path / "out", precision="int8"))


def _built(onnx_path, tmp_path, **kwargs):
    request = build_request(onnx_path, tmp_path / "out", **kwargs)
    target = get_target("ascend")
    result = target.build(request)
    return target, result, manifest_for(request, result)


def test_om_that_does_not_match_convert_json(ascend_sim, onnx_path, tmp_path):
    target, result, manifest = _built(onnx_path, tmp_path)
    manifest.target_info["input"] = {"name": "image", "shape": [4, 3, 64, 64], "dtype": "float32"}
    _raises(ContractError, r"the OM takes 'image' \[3, 32, 32\] float32 per sample, convert.json says",
            target.open, result.artifact, manifest)


def test_batch_bytes_must_equal_realsize(ascend_sim, onnx_path, tmp_path, monkeypatch):
    target, result, manifest = _built(onnx_path, tmp_path)
    with target.open(result.artifact, manifest) as session:
        desc = session._backend.input_descs()[0]
        desc.realsize -= 4
        monkeypatch.setattr(session._backend, "input_descs", lambda: [desc])
        batch = np.zeros((4, 3, IMAGE, IMAGE), np.float32)
        _raises(ContractError, rf"the batch has {batch.nbytes} bytes, the OM takes exactly {batch.nbytes - 4}",
                session.run, batch)


def test_batch_above_the_largest_gear(ascend_sim, onnx_path, tmp_path):
    target, result, manifest = _built(onnx_path, tmp_path, batch_sizes=[1, 2], dynamic=True)
    with target.open(result.artifact, manifest) as session:
        _raises(ContractError, "larger than the OM's largest gear 2", session.run,
                np.zeros((3, 3, IMAGE, IMAGE), np.float32))


def test_bad_device_ids(ascend_sim, onnx_path, tmp_path):
    target, result, manifest = _built(onnx_path, tmp_path)
    _raises(InputError, "expected one NPU index", target.open, result.artifact, manifest, "npu0")
    _raises(TargetError, "cannot load it on device 3", target.open, result.artifact, manifest, "3")


def test_convert_gives_the_om_a_mode_the_real_checks_accept(ascend_sim, onnx_path, tmp_path):
    ascend_sim.set("ASCEND_SIM_OM_MODE", "666")  # atc under umask 000
    _, result, _ = _built(onnx_path, tmp_path)
    assert result.artifact.stat().st_mode & 0o777 == 0o640


def _group_writable(path):
    path.chmod(0o664)
    return path, "chmod go-w"


def _symlinked(path):
    link = path.with_name("link.om")
    link.symlink_to(path)
    return link, "symbolic link"


def _other_owner(path):
    import os

    os.chown(path, 4242, 4242)  # the tests run as root, which can give the file away
    return path, "chown"


def _odd_characters(path):
    odd = path.parent / "with space"
    odd.mkdir()
    return path.rename(odd / path.name), "ais_bench takes only paths of"


@pytest.mark.parametrize("change", [_group_writable, _symlinked, _other_owner, _odd_characters])
def test_paths_the_2025_runtime_refuses_are_named_first(sim_api, onnx_path, tmp_path, monkeypatch, change):
    """Through ais_bench and through raw aclruntime alike: one line saying what to change, never the device."""
    import os

    if change is _other_owner and os.geteuid() != 0:
        pytest.skip("giving a file to another owner needs root")
    target, result, manifest = _built(onnx_path, tmp_path)
    path, fix = change(result.artifact)
    for raw in (False, True):
        if raw:
            monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
        # no path checks in the 2023 generation; the 2025 C++ session checks no owner (File::CheckFileBeforeRead);
        # an OM whose path has other characters is loaded through a hard link from a path of allowed ones
        if sim_api == "2023" or (raw and change is _other_owner) or change is _odd_characters:
            with target.open(path, manifest) as session:
                assert session.run(np.zeros((4, 3, IMAGE, IMAGE), np.float32))[0].shape == (4, 10)
            continue
        message = _raises(InputError, fix, target.open, path, manifest)
        assert str(path) in message and "device" not in message


def test_refused_path_is_not_blamed_on_the_device(ascend_sim, onnx_path, tmp_path, monkeypatch):
    """Should the runtime refuse a path the harness's own check let through, the message says path."""
    from targets.ascend import acl_backend

    monkeypatch.setattr(acl_backend, "om_path_problem", lambda path: None)
    target, result, manifest = _built(onnx_path, tmp_path)
    result.artifact.chmod(0o666)
    message = _raises(TargetError, "refused the model path", target.open, result.artifact, manifest)
    assert "device" not in message.split("refused")[0]


def test_aclruntime_without_base_tensor(ascend_sim, onnx_path, tmp_path, monkeypatch):
    target, result, manifest = _built(onnx_path, tmp_path)
    monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
    import aclruntime

    monkeypatch.delattr(aclruntime, "BaseTensor")
    message = _raises(MissingDependencyError, "no BaseTensor", target.open, result.artifact, manifest)
    assert "2022-10-21 or later" in message


def test_runtime_not_installed(monkeypatch, ascend_sim, onnx_path, tmp_path):
    target, result, manifest = _built(onnx_path, tmp_path)
    monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
    monkeypatch.setitem(sys.modules, "aclruntime", None)
    message = _raises(MissingDependencyError, "aclruntime is not available", target.open, result.artifact, manifest)
    assert "set_env.sh" in message


def test_importing_the_real_front_end_leaves_logging_as_it_was(sim_api, onnx_path, tmp_path):
    """ais_bench 2025 runs logging.basicConfig(stdout, INFO) on import; the harness's output must not change.
    In a child process: pytest's own log handlers would hide the change here."""
    import subprocess

    _, result, _ = _built(onnx_path, tmp_path)
    code = ("import logging\n"
            "from targets.ascend.acl_backend import open_backend\n"
            f"backend = open_backend({str(result.artifact)!r}, 0)\n"
            "assert backend.kind == 'ais_bench.InferSession', backend.kind\n"
            "logging.getLogger('harness').info('an info line nobody asked for')\n"
            "print(len(logging.getLogger().handlers))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).resolve().parents[3]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0\n", proc.stdout

"""The simulation keeps the real bindings' contract strictly, so the target cannot pass against a lax fake.
`ais_bench` here is Huawei's real front end (../shared/upstream); only aclruntime, atc and npu-smi are simulated."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.targets.ascend.models import IMAGE, tiny_classifier
from tests.targets.ascend.upstream import ROOT, SIM


@pytest.fixture
def onnx_path(tmp_path):
    return tiny_classifier(tmp_path / "tiny.onnx")


def atc(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["atc", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def _base(onnx_path, tmp_path, **changes) -> list[str]:
    flags = {"framework": "5", "model": str(onnx_path), "output": str(tmp_path / "m"), "input_format": "NCHW",
             "input_shape": f"image:4,3,{IMAGE},{IMAGE}", "soc_version": "Ascend310P3", "log": "error"}
    flags.update(changes)
    return [f"--{k}={v}" for k, v in flags.items() if v is not None]


def test_scripts_run_under_python3_from_path(ascend_sim):
    for tool in ("atc", "npu-smi"):
        path = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        assert path.endswith(f"targets/ascend/sim/bin/{tool}")
        assert open(path).readline() == "#!/usr/bin/env python3\n"


def test_good_command_in_both_spellings(ascend_sim, onnx_path, tmp_path):
    ok = atc(*_base(onnx_path, tmp_path), cwd=tmp_path)
    assert ok.returncode == 0 and "ATC run success, welcome to the next use." in ok.stdout
    spaced = ["--framework", "5", "--model", str(onnx_path), "--output", str(tmp_path / "n"),
              f"--input_shape=image:1,3,{IMAGE},{IMAGE}", "-soc_version", "Ascend910B3"]
    assert atc(*spaced, cwd=tmp_path).returncode == 0
    assert (tmp_path / "m.om").exists() and (tmp_path / "n.om").exists()


@pytest.mark.parametrize("changes, message", [
    ({"framework": "3"}, "parameter [--framework] is invalid"),
    ({"input_shape": f"data:4,3,{IMAGE},{IMAGE}"}, "Input [data] in --input_shape does not exist"),
    ({"input_shape": "image:4,3,64,64"}, "does not match the model"),
    ({"input_shape": f"image:-1,3,{IMAGE},{IMAGE}"}, "-1 in --input_shape needs --dynamic_batch_size"),
    ({"dynamic_batch_size": "1,4"}, "--dynamic_batch_size needs -1"),
    ({"input_shape": f"image:-1,3,{IMAGE},{IMAGE}", "dynamic_batch_size": "4"}, "needs 2..100 distinct gears"),
    ({"soc_version": "Ascend310P9"}, "parameter [--soc_version] is invalid"),
    ({"soc_version": None}, "Parameter [--soc_version] is required"),
    ({"precision_mode": "fp16"}, "parameter [--precision_mode] is invalid"),
    ({"log": "loud"}, "--log or --enable_small_channel has an invalid value"),
    ({"out_format": "x"}, "Parameter [--out_format] is not supported"),
])
def test_rejected_commands(ascend_sim, onnx_path, tmp_path, changes, message):
    result = atc(*_base(onnx_path, tmp_path, **changes), cwd=tmp_path)
    assert result.returncode == 1 and message in result.stdout
    assert not (tmp_path / "m.om").exists()


def test_precision_mode_v2_from_cann_7(ascend_sim, onnx_path, tmp_path):
    ascend_sim.set("ASCEND_SIM_CANN", "6.3.RC2")
    assert "--precision_mode_v2" not in atc("--help").stdout
    refused = atc(*_base(onnx_path, tmp_path, precision_mode_v2="origin"), cwd=tmp_path)
    assert refused.returncode == 1 and "Parameter [--precision_mode_v2] is not supported" in refused.stdout
    ascend_sim.set("ASCEND_SIM_CANN", "7.0.0")
    assert "--precision_mode_v2" in atc("--help").stdout
    assert atc(*_base(onnx_path, tmp_path, precision_mode_v2="origin"), cwd=tmp_path).returncode == 0
    both = atc(*_base(onnx_path, tmp_path, precision_mode_v2="origin", precision_mode="force_fp16"), cwd=tmp_path)
    assert "cannot be used together" in both.stdout


def test_aipp_crop_must_give_the_network_size(ascend_sim, onnx_path, tmp_path):
    conf = tmp_path / "a.aippconfig"
    conf.write_text("aipp_op {\n aipp_mode : static\n input_format : RGB888_U8\n src_image_size_w : 40\n"
                    " src_image_size_h : 40\n crop : true\n load_start_pos_h : 4\n load_start_pos_w : 4\n"
                    " crop_size_w : 30\n crop_size_h : 30\n}\n")
    result = atc(*_base(onnx_path, tmp_path, insert_op_conf=str(conf)), cwd=tmp_path)
    assert result.returncode == 1 and "does not match the network input" in result.stdout


def _om(onnx_path, tmp_path, **changes):
    assert atc(*_base(onnx_path, tmp_path, **changes), cwd=tmp_path).returncode == 0
    return str(tmp_path / "m.om")


def test_aclruntime_contract(sim_api, onnx_path, tmp_path):
    import aclruntime

    session = aclruntime.InferenceSession(_om(onnx_path, tmp_path), 0, aclruntime.session_options())
    desc = session.get_inputs()[0]
    expected = ("image", [4, 3, IMAGE, IMAGE], aclruntime.dtype.float32, 4 * 3 * IMAGE * IMAGE * 4)
    assert (desc.name, desc.shape, desc.datatype, desc.realsize) == expected
    short = np.zeros((3, 3, IMAGE, IMAGE), np.float32)
    with pytest.raises(RuntimeError, match=f"check i:0 name:image in size:{short.nbytes} needsize:{desc.realsize}"):
        session.run(["class"], [aclruntime.Tensor(short)])
    out = session.run(["class"], [aclruntime.Tensor(np.zeros((4, 3, IMAGE, IMAGE), np.float32))])[0]
    with pytest.raises(RuntimeError, match="tensor is in npu"):
        np.array(out)
    out.to_host()
    assert np.array(out).shape == (4, 10)
    entry = session.sumary().exec_time_list[0]
    assert isinstance(entry, tuple) == (sim_api == "2025")
    assert hasattr(aclruntime.InferenceSession, "free_resource") == (sim_api == "2025")


def test_infer_session_generations(sim_api, onnx_path, tmp_path):
    from ais_bench.infer.interface import InferSession

    session = InferSession(0, _om(onnx_path, tmp_path))
    feed = np.zeros((4, 3, IMAGE, IMAGE), np.float32)
    assert session.infer([feed])[0].shape == (4, 10)
    assert hasattr(session, "summary") == (sim_api == "2025") != hasattr(session, "sumary")
    if sim_api == "2025":
        with pytest.raises(ValueError, match="is not a list"):
            session.infer((feed,))
        with pytest.raises(TypeError, match="is not a integer"):
            InferSession(np.int64(0), session.model_path)
        with pytest.raises(ValueError, match="infer mode is illegal"):
            session.infer([feed], mode="auto")


def test_dynamic_batch_model_needs_a_gear(sim_api, onnx_path, tmp_path):
    from ais_bench.infer.interface import InferSession

    path = _om(onnx_path, tmp_path, input_shape=f"image:-1,3,{IMAGE},{IMAGE}", dynamic_batch_size="2,4")
    session = InferSession(0, path)
    assert session.get_inputs()[0].realsize == 4 * 3 * IMAGE * IMAGE * 4
    feed = np.zeros((2, 3, IMAGE, IMAGE), np.float32)
    with pytest.raises(RuntimeError):
        session.infer([feed], mode="static")
    session.set_dynamic_batchsize(2)
    assert session.get_inputs()[0].realsize == feed.nbytes
    assert session.infer([feed], mode="dymbatch")[0].shape == (2, 10)
    with pytest.raises(RuntimeError, match="not one of the model's gears"):
        session.set_dynamic_batchsize(3)


def test_no_shipped_module_imports_the_simulation():
    product = [p for p in (ROOT / "targets").rglob("*.py") if SIM not in p.parents]
    assert product
    for path in product:
        text = path.read_text()
        assert "ascend_sim" not in text and "ascend/sim" not in text and "tests.targets" not in text, path


def test_the_simulation_is_no_product_package():
    """Its `aclruntime` would shadow the real bindings: it is importable only with its directory on the path
    (tests, `make ASCEND_SIM=1`), never as part of the `targets` package."""
    import pkgutil

    import targets.ascend

    assert not (SIM / "__init__.py").exists()
    assert "sim" not in {m.name for m in pkgutil.iter_modules(targets.ascend.__path__)}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import importlib.util as u; s = u.find_spec('aclruntime'); "
            "print(s.origin if s else '')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(SIM) not in proc.stdout


def test_every_module_imports_without_vendor_packages():
    """In a child without the sim on its path: no aclruntime, ais_bench or CANN is needed to import."""
    code = ("import sys\n"
            "import targets.ascend, targets.ascend.acl_backend, targets.ascend.runtime\n"
            "import targets.ascend.ort_cann, targets.ascend.npu_smi, targets.ascend.aipp, targets.ascend.cann\n"
            "from targets import get_target\n"
            "get_target('ascend')\n"
            "bad = [m for m in ('aclruntime', 'ais_bench', 'onnxruntime', 'torch') if m in sys.modules]\n"
            "assert not bad, bad\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr


def test_module_names_follow_the_bindings(sim_api):
    import aclruntime

    assert aclruntime.float16 is aclruntime.dtype.float16 and int(aclruntime.dtype.bool) == 12
    assert aclruntime.memory_device is getattr(aclruntime, "type").memory_device
    assert aclruntime.MemorySummary() is aclruntime.MemorySummary()  # a singleton, as the pybind holder
    desc, summary = aclruntime.tensor_desc(), aclruntime.sumary()
    assert (desc.name, desc.shape, summary.exec_time_list) == ("", [], [])


def test_real_cli_needs_the_dynamic_aipp_query(sim_api, onnx_path, tmp_path):
    import aclruntime

    session = aclruntime.InferenceSession(_om(onnx_path, tmp_path), 0, aclruntime.session_options())
    assert session.get_dym_aipp_input_exist() == 0


def test_2025_timestamps_are_float32_ms_since_session_creation(ascend_sim, onnx_path, tmp_path):
    import aclruntime

    ascend_sim.set("ASCEND_SIM_EXEC_MS", "0.6")
    session = aclruntime.InferenceSession(_om(onnx_path, tmp_path), 0, aclruntime.session_options())
    feed = [aclruntime.Tensor(np.zeros((4, 3, IMAGE, IMAGE), np.float32))]
    session.run(["class"], feed)
    aclruntime.advance_clock(4 * 3600)  # the session is now four hours old
    session.run(["class"], feed)
    (young_start, young_end), (old_start, old_end) = session.sumary().exec_time_list
    for value in (young_start, young_end, old_start, old_end):
        assert value == float(np.float32(value))
    assert abs((young_end - young_start) - aclruntime.true_exec_ms()[-2]) < 0.01
    assert old_start > 4 * 3600 * 1000 - 1 and np.spacing(np.float32(old_end)) == 1.0  # 1 ms steps at 4 h
    # whole milliseconds: a 0.6 ms execution reads 0 or 1 ms (more only when the host ran it late)
    old_ms = old_end - old_start
    assert old_ms == int(old_ms) and abs(old_ms - aclruntime.true_exec_ms()[-1]) <= 1.0


@pytest.mark.parametrize("change, reason", [
    (lambda p: p.chmod(0o664), "group"),
    (lambda p: p.with_name("link.om").symlink_to(p) or p.with_name("link.om"), "link"),
])
def test_2025_bindings_check_the_model_path(sim_api, onnx_path, tmp_path, change, reason):
    import aclruntime

    path = Path(_om(onnx_path, tmp_path))
    target = change(path) or path
    if sim_api == "2025":
        with pytest.raises(RuntimeError, match="please check model path"):
            aclruntime.InferenceSession(str(target), 0, aclruntime.session_options())
    else:  # the 2023 bindings check nothing
        aclruntime.InferenceSession(str(target), 0, aclruntime.session_options())

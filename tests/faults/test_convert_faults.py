"""convert faults: corrupt ONNX, corrupt or empty checkpoints, refused pickles, locks, empty directories."""
from __future__ import annotations

import fcntl
import os
import pickle

import numpy as np
import pytest
import torch

from tests.conftest import tiny_classifier_onnx
from tests.faults.helpers import assert_clean_failure, fault_cli, snapshot


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A finished conversion in `out`, plus bad inputs beside it."""
    work = tmp_path_factory.mktemp("convert-faults")
    tiny_classifier_onnx(work / "tiny.onnx")
    proc = fault_cli("convert: a good ONNX", "-m", "convert", "--onnx", str(work / "tiny.onnx"), "--output",
                     str(work / "out"), base=work)
    assert proc.returncode == 0, proc.stderr
    (work / "corrupt.onnx").write_bytes((work / "tiny.onnx").read_bytes()[:150] + os.urandom(64))
    (work / "empty.onnx").write_bytes(b"")
    (work / "empty.pth").write_bytes(b"")
    torch.save({"fc.weight": torch.zeros(2, 2)}, work / "cut.pth")
    (work / "cut.pth").write_bytes((work / "cut.pth").read_bytes()[:200])
    (work / "text.pth").write_text("this is a README, not weights\n" * 5)
    torch.save(torch.nn.Linear(2, 2), work / "module.pth")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), work / "scripted.pth")
    channels_last_onnx(work / "nhwc.onnx")
    return work


def channels_last_onnx(path) -> None:
    """A model that takes [N, 8, 8, 3] (as a TensorFlow export does) and transposes it inside."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((10, 3), np.float32), "W")
    nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("GlobalAveragePool", ["nchw"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "W"], ["class"], transB=1)]
    graph = helper.make_graph(nodes, "nhwc", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                            ["N", 8, 8, 3])],
                              [helper.make_tensor_value_info("class", TensorProto.FLOAT, ["N", 10])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def convert(case: str, work, *args: str, out: str = "out"):
    return fault_cli(case, "-m", "convert", *args, "--output", str(work / out), base=work)


CASES = {
    "convert: corrupt ONNX": (["--onnx", "{w}/corrupt.onnx"], ["corrupt.onnx: not an ONNX model"]),
    "convert: empty ONNX": (["--onnx", "{w}/empty.onnx"], ["empty.onnx: not an ONNX model"]),
    "convert: empty checkpoint": (["--model", "resnet18", "--checkpoint", "{w}/empty.pth"],
                                  ["empty.pth: empty file (0 bytes), not a PyTorch checkpoint"]),
    "convert: truncated checkpoint": (
        ["--model", "resnet18", "--checkpoint", "{w}/cut.pth"],
        ["cut.pth: not a readable PyTorch checkpoint", "damaged or truncated", "save it again"]),
    "convert: a text file as checkpoint": (
        ["--model", "resnet18", "--checkpoint", "{w}/text.pth"],
        ["text.pth: not a readable PyTorch checkpoint (neither"]),
    "convert: pickled module (refused global)": (
        ["--model", "resnet18", "--checkpoint", "{w}/module.pth"],
        ["module.pth: holds a pickled Python object (torch.nn.modules.linear.Linear)",
         "--allow-pickle-global torch.nn.modules.linear.Linear"]),
    "convert: TorchScript archive as checkpoint": (
        ["--model", "resnet18", "--checkpoint", "{w}/scripted.pth"],
        ["scripted.pth: a TorchScript archive (torch.jit.save), not a checkpoint of weights",
         "torch.save(torch.jit.load(PATH).state_dict(), 'weights.pth')"]),
    "convert: channels-last ONNX": (
        ["--onnx", "{w}/nhwc.onnx"],
        ["nhwc.onnx: input 'image' is channels last [-1, 8, 8, 3] (NHWC)", "tf2onnx --inputs-as-nchw image"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_the_earlier_result_stays(work, case):
    args, needles = CASES[case]
    before = snapshot(work / "out")
    proc = convert(case, work, *[a.format(w=work) for a in args])
    assert_clean_failure(proc, 3, *needles)
    assert snapshot(work / "out") == before


@pytest.mark.parametrize("case", ["convert: corrupt ONNX", "convert: empty checkpoint"])
def test_a_failed_first_run_leaves_no_empty_directory(work, case):
    args, _ = CASES[case]
    proc = convert(case + " (new output directory)", work, *[a.format(w=work) for a in args], out="fresh/model")
    assert proc.returncode == 3
    assert not (work / "fresh" / "model").exists()


def test_allow_pickle_global_lets_the_named_class_through(work):
    proc = convert("convert: --allow-pickle-global on a pickled module", work, "--model", "resnet18",
                   "--checkpoint", str(work / "module.pth"), "--allow-pickle-global",
                   "torch.nn.modules.linear.Linear", out="allowed")
    # Accepted by the unpickler now; a whole module is still not a state dict, which is the next line.
    assert_clean_failure(proc, 3, "module.pth: holds Linear, not a state dict")


def test_refused_global_is_found_in_other_torch_wordings():
    from convert.checkpoints import refused_global

    wordings = {
        "Weights only load failed. Unsupported global: GLOBAL foo.Bar was not an allowed global": "foo.Bar",
        "WeightsUnpickler error: Unsupported class foo.bar.Baz. Please use "
        "`torch.serialization.add_safe_globals([foo.bar.Baz])`": "foo.bar.Baz",
        "Trying to load unsupported GLOBAL pkg.mod.Cls whose module pkg.mod is blocked": "pkg.mod.Cls",
    }
    for message, name in wordings.items():
        assert refused_global(message) == name, message
    assert refused_global(pickle.UnpicklingError("invalid load key, 'x'.").args[0]) is None


def test_second_convert_into_a_held_directory_is_refused(work):
    before = snapshot(work / "out")
    with open(work / "out" / ".harness.lock", "w") as held:
        held.write(f"{os.getpid()}\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = convert("convert: second run while one holds the output directory", work, "--onnx",
                       str(work / "tiny.onnx"), "--batchsize", "2")
    assert_clean_failure(proc, 10, str(work / "out"), "another convert run", f"pid {os.getpid()}")
    assert {k: v for k, v in snapshot(work / "out").items() if k != ".harness.lock"} == before


def test_a_lock_left_by_a_dead_process_is_taken_over(work):
    (work / "out" / ".harness.lock").write_text("999999\n")  # no process holds it any more
    proc = convert("convert: lock file left by a killed run", work, "--onnx", str(work / "tiny.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    assert not (work / "out" / ".harness.lock").exists()

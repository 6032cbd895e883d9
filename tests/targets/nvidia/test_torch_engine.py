"""The torch engine end to end: export at build, then (on a GPU) a session checked against the module."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.contracts import ConvertManifest, TensorSpec
from harness.errors import ContractError, TargetError
from targets import get_target
from targets.base import BuildRequest
from targets.nvidia import source_keys
from targets.nvidia.compat import read_meta
from tests.targets.nvidia.conftest import relative_error, say_if_refused, tiny_net

SPEC_IN = TensorSpec("image", [-1, 3, 8, 8])
SPEC_OUT = TensorSpec("class", [-1, 10])


def build(tmp_path, precision="fp32", batches=(1, 8), dynamic=True, model=None, **options):
    model = model if model is not None else tiny_net()
    target = get_target("nvidia", engine="torch", **options)
    request = BuildRequest(onnx=tmp_path / "tiny.sim.onnx", out_dir=tmp_path, model="tiny", precision=precision,
                           batch_sizes=list(batches), dynamic_batch=dynamic, input=SPEC_IN, output=SPEC_OUT,
                           load_model=lambda: model)
    result = target.build(request)
    manifest = ConvertManifest(model="tiny", target="nvidia", precision=precision, artifact=result.artifact.name,
                               onnx="tiny.sim.onnx", sim_onnx="tiny.sim.onnx", input=SPEC_IN, output=SPEC_OUT,
                               batch_sizes=list(batches), dynamic_batch=dynamic, opset=17)
    return target, result, manifest, model


def reference(model, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 3, 8, 8)).astype(np.float32)


def test_build_exports_a_program_that_reproduces_the_module(tmp_path):
    _, result, _, model = build(tmp_path)
    assert result.artifact.name == "tiny.fp32.bs1-8.pt2" and result.info["engine"] == "torch"
    meta = read_meta(result.artifact)
    assert meta["torch"] == torch.__version__ and meta["batch_profile"] == {"min": 1, "opt": 8, "max": 8}
    program = torch.export.load(str(result.artifact)).module()
    batch = images(5)
    with torch.no_grad():
        assert relative_error(program(torch.from_numpy(batch)).numpy(), reference(model, batch)) < 1e-6


def test_build_refuses_int8_and_a_request_without_a_model(tmp_path):
    with pytest.raises(TargetError, match="int8 needs --option engine=tensorrt"):
        build(tmp_path, precision="int8")
    target = get_target("nvidia", engine="torch")
    request = BuildRequest(onnx=tmp_path / "x.onnx", out_dir=tmp_path, model="x", precision="fp32",
                           batch_sizes=[4], dynamic_batch=False, input=SPEC_IN, output=SPEC_OUT)
    with pytest.raises(TargetError, match="no model loader"):
        target.build(request)


def test_open_without_a_gpu_says_so_in_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    target, result, manifest, _ = build(tmp_path, batches=(4,), dynamic=False)
    with pytest.raises(TargetError, match="CUDA") as caught:
        target.open(result.artifact, manifest, "0")
    assert "\n" not in str(caught.value)


def test_failed_compile_falls_back_once_and_says_so(tmp_path, monkeypatch):
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import FALLBACK_VARIANT, resolve_variant

    def broken(self, module):
        def fail(*args):
            raise RuntimeError("no compiler here")
        return fail

    monkeypatch.setattr(TorchRunner, "_compiled", broken)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    runner = TorchRunner(result.artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8),
                         precompile=False)
    batch = images(2)
    (out,) = runner.forward(torch.from_numpy(batch))
    runner.close()
    assert relative_error(out.numpy(), reference(model, batch)) < 1e-5
    info = runner.info()
    assert info["variant"] == FALLBACK_VARIANT and "no compiler here" in info["fallback"]


def test_a_fallback_that_fails_too_is_one_line_naming_both_and_the_option(tmp_path, monkeypatch):
    from targets.nvidia import torch_runtime
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import FALLBACK_VARIANT, resolve_variant

    def broken(self, module):
        def fail(*args):
            raise RuntimeError("no compiler here")
        return fail

    def no_kernel(module, variant, on_cuda):  # as cuDNN without an engine for a fused call both variants make
        module.forward = lambda *args: (_ for _ in ()).throw(RuntimeError("no engine for this fused call"))
        return {}

    monkeypatch.setattr(TorchRunner, "_compiled", broken)
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False)
    runner = TorchRunner(result.artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8),
                         precompile=False)
    monkeypatch.setattr(torch_runtime, "apply_rewrites", no_kernel)
    with pytest.raises(TargetError) as raised:
        runner.forward(torch.from_numpy(images(2)))
    runner.close()
    message = str(raised.value)
    assert "\n" not in message and str(result.artifact) in message and "no compiler here" in message
    assert f"so did {FALLBACK_VARIANT}" in message and "no engine for this fused call" in message
    assert "--option variant=" in message


@pytest.mark.nvidia
@pytest.mark.parametrize("precision,variant,tolerance,saved_graph", [
    ("fp32", "plain", 5e-3, None), ("fp32", "tuned", 5e-3, None), ("fp16", "tuned", 2e-2, None),
    ("fp16", "fused", 2e-2, None), ("fp32", "inductor", 5e-3, None), ("fp16", "inductor", 2e-2, None),
    ("fp16", "inductor", 2e-2, "inductor")])
def test_session_matches_the_module(tmp_path, cuda, precision, variant, tolerance, saved_graph):
    form = {"saved_graph": saved_graph} if saved_graph else {}  # None: the default, an AOTInductor package
    target, result, manifest, model = build(tmp_path, precision=precision, variant=variant, **form)
    with target.open(result.artifact, manifest, "0") as session:
        for count in (8, 3, 8):
            batch = images(count, seed=count)
            (out,) = session.run(batch)
            assert out.shape == (count, 10) and out.dtype == np.float32
            assert relative_error(out, reference(model, batch)) < tolerance
        info = session.info()
    assert info["variant"] == variant and info["cuda_graphs"]["8"] == "cuda_graph"
    assert info["device_index"] == 0 and info["peak_device_memory_mib"] > 0
    if variant == "inductor":  # the form asked for ran, or the session says why not
        path = info["compile_path"]
        assert path["path"] == ("standalone" if saved_graph else "aoti") or "aoti_refused" in path, path
        say_if_refused(path)


@pytest.mark.nvidia
def test_overlapped_batches_keep_their_own_outputs_and_timings(tmp_path, cuda):
    target, result, manifest, model = build(tmp_path, batches=(4,), dynamic=False, variant="tuned")
    batches = [images(4, seed=s) for s in range(6)]
    with target.open(result.artifact, manifest, "0") as session:
        handles = [session.submit(b) for b in batches[:3]]
        with pytest.raises(TargetError, match="without collect"):
            session.submit(batches[3])
        outputs = [session.collect(h)[0] for h in handles]
        for batch in batches[3:]:
            outputs.append(session.run(batch)[0])
        timings = list(session.timings)
    for batch, out in zip(batches, outputs):
        assert relative_error(out, reference(model, batch)) < 5e-3
    assert all(t.compute_ms > 0 and t.h2d_ms > 0 and t.d2h_ms > 0 and t.e2e_ms >= t.compute_ms for t in timings)


@pytest.mark.nvidia
def test_session_refuses_batches_and_devices_it_cannot_take(tmp_path, cuda):
    target, result, manifest, _ = build(tmp_path, batches=(4,), dynamic=False, variant="tuned")
    with target.open(result.artifact, manifest, "0") as session:
        assert session.batch_sizes() == [4]
        with pytest.raises(ContractError, match="takes only"):
            session.run(images(2))
    with pytest.raises(TargetError, match=f"CUDA device {torch.cuda.device_count()} does not exist"):
        target.open(result.artifact, manifest, str(torch.cuda.device_count()))
    dynamic_target, dynamic_result, dynamic_manifest, _ = build(tmp_path, batches=(1, 8), variant="tuned")
    with dynamic_target.open(dynamic_result.artifact, dynamic_manifest, "0") as session:
        assert session.batch_sizes() is None and session.max_batch() == 8
        with pytest.raises(ContractError, match="batch sizes 1..8"):
            session.run(images(9))


@pytest.mark.nvidia
def test_second_gpu_when_present(tmp_path, cuda):
    if torch.cuda.device_count() < 2:
        pytest.skip("one GPU only")
    for variant, form in (("tuned", {}), ("inductor", {}), ("inductor", {"saved_graph": "inductor"})):
        # inductor: its graph saved by a compile process for GPU 1, then the same cache opened on GPU 0
        directory = tmp_path / f"{variant}-{form.get('saved_graph', 'default')}"
        directory.mkdir()
        target, result, manifest, model = build(directory, batches=(4,), dynamic=False, variant=variant, **form)
        for device in ("1", "0"):
            with target.open(result.artifact, manifest, device) as session:
                batch = images(4, seed=int(device))
                assert relative_error(session.run(batch)[0], reference(model, batch)) < 5e-3
                assert session.info()["device_index"] == int(device)


@pytest.mark.nvidia
def test_warm_session_prepares_on_the_thread_that_warmed_its_convolutions(tmp_path, cuda):
    target, result, manifest, model = build(tmp_path, precision="fp16", batches=(4,), dynamic=False,
                                            variant="inductor", warm_aside=True, saved_graph="inductor")
    batch = images(4, seed=2)
    with target.open(result.artifact, manifest, "0") as session:  # cold: a child compiles and records
        (first,) = session.run(batch)
        cold = session.info()
    with target.open(result.artifact, manifest, "0", batch_hint=4) as session:
        (again,) = session.run(batch)
        (other,) = session.run(images(4, seed=3))
        warm = session.info()
    assert cold["compile_path"]["convolutions_warmed_aside"]["4"]["skipped"].startswith("no saved graph for this")
    assert warm["compile_cache"]["state"] == "warm" and warm["compile_path"]["batches"] == {"4": "loaded"}
    assert "triton" in source_keys.report(["triton"])["seconds"]  # Triton's own key, found and hashed aside here
    warmed = warm["compile_path"]["convolutions_warmed_aside"]["4"]
    assert warmed["convolutions"] == warmed["of"] == 3 and warm["cuda_graphs"]["4"] == "cuda_graph"
    assert relative_error(again, first) < 1e-3  # the same graph, replayed from the thread that captured it
    assert relative_error(other, reference(model, images(4, seed=3))) < 2e-2

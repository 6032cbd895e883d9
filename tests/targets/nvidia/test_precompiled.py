"""Inductor's output saved per batch size in the compile cache and loaded by a later process (CPU inductor here)."""
from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from targets.nvidia import torch_runtime
from targets.nvidia.precompiled import WEIGHTS, graph_file, standalone_available, turn_file
from targets.nvidia.torch_runtime import TorchRunner
from targets.nvidia.variants import resolve_variant
from tests.targets.nvidia.conftest import fresh_python, relative_error, run_while_holding_the_turn, runner_script
from tests.targets.nvidia.test_torch_engine import build, images, reference

pytestmark = pytest.mark.skipif(not standalone_available(torch),
                                reason=f"torch {torch.__version__} has no torch._inductor.standalone_compile")


def runner(artifact, **kwargs) -> TorchRunner:
    return TorchRunner(artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8), **kwargs)


def run(artifact, batch: np.ndarray, **kwargs) -> tuple[np.ndarray, dict]:
    session = runner(artifact, **kwargs)
    (out,) = session.forward(torch.from_numpy(batch))
    session.close()
    return out.numpy(), session.info()


def forbid(monkeypatch, *names) -> None:
    """Make loading the program, tracing and compiling fail loudly: a warm start must need none of them."""
    def refused(*args, **kwargs):
        raise AssertionError("a warm start loaded, traced or compiled")

    for owner, name in names:
        monkeypatch.setattr(owner, name, refused)


WARM_FORBIDS = ((torch_runtime, "load_program_module"), (torch._inductor, "standalone_compile"),
                (torch.export, "export"), (torch, "compile"))


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """An artifact whose cache a first process filled at batch 2: (artifact, model, first output, first info)."""
    tmp_path = tmp_path_factory.mktemp("precompiled")
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    out, info = run(result.artifact, images(2))
    return result.artifact, model, out, info


def test_first_process_has_a_child_compile_then_loads_and_matches_the_module(warm_cache):
    artifact, model, out, info = warm_cache
    assert relative_error(out, reference(model, images(2))) < 1e-5
    assert info["compile_path"]["path"] == "standalone"
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    assert info["compile_path"]["seconds"]["2"] > 0 and "weights" in info["compile_path"]["seconds"]
    assert info["compile_cache"]["state"] == "cold" and info["bn_folded"] == 2
    directory = artifact.parent / ".compile-cache"
    (key,) = list(directory.iterdir())
    assert graph_file(key, 2).stat().st_size > 0 and (key / WEIGHTS).is_file()


def test_second_process_loads_without_loading_tracing_or_compiling(warm_cache, monkeypatch):
    artifact, model, first, _ = warm_cache
    forbid(monkeypatch, *WARM_FORBIDS)
    batch = images(2, seed=5)
    out, info = run(artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["batches"] == {"2": "loaded"} and set(info["compile_path"]["seconds"]) == {"weights", "2"}
    assert info["compile_cache"]["state"] == "warm" and info["bn_folded"] == 2  # noted by the first process


def test_a_harness_with_other_graph_rewrites_does_not_load_the_saved_graphs(warm_cache, tmp_path, monkeypatch):
    artifact, *_ = warm_cache
    other = tmp_path / "fx_passes.py"
    other.write_text("# the rewrites of another harness version\n")
    monkeypatch.setattr(torch_runtime, "graph_code_files", lambda: [other])
    caches = artifact.parent / ".compile-cache"
    before = set(caches.iterdir())
    session = runner(artifact, compile_in_child=False)
    try:
        cache = session.info()["compile_cache"]
    finally:
        session.close()
        for directory in set(caches.iterdir()) - before:
            shutil.rmtree(directory)  # the warm cache of the other tests stays the only one
    assert cache["state"] == "cold" and Path(cache["dir"]) not in before


def test_in_process_compile_saves_what_a_later_process_loads(tmp_path, monkeypatch):
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    out, info = run(result.artifact, images(2), compile_in_child=False)
    assert relative_error(out, reference(model, images(2))) < 1e-5
    assert info["compile_path"]["batches"] == {"2": "compiled"}
    forbid(monkeypatch, *WARM_FORBIDS)
    out, info = run(result.artifact, images(2, seed=3))
    assert relative_error(out, reference(model, images(2, seed=3))) < 1e-5
    assert info["compile_path"]["batches"] == {"2": "loaded"}


def test_a_variant_with_inductor_settings_is_compiled_with_them_not_left_to_torch_compile(tmp_path, monkeypatch):
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    variant = dataclasses.replace(resolve_variant("inductor"), inductor={"freezing": True, "epilogue_fusion": False})
    seen = []
    module = importlib.import_module("torch._inductor.compile_fx")
    real_compile_fx = module.compile_fx

    def compile_fx(*args, **kwargs):  # called again from inside itself once config_patches are in force
        seen.append(torch._inductor.config.epilogue_fusion)
        return real_compile_fx(*args, **kwargs)

    monkeypatch.setattr(module, "compile_fx", compile_fx)
    session = TorchRunner(result.artifact, torch.device("cpu"), "fp32", variant, (3, 8, 8), compile_in_child=False)
    (out,) = session.forward(torch.from_numpy(images(2)))
    session.close()
    assert relative_error(out.numpy(), reference(model, images(2))) < 1e-5
    assert session.info()["compile_path"]["batches"] == {"2": "compiled"}
    assert False in seen  # the setting was in force while inductor compiled


def test_an_unusable_saved_graph_is_rebuilt_with_one_line(tmp_path, capsys):
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2), compile_in_child=False)
    (key,) = list((tmp_path / ".compile-cache").iterdir())
    graph_file(key, 2).write_bytes(b"cut short")
    capsys.readouterr()
    batch = images(2, seed=7)
    out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_cache"]["state"] == "rebuilt"
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    warnings = [line for line in capsys.readouterr().err.splitlines() if "compile cache" in line]
    assert len(warnings) == 1 and "unusable" in warnings[0] and "bs2.inductor.bin" in warnings[0]


def test_a_process_waits_for_the_one_compiling_its_batch_size_and_loads_what_that_one_saved(tmp_path):
    """`--device 0,1`'s two workers, or two runs of one artifact, open one compile cache: the second to reach a
    batch size waits for the first one's compile instead of compiling it beside it."""
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2), compile_in_child=False)  # the saved weights, and bs2's graph to hand over
    (key,) = list((tmp_path / ".compile-cache").iterdir())
    graph = graph_file(key, 2)
    aside = graph.rename(tmp_path / "bs2.saved")  # not compiled yet, as far as a new process can see
    batch = images(2, seed=5)
    np.save(tmp_path / "batch.npy", batch)
    script = runner_script(result.artifact, tmp_path / "batch.npy", tmp_path / "out.npy")
    # meanwhile, the process holding the turn saves the graph
    path, said = run_while_holding_the_turn(turn_file(key, graph), script, lambda: aside.rename(graph))
    assert path["batches"] == {"2": "compiled by another process"} and path["path"] == "standalone"
    assert relative_error(np.load(tmp_path / "out.npy"), reference(model, batch)) < 1e-5
    waits = [line for line in said if "waiting for it" in line]
    assert len(waits) == 1 and f"pid {os.getpid()} is compiling bs2 (inductor)" in waits[0] and str(key) in waits[0]


def test_inductors_form_has_a_file_per_gpu_and_a_package_serves_them_all(tmp_path):
    """Inductor's Python wrapper sets the device it was compiled on; the package's loader is told the device."""
    first, second = torch.device("cuda", 0), torch.device("cuda", 1)
    assert graph_file(tmp_path, 64, "inductor", first) == graph_file(tmp_path, 64) == tmp_path / "bs64.inductor.bin"
    assert graph_file(tmp_path, 64, "inductor", second) == tmp_path / "bs64.cuda1.inductor.bin"
    assert graph_file(tmp_path, 64, "aoti", second) == graph_file(tmp_path, 64, "aoti") == tmp_path / "bs64.aoti.pt2"


def test_unreadable_saved_weights_are_rebuilt(tmp_path, capsys):
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2), compile_in_child=False)
    (key,) = list((tmp_path / ".compile-cache").iterdir())
    (key / WEIGHTS).write_bytes(b"not a torch file")
    batch = images(2, seed=9)
    out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_cache"]["state"] == "rebuilt"
    assert "weights.pt" in capsys.readouterr().err


def test_a_standalone_compile_that_fails_falls_back_to_torch_compile(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported here")

    monkeypatch.setattr(torch._inductor, "standalone_compile", broken)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch, compile_in_child=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "torch.compile" and "unsupported here" in info["compile_path"]["note"]
    assert "fallback" not in info


def test_a_child_that_fails_falls_back_to_torch_compile_and_says_why(tmp_path, monkeypatch):
    from targets.nvidia import precompile_child

    monkeypatch.setattr(precompile_child, "CHILD_MODULE", "targets.nvidia.no_such_module")
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    note = info["compile_path"]["note"]
    assert info["compile_path"]["path"] == "torch.compile" and "compile process exited 1" in note
    assert "no_such_module" in note and "\n" not in note


def test_precompile_off_traces_with_torch_compile(tmp_path):
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch, precompile=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"] == {"path": "torch.compile"}


def test_a_batch_too_big_for_the_compile_process_is_out_of_memory_not_a_compile_failure(tmp_path, monkeypatch):
    from harness.errors import DeviceOutOfMemory
    from targets.nvidia import precompile_child

    monkeypatch.setattr(precompile_child, "CHILD_MODULE", "tests.targets.nvidia.out_of_memory_child")
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False)
    session = runner(result.artifact)
    with pytest.raises(DeviceOutOfMemory, match=r"batch 2 does not fit .*available 7,242\.2 MiB.*compiling it"):
        session.forward(torch.from_numpy(images(2)))
    session.close()
    assert "note" not in session.info()["compile_path"] and "fallback" not in session.info()


def test_a_batch_size_the_child_cannot_compile_leaves_the_saved_ones(tmp_path, monkeypatch):
    """A warm cache whose new batch size fails to compile keeps the graphs it has: the failure says nothing of them."""
    from targets.nvidia import precompile_child

    _, result, _, model = build(tmp_path, batches=(2, 4), dynamic=True)
    run(result.artifact, images(2), compile_in_child=False)
    (key,) = list((tmp_path / ".compile-cache").iterdir())
    monkeypatch.setattr(precompile_child, "CHILD_MODULE", "targets.nvidia.no_such_module")
    session = runner(result.artifact)
    (two,) = session.forward(torch.from_numpy(images(2, seed=1)))
    (four,) = session.forward(torch.from_numpy(images(4)))
    info = session.info()
    session.close()
    assert relative_error(four.numpy(), reference(model, images(4))) < 1e-5
    assert relative_error(two.numpy(), reference(model, images(2, seed=1))) < 1e-5
    assert info["compile_cache"]["state"] == "warm" and graph_file(key, 2).is_file()
    assert "compile process exited 1" in info["compile_path"]["note"]


def test_strict_fp32_and_tf32_graphs_are_kept_apart(tmp_path):
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2), compile_in_child=False, tf32=True)
    _, info = run(result.artifact, images(2), compile_in_child=False, tf32=False)
    assert info["compile_cache"]["state"] == "cold"  # not the graph compiled with TF32 allowed
    assert len(list((tmp_path / ".compile-cache").iterdir())) == 2


def test_first_process_records_the_graphs_convolutions_beside_it(warm_cache):
    from targets.nvidia.conv_plans import convolutions_file, load_convolutions

    artifact, model, _, _ = warm_cache
    (key,) = list((artifact.parent / ".compile-cache").iterdir())
    entries = load_convolutions(convolutions_file(key, 2))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [e["weight"]["shape"] for e in entries] == [list(c.weight.shape) for c in convs]
    assert [e["groups"] for e in entries] == [c.groups for c in convs] == [1, 4, 1]
    assert all(e["input"]["shape"][0] == 2 and e["input"]["dtype"] == "float32" for e in entries)
    assert all(e["bias"] is not None for e in entries)  # BatchNorm folded into the first two


def test_a_warm_start_warms_the_convolutions_aside_then_calls_there(warm_cache, monkeypatch):
    import threading

    artifact, model, _, _ = warm_cache
    forbid(monkeypatch, *WARM_FORBIDS)
    session = runner(artifact, batch_hint=2, warm_aside=True)
    aside = session.prepare_aside(2)
    assert aside is not None and session._calls  # the graph was loaded here, on the calling thread
    batch = images(2, seed=11)
    threads = []

    def first_call():
        threads.append(threading.current_thread())
        return session.forward(torch.from_numpy(batch))

    (out,) = aside.call(first_call)
    info = session.info()
    session.close()
    assert threads[0] is not threading.current_thread()
    assert relative_error(out.numpy(), reference(model, batch)) < 1e-5
    assert info["compile_path"]["convolutions_warmed_aside"]["2"]["convolutions"] == 3
    assert info["compile_path"]["batches"] == {"2": "loaded"}


def test_no_aside_thread_unless_asked(warm_cache):
    artifact, _, _, _ = warm_cache
    session = runner(artifact, batch_hint=2)
    assert session.prepare_aside(2) is None and "convolutions_warmed_aside" not in session.info()["compile_path"]
    session.close()


def test_no_aside_thread_without_a_recorded_list(warm_cache, tmp_path):
    from targets.nvidia.conv_plans import convolutions_file

    artifact, model, _, _ = warm_cache
    (key,) = list((artifact.parent / ".compile-cache").iterdir())
    listed = convolutions_file(key, 2)
    kept = listed.read_bytes()
    listed.write_text("not json")
    try:
        session = runner(artifact, batch_hint=2, warm_aside=True)
        assert session.prepare_aside(2) is None
        (out,) = session.forward(torch.from_numpy(images(2)))
        info = session.info()
        session.close()
    finally:
        listed.write_bytes(kept)
    assert relative_error(out.numpy(), reference(model, images(2))) < 1e-5
    why = info["compile_path"]["convolutions_warmed_aside"]["2"]["skipped"]
    assert why.startswith("no recorded convolutions") and ".compile-cache" in why  # asked for, so it says why not


def test_loading_a_saved_graph_starts_no_compile_workers(warm_cache, monkeypatch):
    import torch._inductor.config as inductor_config

    artifact, model, _, _ = warm_cache
    load = torch._inductor.CompiledArtifact.load
    seen = []

    def recording(*args, **kwargs):
        # what AsyncCompile.triton asks for each kernel it loads: True would start the pool of compile workers
        seen.append((inductor_config.compile_threads, torch._inductor.async_compile.AsyncCompile.use_process_pool()))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch._inductor.CompiledArtifact, "load", staticmethod(recording))
    before = inductor_config.compile_threads
    batch = images(2, seed=4)
    out, info = run(artifact, batch)
    assert seen == [(1, False)] and inductor_config.compile_threads == before  # one while loading, then as it was
    assert info["compile_path"]["batches"] == {"2": "loaded"}
    assert relative_error(out, reference(model, batch)) < 1e-5


def test_a_saved_graph_that_does_not_load_is_left_to_the_first_call_here(tmp_path, capsys):
    from targets.nvidia.conv_plans import convolutions_file

    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2))  # a child compiles, records the convolutions
    (key,) = list((tmp_path / ".compile-cache").iterdir())
    assert convolutions_file(key, 2).is_file()
    graph_file(key, 2).write_bytes(b"cut short")
    capsys.readouterr()
    session = runner(result.artifact, batch_hint=2, warm_aside=True)
    assert session.prepare_aside(2) is None  # nothing runs aside: this thread rebuilds, as without the option
    batch = images(2, seed=8)
    (out,) = session.forward(torch.from_numpy(batch))
    info = session.info()
    session.close()
    assert relative_error(out.numpy(), reference(model, batch)) < 1e-5
    assert info["compile_cache"]["state"] == "rebuilt"
    assert len([line for line in capsys.readouterr().err.splitlines() if "compile cache" in line]) == 1


@pytest.mark.parametrize("options,why", [({"cudnn_benchmark": True}, "cudnn_benchmark=1"),
                                         ({"cuda_graphs": False}, "cuda_graphs=0"),
                                         ({"precompile": False}, "no saved graphs")])
def test_no_aside_thread_while_cudnn_times_its_algorithms_or_without_graphs(warm_cache, options, why):
    artifact, _, _, _ = warm_cache
    session = runner(artifact, batch_hint=2, warm_aside=True, **options)
    assert session.prepare_aside(2) is None and session._aside is None
    info = session.info()
    session.close()
    assert info["compile_path"]["convolutions_warmed_aside"]["2"]["skipped"].startswith(why)


def test_a_graph_that_fails_to_load_aside_for_another_reason_is_left_to_the_first_call_here(warm_cache,
                                                                                              monkeypatch):
    from targets.nvidia.precompiled import PrecompiledGraphs

    artifact, model, _, _ = warm_cache
    session = runner(artifact, batch_hint=2, warm_aside=True)

    def gone(*args, **kwargs):  # e.g. another process rebuilding the shared cache between two checks
        raise FileNotFoundError("bs2.inductor.bin")

    with monkeypatch.context() as patch:
        patch.setattr(PrecompiledGraphs, "callable_for", gone)
        assert session.prepare_aside(2) is None
    batch = images(2, seed=6)
    (out,) = session.forward(torch.from_numpy(batch))
    session.close()
    assert relative_error(out.numpy(), reference(model, batch)) < 1e-5


class InvertedResidual(torch.nn.Module):
    """A MobileNetV2 block, as EfficientNet-Lite0 has sixteen: expand, depthwise + BatchNorm + ReLU6, project; then
    an SE block, as SE-ResNeXt101 has 33: squeeze and excite over the pooled image, a sigmoid gate."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.expand = nn.Sequential(nn.Conv2d(3, 16, 1), nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(16, 16, 5, padding=2, groups=16, bias=False), nn.BatchNorm2d(16),
                                       nn.ReLU6())
        self.project = nn.Conv2d(16, 10, 1)
        self.squeeze = nn.Sequential(nn.Conv2d(10, 4, 1), nn.ReLU())
        self.excite = nn.Conv2d(4, 10, 1)

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        y = y * torch.sigmoid(self.excite(self.squeeze(y.mean((2, 3), keepdim=True))))
        return y.mean((2, 3))


def test_the_default_variant_rewrites_depthwise_convolutions_and_se_layers_cold_and_warm(tmp_path, monkeypatch):
    """The rewrites are for CUDA devices; here they are applied on the CPU as they would be there, in process (a
    compile child would not see the patch), and the saved graph is loaded in the second session."""
    torch.manual_seed(0)
    model = InvertedResidual().eval()
    model.depthwise[1].running_var.uniform_(0.5, 2.0)
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False, model=model)
    real_rewrites = torch_runtime.apply_rewrites
    monkeypatch.setattr(torch_runtime, "apply_rewrites", lambda module, variant, on_cuda: real_rewrites(
        module, variant, on_cuda=True))
    default = resolve_variant(None)
    outputs = []
    for process in ("cold", "warm"):
        if process == "warm":
            forbid(monkeypatch, *WARM_FORBIDS)
        session = TorchRunner(result.artifact, torch.device("cpu"), "fp32", default, (3, 8, 8),
                              compile_in_child=False)
        (out,) = session.forward(torch.from_numpy(images(2, seed=11)))
        session.close()
        outputs.append(out.numpy())
        info = session.info()
        assert info["variant"] == "inductor-cudnn" and info["depthwise_as_taps"] == 1 and info["bn_folded"] == 1
        # ReLU6 and the SE layers' reductions: no convolution left for a fused cuDNN call
        assert info["conv_relu_fused"] == 0 and info["conv_add_relu_fused"] == 0
        # the SE block's two layers, as reductions at this batch size (2)
        assert info["pooled_conv_as_reduction"] == {"convolutions": 2, "at_batch_sizes_up_to": 32}
        assert info["compile_cache"]["state"] == process
    for out in outputs:
        assert relative_error(out, reference(model, images(2, seed=11))) < 1e-5


class ResidualClassifier(torch.nn.Module):
    """Residual blocks (an identity shortcut, a strided shortcut convolution after an SE gate), pooled."""

    def __init__(self) -> None:
        super().__init__()
        from tests.targets.nvidia.test_fx_passes import residual_net

        self.blocks = residual_net()

    def forward(self, x):
        return self.blocks(x).mean((2, 3))


def test_the_cudnn_epilogue_variant_saves_and_loads_its_fused_convolutions(tmp_path, monkeypatch,
                                                                            cudnn_fusions_on_the_cpu):
    """As the default variant's test above, with torch's CUDA-only fused convolutions computed on the CPU: the saved
    graph calls them, and a warm process loads it without tracing or compiling."""
    model = ResidualClassifier().eval()
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False, model=model)
    real_rewrites = torch_runtime.apply_rewrites
    monkeypatch.setattr(torch_runtime, "apply_rewrites", lambda module, variant, on_cuda: real_rewrites(
        module, variant, on_cuda=True))
    for process in ("cold", "warm"):
        if process == "warm":
            forbid(monkeypatch, *WARM_FORBIDS)
        session = TorchRunner(result.artifact, torch.device("cpu"), "fp32", resolve_variant("inductor-cudnn"),
                              (3, 8, 8), compile_in_child=False)
        (out,) = session.forward(torch.from_numpy(images(2, seed=12)))
        session.close()
        info = session.info()
        assert info["variant"] == "inductor-cudnn" and info["compile_cache"]["state"] == process
        assert info["conv_add_relu_fused"] == 2 and info["conv_relu_fused"] == 1 and info["bn_folded"] == 3
        assert relative_error(out.numpy(), reference(model, images(2, seed=12))) < 1e-5


WARM_START = r"""
import json, sys, threading, time
import numpy as np, torch
import torch._inductor.codecache as codecache
from targets.nvidia.torch_runtime import TorchRunner
from targets.nvidia.variants import resolve_variant

hashed = []  # per walk of torch's sources: its thread, and when it ended
build_code_hash = codecache.build_code_hash
def recording(roots, prefix, hasher):
    if prefix:  # the walk's own recursion below torch's root
        return build_code_hash(roots, prefix, hasher)
    if threading.current_thread() is not threading.main_thread():
        time.sleep(1.0)  # a slow disk: the load must still wait for the hash
    build_code_hash(roots, prefix, hasher)
    hashed.append((threading.current_thread().name, time.perf_counter()))
codecache.build_code_hash = recording
loads = []
load = torch._inductor.CompiledArtifact.load
def recording_load(*args, **kwargs):
    loads.append(time.perf_counter())
    return load(*args, **kwargs)
torch._inductor.CompiledArtifact.load = staticmethod(recording_load)

artifact, batch_file, out_file, aside = sys.argv[1:5]
session = TorchRunner(artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8),
                      hash_aside=aside == "1")
(out,) = session.forward(torch.from_numpy(np.load(batch_file)))
session.close()
np.save(out_file, out.numpy())
print(json.dumps({"hashed_on": [name for name, _ in hashed], "hash_ended_before_load": hashed[0][1] < loads[0],
                  "compile_path": session.info()["compile_path"], "torch_key": codecache.torch_key().hex()}))
"""


@pytest.mark.parametrize("aside,thread", [("1", "torch-key"), ("0", "MainThread")])
def test_a_warm_process_hashes_torch_once_where_asked_and_inductor_uses_that_value(warm_cache, tmp_path, aside,
                                                                                    thread):
    artifact, model, _, _ = warm_cache
    batch = images(2, seed=8)
    np.save(tmp_path / "batch.npy", batch)
    seen = fresh_python(WARM_START, str(artifact), str(tmp_path / "batch.npy"), str(tmp_path / "out.npy"), aside)
    assert seen["compile_path"]["batches"] == {"2": "loaded"}
    assert seen["hashed_on"] == [thread]  # once: loading the saved graph found the value, or made it there
    assert seen["hash_ended_before_load"] == (aside == "1")  # waited for, not asked for again meanwhile
    if aside == "1":  # no Triton on the CPU
        assert seen["compile_path"]["source_keys_hashed_aside"]["seconds"]["torch"] >= 1.0
    else:
        assert "source_keys_hashed_aside" not in seen["compile_path"]
    assert seen["torch_key"] == torch._inductor.codecache.torch_key().hex()  # this process's own hash
    assert relative_error(np.load(tmp_path / "out.npy"), reference(model, batch)) < 1e-5

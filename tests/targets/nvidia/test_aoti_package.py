"""saved_graph=aoti: the compiled graph kept as an AOTInductor package, loaded by torch's C++ loader without
importing inductor (CPU packages here: the same loader and the same refusals as on a GPU)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import DeviceOutOfMemory
from targets.nvidia import precompiled
from targets.nvidia.precompiled import AOTI_REFUSED, WEIGHTS, aoti_loader_available, graph_file, turn_file
from targets.nvidia import torch_runtime
from targets.nvidia.torch_runtime import TorchRunner
from targets.nvidia.variants import resolve_variant
from tests.targets.nvidia.conftest import (fresh_python, relative_error, run_while_holding_the_turn,
                                          runner_script, say_if_refused)
from tests.targets.nvidia.test_precompiled import WARM_FORBIDS, forbid
from tests.targets.nvidia.test_torch_engine import build, images, reference

pytestmark = pytest.mark.skipif(not aoti_loader_available(torch) or not hasattr(torch._inductor,
                                                                                "aoti_compile_and_package"),
                                reason=f"torch {torch.__version__} has no AOTInductor package loader")


def run(artifact, batch: np.ndarray, saved_graph: str = "aoti", **kwargs) -> tuple[np.ndarray, dict]:
    session = TorchRunner(artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8),
                          saved_graph=saved_graph, **kwargs)
    try:
        (out,) = session.forward(torch.from_numpy(batch))
    finally:
        session.close()
    return out.numpy(), session.info()


def cache_dir(tmp_path) -> Path:
    (key,) = list((tmp_path / ".compile-cache").iterdir())
    return key


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """An artifact whose package a first process's compile child made at batch 2: (artifact, model, info)."""
    tmp_path = tmp_path_factory.mktemp("aoti")
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    out, info = run(result.artifact, images(2))
    assert relative_error(out, reference(model, images(2))) < 1e-5
    return result.artifact, model, info


def test_the_compile_child_makes_a_package_that_takes_the_saved_weights(packaged):
    artifact, _, info = packaged
    assert info["compile_path"]["path"] == "aoti" and "aoti_refused" not in info["compile_path"]
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    key = cache_dir(artifact.parent)
    package = graph_file(key, 2, "aoti")
    assert package.is_file() and (key / WEIGHTS).is_file() and not graph_file(key, 2).exists()
    loader = torch._C._aoti.AOTIModelPackageLoader(str(package), "model", True, 1, -1)
    assert set(loader.get_constant_fqns()) <= set(json.loads((key / "weights.json").read_text())["names"])


def test_a_later_process_loads_the_package_without_importing_inductor(packaged):
    artifact, model, _ = packaged
    batch = images(2, seed=4)
    np.save(artifact.parent / "batch.npy", batch)
    script = ("import json, sys, numpy as np, torch\n"
              "from targets.nvidia.torch_runtime import TorchRunner\n"
              "from targets.nvidia.variants import resolve_variant\n"
              f"session = TorchRunner({str(artifact)!r}, torch.device('cpu'), 'fp32', resolve_variant('inductor'), "
              "(3, 8, 8), saved_graph='aoti')\n"
              f"(out,) = session.forward(torch.from_numpy(np.load({str(artifact.parent / 'batch.npy')!r})))\n"
              "session.close()\n"
              f"np.save({str(artifact.parent / 'out.npy')!r}, out.numpy())\n"
              "print(json.dumps({'path': session.info()['compile_path'], "
              "'imported': sorted(m for m in ('torch._inductor', 'torch._dynamo') if m in sys.modules)}))\n")
    seen = fresh_python(script)
    assert seen["path"]["path"] == "aoti" and seen["path"]["batches"] == {"2": "loaded"}
    assert seen["imported"] == []
    assert relative_error(np.load(artifact.parent / "out.npy"), reference(model, batch)) < 1e-5


def test_a_warm_session_neither_traces_nor_compiles(packaged, monkeypatch):
    artifact, model, _ = packaged
    forbid(monkeypatch, *WARM_FORBIDS, (torch._inductor, "aoti_compile_and_package"))
    batch = images(2, seed=6)
    out, info = run(artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["batches"] == {"2": "loaded"} and info["compile_cache"]["state"] == "warm"


def test_a_package_that_disagrees_with_the_module_is_refused_once_and_for_later_processes(tmp_path, monkeypatch,
                                                                                           capsys):
    monkeypatch.setattr(precompiled, "MIN_AGREEMENT", 1.5)  # no package can agree that well
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch, compile_in_child=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "compiled"}
    assert "differs from the module's" in info["compile_path"]["aoti_refused"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "AOTInductor" in line]
    assert len(warnings) == 1 and "saved_graph=inductor" in warnings[0]
    key = cache_dir(tmp_path)
    assert (key / AOTI_REFUSED).is_file() and not graph_file(key, 2, "aoti").exists()
    # a later process asks for the package again: it does not try, and says why
    monkeypatch.undo()
    with pytest.MonkeyPatch.context() as patch:
        forbid(patch, *WARM_FORBIDS, (torch._inductor, "aoti_compile_and_package"))
        out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "loaded"}
    assert info["compile_path"]["aoti_refused"].startswith("refused by an earlier process: ")
    assert "AOTInductor" not in capsys.readouterr().err
    # nor after its cache is rebuilt: the refusal is written down again
    graph_file(key, 2).write_bytes(b"cut short")
    with pytest.MonkeyPatch.context() as patch:
        forbid(patch, (torch._inductor, "aoti_compile_and_package"))
        out, info = run(result.artifact, batch, compile_in_child=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_cache"]["state"] == "rebuilt" and info["compile_path"]["path"] == "standalone"
    reason, holds = precompiled.earlier_refusal(key)
    assert holds and "differs from the module's" in reason


def test_a_refusal_holds_until_cxx_names_another_compiler(tmp_path, monkeypatch, capsys):
    """The fix a refusal's line asks for: after CXX names another compiler, the next process tries the package
    again, says so once, and runs it; under the compiler it was refused with, no process tries."""
    monkeypatch.delenv("CXX", raising=False)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    run(result.artifact, batch, saved_graph="inductor", compile_in_child=False)  # the weights and inductor's form
    key = cache_dir(tmp_path)
    precompiled.refuse_aoti(key, "PackageRefused: made here")
    with pytest.MonkeyPatch.context() as patch:
        forbid(patch, (torch._inductor, "aoti_compile_and_package"))
        out, info = run(result.artifact, batch)
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "loaded"}
    assert info["compile_path"]["aoti_refused"] == "refused by an earlier process: PackageRefused: made here"
    assert "AOTInductor" not in capsys.readouterr().err and (key / AOTI_REFUSED).is_file()
    out, info = run(result.artifact, batch, precompile=False)  # no saved graph asked for: no refusal to report
    assert info["compile_path"] == {"path": "torch.compile"}
    with pytest.MonkeyPatch.context() as patch:  # a torch without the package loader keeps inductor's form
        patch.setattr(torch_runtime, "aoti_loader_available", lambda torch: False)
        out, info = run(result.artifact, batch)
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "loaded"}
    assert info["compile_path"]["aoti_refused"].startswith("this torch has no AOTInductor package loader")

    calls = tmp_path / "calls"
    wrapped = tmp_path / "wrapped-g++"
    wrapped.write_text(f'#!/bin/sh\necho called >> "{calls}"\nexec g++ "$@"\n')
    wrapped.chmod(0o755)
    monkeypatch.setenv("CXX", str(wrapped))  # the compile child makes its package with it
    out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "aoti" and "aoti_refused" not in info["compile_path"]
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"} and calls.is_file()
    retried = [line for line in capsys.readouterr().err.splitlines() if "AOTInductor" in line]
    assert len(retried) == 1 and "tried again" in retried[0] and "PackageRefused: made here" in retried[0]
    assert not (key / AOTI_REFUSED).exists() and graph_file(key, 2, "aoti").is_file()


def test_a_compile_child_that_crashes_on_the_package_leaves_inductors_graph(tmp_path, monkeypatch, capsys):
    from targets.nvidia import precompile_child

    monkeypatch.setattr(precompile_child, "CHILD_MODULE", "tests.targets.nvidia.package_crash_child")
    at_turns_end = []
    real_turn = precompiled.turn

    @contextmanager
    def watched_turn(lock, waiting):
        with real_turn(lock, waiting):
            try:
                yield
            finally:  # what a process waiting for this turn reads as soon as it has it
                at_turns_end.append(precompiled.earlier_refusal(lock.parent)[0])

    monkeypatch.setattr(precompiled, "turn", watched_turn)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "standalone"
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    assert info["compile_path"]["aoti_refused"] == "ChildCompileFailed: the compile process was killed by SIGSEGV"
    assert at_turns_end[0] == info["compile_path"]["aoti_refused"]  # written down before the turn was given up
    assert "fallback" not in info and "note" not in info["compile_path"]
    assert len([line for line in capsys.readouterr().err.splitlines() if "AOTInductor" in line]) == 1


@pytest.mark.parametrize("child,why", [("targets.nvidia.no_such_module", "exited 1"),
                                       ("tests.targets.nvidia.package_crash_child", "killed by SIGKILL"),
                                       ("targets.nvidia.precompile_child", "took more than 0 s")])
def test_a_compile_child_that_fails_not_of_its_package_refuses_nothing(tmp_path, monkeypatch, capsys, child, why):
    """Failing as inductor's form would (exit 1), killed from outside (the host's OOM killer sends SIGKILL), or out
    of time, the child says nothing of the package: the session takes inductor's way for such a failure, and writes
    no refusal."""
    from targets.nvidia import precompile_child

    monkeypatch.setattr(precompile_child, "CHILD_MODULE", child)
    monkeypatch.setenv("CRASH_SIGNAL", "SIGKILL")
    if "took more than" in why:
        monkeypatch.setattr(precompile_child.compile_in_child, "__defaults__", (0.01,))
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch)
    assert relative_error(out, reference(model, batch)) < 1e-5
    note = info["compile_path"]["note"]
    assert info["compile_path"]["path"] == "torch.compile" and "aoti_refused" not in info["compile_path"]
    assert note.startswith("package compile failed (ChildCompileFailed: ") and why in note
    assert not (cache_dir(tmp_path) / AOTI_REFUSED).exists() and "AOTInductor" not in capsys.readouterr().err


def hungry_module(monkeypatch, rows_that_fit: int) -> None:
    """The module (not its package) runs out of device memory above `rows_that_fit` rows, as one whose rewrites keep
    more alive than the compiled graph does."""
    real = precompiled.PrecompiledGraphs._compile_package

    def compile_package(self, path, program, module, example):
        def call(x):
            if x.shape[0] > rows_that_fit:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return module(x)
        return real(self, path, program, call, example)
    monkeypatch.setattr(precompiled.PrecompiledGraphs, "_compile_package", compile_package)
    monkeypatch.setattr(precompiled, "CHECK_ROWS", 1)


def test_a_batch_too_big_only_for_the_module_checks_the_package_on_its_first_rows(tmp_path, monkeypatch):
    """The fewest rows the program takes: here not CHECK_ROWS (1), below its smallest batch size (2)."""
    hungry_module(monkeypatch, rows_that_fit=2)
    _, result, _, model = build(tmp_path, batches=(2, 4), dynamic=True)
    batch = images(4)
    out, info = run(result.artifact, batch, compile_in_child=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "aoti" and info["compile_path"]["batches"] == {"4": "compiled"}
    # a package that cannot run the batch either: out of memory, no refusal
    monkeypatch.setattr(precompiled.PrecompiledGraphs, "_load_package",
                        lambda self, path: lambda x: (_ for _ in ()).throw(RuntimeError("run_func_ failed")))
    graph_file(cache_dir(tmp_path), 4, "aoti").unlink()
    with pytest.raises(DeviceOutOfMemory, match="batch 4 does not fit .*Tried to allocate 2.00 GiB"):
        run(result.artifact, batch, compile_in_child=False)
    assert not (cache_dir(tmp_path) / AOTI_REFUSED).exists()


def test_a_batch_too_big_for_a_module_of_one_batch_size_is_out_of_memory(tmp_path, monkeypatch):
    hungry_module(monkeypatch, rows_that_fit=1)
    _, result, _, _ = build(tmp_path, batches=(4,), dynamic=False)
    with pytest.MonkeyPatch.context() as patch:
        forbid(patch, (torch._inductor, "aoti_compile_and_package"))  # no package is made for it
        with pytest.raises(DeviceOutOfMemory, match="batch 4 does not fit .*Tried to allocate 2.00 GiB"):
            run(result.artifact, images(4), compile_in_child=False)
    assert not (cache_dir(tmp_path) / AOTI_REFUSED).exists()


def test_a_package_that_fails_while_running_leaves_it_for_this_session_only(tmp_path, monkeypatch, capsys):
    """AOTInductor's C++ layer reports running out of device memory as a plain error: the session runs inductor's
    form, which says what it was, and refuses nothing for later processes."""
    seen = []
    real = torch._inductor.aoti_compile_and_package

    def compile_and_package(*args, **kwargs):
        seen.append(kwargs["inductor_configs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", compile_and_package)
    _, result, _, model = build(tmp_path, batches=(2, 4), dynamic=True)
    run(result.artifact, images(2), compile_in_child=False)
    (settings,) = seen
    assert settings["aot_inductor.package_constants_in_so"] is False and "freezing" not in settings
    assert "cpp.vec_isa_ok" not in settings  # a CPU graph's kernels keep the instruction sets inductor finds

    def failing(self, path):
        def run_package(x):
            raise precompiled.PackageRunFailed(f"{path.name}: API call failed")
        return run_package

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(precompiled.PrecompiledGraphs, "_load_package", failing)
        batch = images(2, seed=2)
        out, info = run(result.artifact, batch, compile_in_child=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "compiled"}
    assert info["compile_path"]["aoti_refused"].startswith("the package failed while running (bs2.aoti.pt2")
    key = cache_dir(tmp_path)
    assert not (key / AOTI_REFUSED).exists() and "AOTInductor" not in capsys.readouterr().err


@pytest.mark.parametrize("device, named, expected", [
    ("cuda", {}, False),  # host code only: no instruction-set probe
    ("cuda:1", {"cpp.vec_isa_ok": True}, True),  # a variant that names it keeps its own
    ("cpu", {}, None),
])
def test_package_settings_probe_the_cpus_instruction_sets_only_for_a_cpu_graph(device, named, expected):
    with torch._inductor.config.patch({"cpp.vec_isa_ok": None}):  # as without $TORCHINDUCTOR_VEC_ISA_OK
        settings = precompiled.package_settings(torch, {"max_autotune": False, **named}, torch.device(device))
    assert settings.get("cpp.vec_isa_ok") is expected and settings["max_autotune"] is False
    assert settings["aot_inductor.package_constants_in_so"] is False
    for name in settings:  # each a setting this torch's inductor knows (a misspelt one would be refused there)
        section, _, leaf = name.rpartition(".")
        assert hasattr(getattr(torch._inductor.config, section) if section else torch._inductor.config, leaf), name


def test_package_settings_leave_the_instruction_sets_to_a_user_who_names_them():
    with torch._inductor.config.patch({"cpp.vec_isa_ok": True}):  # $TORCHINDUCTOR_VEC_ISA_OK=1
        assert "cpp.vec_isa_ok" not in precompiled.package_settings(torch, {}, torch.device("cuda"))


def test_a_package_refused_at_a_new_batch_size_keeps_the_cache_and_says_what_ran_before(tmp_path, monkeypatch):
    _, result, _, model = build(tmp_path, batches=(2, 4), dynamic=True)
    run(result.artifact, images(2), compile_in_child=False)
    key = cache_dir(tmp_path)
    monkeypatch.setattr(precompiled, "MIN_AGREEMENT", 1.5)
    session = TorchRunner(result.artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8),
                          saved_graph="aoti", compile_in_child=False)
    try:
        (two,) = session.forward(torch.from_numpy(images(2, seed=3)))
        (four,) = session.forward(torch.from_numpy(images(4)))
    finally:
        session.close()
    info = session.info()
    assert relative_error(two.numpy(), reference(model, images(2, seed=3))) < 1e-5
    assert relative_error(four.numpy(), reference(model, images(4))) < 1e-5
    # refused without a rebuild: the package made for bs2 stays, and bs2 is said to have run it
    assert info["compile_cache"]["state"] == "warm" and graph_file(key, 2, "aoti").is_file()
    assert (key / AOTI_REFUSED).is_file() and not list(key.glob(".bs*.tmp*"))
    assert info["compile_path"]["batches"] == {"2": "loaded (AOTInductor package)", "4": "compiled"}


def test_a_package_cut_short_is_rebuilt_with_one_line(tmp_path, capsys):
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2), compile_in_child=False)
    graph_file(cache_dir(tmp_path), 2, "aoti").write_bytes(b"cut short")
    capsys.readouterr()
    batch = images(2, seed=8)
    out, info = run(result.artifact, batch, compile_in_child=False)
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert info["compile_cache"]["state"] == "rebuilt" and info["compile_path"]["path"] == "aoti"
    warnings = [line for line in capsys.readouterr().err.splitlines() if "compile cache" in line]
    assert len(warnings) == 1 and "bs2.aoti.pt2" in warnings[0]


def test_a_refusal_made_while_this_process_waited_for_the_compile_is_taken_without_compiling_again(tmp_path):
    """The process this one waited for refused the package: this one takes inductor's form at once, as a process
    opened after the refusal would, instead of compiling the refused package again."""
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    run(result.artifact, images(2), saved_graph="inductor", compile_in_child=False)  # inductor's form, saved
    key = cache_dir(tmp_path)
    batch = images(2, seed=6)
    np.save(tmp_path / "batch.npy", batch)
    script = runner_script(result.artifact, tmp_path / "batch.npy", tmp_path / "out.npy", saved_graph="aoti")
    path, said = run_while_holding_the_turn(turn_file(key, graph_file(key, 2, "aoti")), script,
                                            lambda: precompiled.refuse_aoti(key, "a package that disagreed"))
    assert path["path"] == "standalone" and path["batches"] == {"2": "loaded"}  # nothing compiled
    assert path["aoti_refused"] == "refused by an earlier process: a package that disagreed"
    assert relative_error(np.load(tmp_path / "out.npy"), reference(model, batch)) < 1e-5
    assert not graph_file(key, 2, "aoti").exists() and [line for line in said if "[WARN]" in line] == []


def test_no_convolutions_are_warmed_aside_for_a_package(packaged):
    artifact, _, _ = packaged
    _, info = run(artifact, images(2), warm_aside=True, batch_hint=2)
    assert info["compile_path"]["convolutions_warmed_aside"]["2"]["skipped"].startswith("saved_graph=aoti")


def test_the_option_takes_the_two_forms_only():
    from harness.errors import InputError
    from targets.nvidia.options import NvidiaOptions

    assert NvidiaOptions.parse({"saved_graph": "aoti"}).saved_graph == "aoti"
    assert NvidiaOptions.parse({}).saved_graph == precompiled.DEFAULT_SAVED_GRAPH == "aoti"
    with pytest.raises(InputError, match="saved_graph"):
        NvidiaOptions.parse({"saved_graph": "tensorrt"})


@pytest.mark.nvidia
def test_on_the_gpu_the_package_runs_in_a_cuda_graph_or_is_refused_once_and_labelled(tmp_path, cuda, capsys):
    """Packages run on the lent H200 since they link torch's shared libstdc++ (docs/nvidia.md, twelfth run); where
    one still cannot load, the first process must still run the graph, correctly, and say why it is not the
    package, and a later one must not try again."""
    target, result, manifest, model = build(tmp_path, precision="fp16", saved_graph="aoti")
    paths = []
    for start in ("cold", "warm"):
        with target.open(result.artifact, manifest, "0") as session:
            for count in (8, 3, 8):
                batch = images(count, seed=count)
                (out,) = session.run(batch)
                assert relative_error(out, reference(model, batch)) < 2e-2
            info = session.info()
        assert info["cuda_graphs"]["8"] == "cuda_graph" and info["compile_cache"]["state"] == start
        paths.append((info["compile_path"], [line for line in capsys.readouterr().err.splitlines()
                                              if "AOTInductor" in line]))
    (cold, cold_warnings), (warm, warm_warnings) = paths
    say_if_refused(cold)
    assert warm_warnings == []
    if cold["path"] == "aoti":
        assert cold_warnings == [] and "aoti_refused" not in cold and warm["path"] == "aoti"
        assert warm["batches"]["8"] == "loaded"
    else:  # refused for what the package itself did: it crashed its process or disagreed, nothing else
        assert cold["path"] == warm["path"] == "standalone" and len(cold_warnings) == 1
        reason = cold["aoti_refused"]
        assert "the compile process was killed by SIG" in reason or "differs from the module's" in reason, reason
        assert reason in cold_warnings[0] and warm["aoti_refused"] == f"refused by an earlier process: {reason}"

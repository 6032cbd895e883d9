"""A package's library and torch share one C++ runtime: linked so when the compiler would copy it in, refused when
it still carries a copy. CPU packages, made with C++ compilers that link libstdc++ statically into shared
libraries: one whose library directory holds only the archive, first on the search path (as the lent H200's image
has it), and one given -static-libstdc++."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from targets.nvidia import cxx_runtime, precompiled
from targets.nvidia.precompiled import graph_file
from tests.targets.nvidia.conftest import ROOT, relative_error
from tests.targets.nvidia.test_aoti_package import cache_dir, run
from tests.targets.nvidia.test_torch_engine import build, images, reference

pytestmark = pytest.mark.skipif(not hasattr(torch._inductor, "aoti_compile_and_package")
                                or shutil.which("g++") is None,
                                reason=f"torch {torch.__version__} without AOTInductor packages, or no g++")

TORCH_LIBRARY = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"


def wrapped_gxx(directory: Path, how: str) -> str:
    """g++ that links libstdc++ statically into a shared library, `how`: "archive first" or "-static-libstdc++"."""
    gxx = shutil.which("g++")
    script = directory / "g++"
    if how == "archive first":
        archive = subprocess.run([gxx, "-print-file-name=libstdc++.a"], capture_output=True, text=True).stdout.strip()
        (directory / "lib").mkdir()
        (directory / "lib" / "libstdc++.a").symlink_to(archive)
        script.write_text(f'#!/bin/sh\nexec {gxx} -L{directory / "lib"} "$@"\n')
    else:
        script.write_text(f'#!/bin/sh\ncase " $* " in\n  *" -shared "*) exec {gxx} "$@" -static-libstdc++ ;;\n'
                          f'  *) exec {gxx} "$@" ;;\nesac\n')
    script.chmod(0o755)
    return str(script)


@pytest.fixture(scope="module")
def static_compiler(tmp_path_factory) -> str:
    return wrapped_gxx(tmp_path_factory.mktemp("cxx"), "archive first")


def readelf_needed(path: Path) -> list[str]:
    listing = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", listing)


def package_library(package: Path) -> list[str] | None:
    with zipfile.ZipFile(package) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".so")]
        return cxx_runtime.needed_libraries(io.BytesIO(archive.read(name)))


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf to compare with")
def test_the_needed_libraries_are_those_readelf_lists(tmp_path):
    with open(TORCH_LIBRARY, "rb") as stream:
        assert cxx_runtime.needed_libraries(stream) == readelf_needed(TORCH_LIBRARY)
    assert cxx_runtime.torch_runtime(torch) == "libstdc++.so.6"  # every torch build the harness supports
    (tmp_path / "script.sh").write_text("#!/bin/sh\n")
    with open(tmp_path / "script.sh", "rb") as stream:
        assert cxx_runtime.needed_libraries(stream) is None


def compile_package(path: Path, settings: dict) -> tuple[Path, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()).eval()
    x = torch.randn(2, 8)
    with torch.no_grad():
        program = torch.export.export(module, (x,))
        torch._inductor.aoti_compile_and_package(program, package_path=str(path), inductor_configs=settings)
        return path, x, module(x)


@pytest.mark.parametrize("how", ["archive first", "-static-libstdc++"])
def test_a_statically_linked_runtime_is_refused_and_linking_the_shared_one_loads(tmp_path, how):
    static_compiler = wrapped_gxx(tmp_path, how)
    copied, x, expected = compile_package(tmp_path / "copied.pt2", {"cpp.cxx": (static_compiler,)})
    needed = package_library(copied)
    assert needed is not None and not cxx_runtime.shares_runtime(needed)
    reason = cxx_runtime.own_runtime_copy(torch, copied)
    assert reason == cxx_runtime.REFUSAL
    # what the refusal spares: torch's loader fails on it (SIGSEGV with the H200's g++ 13, std::bad_cast here)
    loading = subprocess.run([sys.executable, "-c", "import sys, torch\n"
                              "torch._C._aoti.AOTIModelPackageLoader(sys.argv[1], 'model', True, 1, -1)",
                              str(copied)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert loading.returncode != 0

    settings = {"cpp.cxx": (static_compiler,), **cxx_runtime.link_settings(torch, {})}
    assert settings["aot_inductor.custom_op_libs"] == [":libstdc++.so.6"]
    shared, x, expected = compile_package(tmp_path / "shared.pt2", settings)
    assert cxx_runtime.shares_runtime(package_library(shared)) and cxx_runtime.own_runtime_copy(torch, shared) == ""
    loader = torch._C._aoti.AOTIModelPackageLoader(str(shared), "model", True, 1, -1)
    (got,) = loader.run([x])
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_link_settings_keep_the_libraries_already_named():
    assert cxx_runtime.link_settings(torch, {"aot_inductor.custom_op_libs": ["mine"]}) == {
        "aot_inductor.custom_op_libs": ["mine", ":libstdc++.so.6"]}
    assert cxx_runtime.link_settings(torch, {"aot_inductor.custom_op_libs": [":libstdc++.so.6"]}) == {
        "aot_inductor.custom_op_libs": [":libstdc++.so.6"]}


def test_the_compile_child_links_the_shared_runtime_under_such_a_compiler(tmp_path, monkeypatch, static_compiler):
    monkeypatch.setenv("CXX", static_compiler)  # inductor's compiler in the child
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch)
    assert info["compile_path"]["path"] == "aoti" and "aoti_refused" not in info["compile_path"]
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert cxx_runtime.shares_runtime(package_library(graph_file(cache_dir(tmp_path), 2, "aoti")))


def test_a_package_that_still_carries_the_runtime_is_refused_without_loading_it(tmp_path, monkeypatch,
                                                                                 static_compiler):
    monkeypatch.setattr(cxx_runtime, "link_settings", lambda torch, settings: {})  # a torch that cannot name it
    loaded = []
    monkeypatch.setattr("targets.nvidia.precompiled.PrecompiledGraphs._load_package",
                        lambda self, path: loaded.append(path))
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2, seed=3)
    with torch._inductor.config.patch({"cpp.cxx": (static_compiler,)}):
        out, info = run(result.artifact, batch, compile_in_child=False)
    assert loaded == []
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "compiled"}
    assert info["compile_path"]["aoti_refused"] == f"PackageRefused: {cxx_runtime.REFUSAL}"
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert not graph_file(cache_dir(tmp_path), 2, "aoti").exists()


def test_the_compile_childs_refusal_reaches_the_session_whole(tmp_path, monkeypatch, static_compiler):
    """As on the lent H200 before the link named the shared library: the child refuses instead of crashing."""
    from targets.nvidia import precompile_child

    monkeypatch.setattr(precompile_child, "CHILD_MODULE", "tests.targets.nvidia.unlinked_runtime_child")
    monkeypatch.setenv("CXX", static_compiler)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2, seed=5)
    out, info = run(result.artifact, batch)
    assert info["compile_path"]["path"] == "standalone"
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    assert info["compile_path"]["aoti_refused"] == f"PackageRefused: {cxx_runtime.REFUSAL}"
    assert precompiled.refused_aoti(cache_dir(tmp_path)) == f"PackageRefused: {cxx_runtime.REFUSAL}"
    assert relative_error(out, reference(model, batch)) < 1e-5

"""A package's library and torch share one C++ runtime: linked so when the compiler would copy it in, refused when
it still carries a copy. CPU packages, made with C++ compilers that link libstdc++ statically into shared
libraries: one whose library directory holds only the archive, first on the search path (as the H200 image of
docs/nvidia.md has it), and one given -static-libstdc++."""
from __future__ import annotations

import re
import shutil
import struct
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
    """g++ that links libstdc++ statically into a shared library, `how`: "archive first" or "-static-libstdc++";
    each call appends its arguments to `directory`/calls."""
    gxx = shutil.which("g++")
    script, calls = directory / "g++", directory / "calls"
    if how == "archive first":
        archive = subprocess.run([gxx, "-print-file-name=libstdc++.a"], capture_output=True, text=True).stdout.strip()
        (directory / "lib").mkdir()
        (directory / "lib" / "libstdc++.a").symlink_to(archive)
        script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {gxx} -L{directory / "lib"} "$@"\n')
    else:
        script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncase " $* " in\n'
                          f'  *" -shared "*) exec {gxx} "$@" -static-libstdc++ ;;\n  *) exec {gxx} "$@" ;;\nesac\n')
    script.chmod(0o755)
    return str(script)


@pytest.fixture(scope="module")
def static_compiler(tmp_path_factory) -> str:
    return wrapped_gxx(tmp_path_factory.mktemp("cxx"), "archive first")


def readelf_needed(path: Path) -> list[str]:
    listing = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", listing)


def defines_locale(path: Path) -> bool:
    listing = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True, text=True).stdout
    return cxx_runtime.RUNTIME_SYMBOL in listing


def package_library(package: Path, into: Path) -> Path:
    with zipfile.ZipFile(package) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".so")]
        return Path(archive.extract(name, into))


def facts_of(path: Path, **kwargs) -> cxx_runtime.DynamicFacts | None:
    with open(path, "rb") as stream:
        return cxx_runtime.dynamic_facts(stream, **kwargs)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf to compare with")
def test_the_needed_libraries_are_those_readelf_lists(tmp_path):
    facts = facts_of(TORCH_LIBRARY, symbols=False)
    assert facts is not None and facts.needed == readelf_needed(TORCH_LIBRARY)
    assert cxx_runtime.torch_runtime(torch) == "libstdc++.so.6"  # every torch build the harness supports
    (tmp_path / "script.sh").write_text("#!/bin/sh\n")
    assert facts_of(tmp_path / "script.sh") is None


def test_a_library_cut_short_or_malformed_gives_no_facts(tmp_path):
    source = tmp_path / "f.cpp"
    source.write_text('#include <string>\nextern "C" int f(const char* s) { return std::string(s).size(); }\n')
    library = tmp_path / "f.so"
    subprocess.run([shutil.which("g++"), "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    data = library.read_bytes()
    facts = facts_of(library)
    assert facts is not None and "libstdc++.so.6" in facts.needed and not facts.defines_runtime

    def variant(name: str, content: bytes) -> Path:
        (tmp_path / name).write_bytes(content)
        return tmp_path / name

    section_offset, = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    dynamic = next(section_offset + i * entry_size for i in range(count)
                   if struct.unpack_from("<I", data, section_offset + i * entry_size + 4)[0] == 6)
    unlinked = bytearray(data)
    struct.pack_into("<I", unlinked, dynamic + 40, 0)  # sh_link to the null section, not a string table
    no_sections = bytearray(data)
    struct.pack_into("<H", no_sections, 0x3C, 0)
    for name, content in [("cut.so", data[:len(data) // 2]), ("unlinked.so", bytes(unlinked)),
                          ("no_sections.so", bytes(no_sections)), ("elf32.so", data[:4] + b"\x01" + data[5:]),
                          ("header_only.so", data[:40])]:
        assert facts_of(variant(name, content)) is None, name


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
    library = package_library(copied, tmp_path / "copied")
    facts = facts_of(library)
    assert facts is not None and cxx_runtime.runtime_name(facts.needed) is None
    assert facts.defines_runtime == defines_locale(library) and cxx_runtime.holds_own_runtime(facts)
    assert cxx_runtime.own_runtime_copy(torch, copied) == cxx_runtime.REFUSAL
    # what the refusal spares: torch's loader fails on it (SIGSEGV with g++ 13 on the H200, std::bad_cast here)
    loading = subprocess.run([sys.executable, "-c", "import sys, torch\n"
                              "torch._C._aoti.AOTIModelPackageLoader(sys.argv[1], 'model', True, 1, -1)",
                              str(copied)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert loading.returncode < 0 or "bad_cast" in loading.stderr, loading.stderr[-500:]

    settings = {"cpp.cxx": (static_compiler,), **cxx_runtime.link_settings(torch, {})}
    assert settings["aot_inductor.custom_op_libs"] == [":libstdc++.so.6"]
    shared, x, expected = compile_package(tmp_path / "shared.pt2", settings)
    facts = facts_of(package_library(shared, tmp_path / "shared"))
    assert facts is not None and cxx_runtime.runtime_name(facts.needed) == "libstdc++.so.6"
    assert not facts.defines_runtime and cxx_runtime.own_runtime_copy(torch, shared) == ""
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
    (Path(static_compiler).parent / "calls").unlink(missing_ok=True)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2)
    out, info = run(result.artifact, batch)
    assert info["compile_path"]["path"] == "aoti" and "aoti_refused" not in info["compile_path"]
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    assert relative_error(out, reference(model, batch)) < 1e-5
    facts = facts_of(package_library(graph_file(cache_dir(tmp_path), 2, "aoti"), tmp_path / "package"))
    assert facts is not None and cxx_runtime.runtime_name(facts.needed) == "libstdc++.so.6"
    assert "-shared" in (Path(static_compiler).parent / "calls").read_text().split()  # the child linked with it


def test_a_package_that_still_carries_the_runtime_is_refused_without_loading_it(tmp_path, monkeypatch,
                                                                                 static_compiler):
    # a torch that cannot name the library to link, and the static compiler for the package alone
    monkeypatch.setattr(cxx_runtime, "link_settings", lambda torch, settings: {"cpp.cxx": (static_compiler,)})
    loaded = []
    monkeypatch.setattr("targets.nvidia.precompiled.PrecompiledGraphs._load_package",
                        lambda self, path: loaded.append(path))
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2, seed=3)
    out, info = run(result.artifact, batch, compile_in_child=False)
    assert loaded == []
    assert info["compile_path"]["path"] == "standalone" and info["compile_path"]["batches"] == {"2": "compiled"}
    assert info["compile_path"]["aoti_refused"] == f"PackageRefused: {cxx_runtime.REFUSAL}"
    assert relative_error(out, reference(model, batch)) < 1e-5
    assert not graph_file(cache_dir(tmp_path), 2, "aoti").exists()


def test_the_compile_childs_refusal_reaches_the_session_whole(tmp_path, monkeypatch, static_compiler):
    """A torch that cannot name the library to link: the child refuses the package instead of crashing on it."""
    from targets.nvidia import precompile_child

    monkeypatch.setattr(precompile_child, "CHILD_MODULE", "tests.targets.nvidia.unlinked_runtime_child")
    monkeypatch.setenv("CXX", static_compiler)
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2, seed=5)
    out, info = run(result.artifact, batch)
    assert info["compile_path"]["path"] == "standalone"
    assert info["compile_path"]["batches"] == {"2": "compiled by a child process"}
    assert info["compile_path"]["aoti_refused"] == f"PackageRefused: {cxx_runtime.REFUSAL}"
    assert precompiled.earlier_refusal(cache_dir(tmp_path)) == (f"PackageRefused: {cxx_runtime.REFUSAL}", True)
    assert relative_error(out, reference(model, batch)) < 1e-5


def test_a_package_the_linker_cannot_make_is_refused_with_the_linkers_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(cxx_runtime, "link_settings",
                        lambda torch, settings: {"aot_inductor.custom_op_libs": [":libstdc++.so.99"]})
    _, result, _, model = build(tmp_path, batches=(2,), dynamic=False)
    batch = images(2, seed=7)
    out, info = run(result.artifact, batch, compile_in_child=False)
    assert info["compile_path"]["path"] == "standalone"
    assert "cannot find -l:libstdc++.so.99" in info["compile_path"]["aoti_refused"]
    assert relative_error(out, reference(model, batch)) < 1e-5

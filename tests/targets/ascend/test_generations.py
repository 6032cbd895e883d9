"""Runtimes between the two shared trees: ait benchmark's aclruntime (2023-10 to 2024, ASCEND_SIM_API=2024) has
2025's free_resource, run_pipeline and (start, end) timestamps, but none of 2025's model path checks."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from harness.errors import InputError
from targets import get_target
from tests.targets.ascend.conftest import GENERATION_TREES, purge_sim_modules
from tests.targets.ascend.models import IMAGE, build_request, manifest_for, tiny_classifier


@pytest.fixture
def ait_runtime(ascend_sim, monkeypatch, tmp_path):
    """An OM built by the harness, then the ait-era aclruntime alone (no ais_bench front end importable)."""
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "out")
    result = get_target("ascend").build(request)
    monkeypatch.setenv("ASCEND_SIM_API", "2024")
    for tree in GENERATION_TREES:
        if tree in sys.path:
            monkeypatch.setattr(sys, "path", [p for p in sys.path if p != tree])
    purge_sim_modules()
    monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
    return result.artifact, manifest_for(request, result)


def _group_writable(path):
    path.chmod(0o664)
    return path


def _symlinked(path):
    link = path.with_name("link.om")
    link.symlink_to(path)
    return link


def _with_a_space(path):
    odd = path.parent / "with space"
    odd.mkdir()
    return path.rename(odd / path.name)


@pytest.mark.parametrize("change", [_group_writable, _symlinked, _with_a_space])
def test_paths_a_runtime_without_path_checks_loads(ait_runtime, change):
    """free_resource arrived (2023-09) long before the path checks (2025): its presence must not refuse these."""
    om, manifest = ait_runtime
    path = change(om)
    with get_target("ascend").open(path, manifest) as session:
        assert session.run(np.zeros((4, 3, IMAGE, IMAGE), np.float32))[0].shape == (4, 10)
        assert session.info()["exec_time_list"] == "start_end_pairs"


def test_the_runtime_that_checks_paths_is_still_explained(ascend_sim, tmp_path, monkeypatch):
    """The 2025 C++ session refuses a group-writable OM itself; the line says which rule and the fix."""
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "out")
    result = get_target("ascend").build(request)
    monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
    result.artifact.chmod(0o664)
    with pytest.raises(InputError, match="chmod go-w") as info:
        get_target("ascend").open(result.artifact, manifest_for(request, result))
    assert str(result.artifact) in str(info.value) and "\n" not in str(info.value)


def _cut_in_a_path_directory(om):
    """A cut copy (aclmdlLoadFromFile fails on it, as on an OM built for another SoC) in a directory whose name
    holds "path", group-writable as umask 002 leaves it: the runtime's load error quotes the path."""
    directory = om.parent / "model_path"
    directory.mkdir()
    cut = directory / om.name
    cut.write_bytes(om.read_bytes()[: om.stat().st_size // 2])
    cut.chmod(0o664)
    return cut


@pytest.mark.parametrize("generation", ["2023", "2024"])
def test_a_load_failure_quoting_the_path_is_not_blamed_on_path_rules(ascend_sim, tmp_path, monkeypatch,
                                                                     generation):
    """Runtimes without path checks load group-writable OMs: their failure is the load, not a chmod."""
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "out")
    result = get_target("ascend").build(request)
    cut = _cut_in_a_path_directory(result.artifact)
    monkeypatch.setenv("ASCEND_SIM_API", generation)
    if generation == "2023":
        ascend_sim.api("2023")  # ais_bench 2023's InferSession over its aclruntime
    else:
        purge_sim_modules()
        monkeypatch.setitem(sys.modules, "ais_bench.infer.interface", None)
    with pytest.raises(Exception) as info:
        get_target("ascend").open(cut, manifest_for(request, result))
    assert "load model from file failed" in str(info.value) and "chmod" not in str(info.value)
    assert not isinstance(info.value, InputError)
    assert "cannot load it" in str(info.value) and "refused the model path" not in str(info.value)


def test_the_cpp_session_rules_are_its_own(tmp_path):
    """CheckFileBeforeRead (File.cpp) checks no owner: an OM of another user is explained by no rule, while a
    group-writable one is."""
    from targets.ascend.acl_backend import session_path_problem

    om = tmp_path / "model_path" / "m.om"
    om.parent.mkdir()
    om.write_bytes(b"om")
    om.chmod(0o640)
    os.chown(om, 12345, 12345)
    assert session_path_problem(str(om)) is None
    om.chmod(0o660)
    assert "chmod go-w" in session_path_problem(str(om))

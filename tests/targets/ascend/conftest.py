"""Fixtures that put the simulated Ascend toolchain (targets/ascend/sim) and the real ais_bench front end
(../shared/upstream, one tree per API generation) on PATH and PYTHONPATH."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.targets.ascend.upstream import SIM, ais_bench_tree, missing_reason

SIM_MODULES = ("aclruntime", "ais_bench", "ascend_sim")
HERE = Path(__file__).resolve().parent


def purge_sim_modules() -> None:
    """Forget imported simulated modules so the next import reads ASCEND_SIM_API again."""
    for name in list(sys.modules):
        if name.split(".")[0] in SIM_MODULES:
            del sys.modules[name]


@dataclass
class SimEnv:
    toolkit: Path
    monkeypatch: pytest.MonkeyPatch

    def set(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def api(self, generation: str) -> None:
        """The simulated aclruntime of that generation under that generation's real ais_bench."""
        reason = missing_reason(generation)
        if reason:
            pytest.skip(reason)
        self.monkeypatch.setenv("ASCEND_SIM_API", generation)
        tree = str(ais_bench_tree(generation))
        for other in GENERATION_TREES:
            if other in sys.path:
                sys.path.remove(other)
        self.monkeypatch.syspath_prepend(tree)
        self.monkeypatch.setenv("PYTHONPATH", _prepend("PYTHONPATH", SIM, Path(tree)))
        purge_sim_modules()


GENERATION_TREES = [str(ais_bench_tree(g)) for g in ("2023", "2025")]


def _prepend(variable: str, *paths: Path) -> str:
    rest = [p for p in os.environ.get(variable, "").split(os.pathsep) if p and p not in GENERATION_TREES]
    return os.pathsep.join([*(str(p) for p in paths), *rest])


@pytest.fixture
def ascend_sim(monkeypatch, tmp_path):
    """The sim's atc/npu-smi first on PATH (then this venv's python3, which the scripts run under),
    its aclruntime/ais_bench importable here and in child processes, and a sourced-looking CANN."""
    from targets.ascend import cann

    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PATH", _prepend("PATH", SIM / "bin", venv_bin))
    monkeypatch.setenv("PYTHONPATH", _prepend("PYTHONPATH", SIM))
    monkeypatch.syspath_prepend(str(SIM))
    toolkit = tmp_path / "ascend-toolkit" / "latest"
    toolkit.mkdir(parents=True)
    (toolkit / "version.cfg").write_text("# version: 1.0\ntoolkit_running_version=[7.0.0.5.242:7.0.0]\n")
    for name in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"):
        monkeypatch.setenv(name, str(toolkit))
    for name in [n for n in os.environ if n.startswith("ASCEND_SIM_")]:
        monkeypatch.delenv(name)
    env = SimEnv(toolkit=toolkit, monkeypatch=monkeypatch)
    env.api("2025")
    cann.atc_help.cache_clear()
    yield env
    purge_sim_modules()
    cann.atc_help.cache_clear()


@pytest.fixture(params=["2023", "2025"])
def sim_api(request, ascend_sim):
    """Runs a test once per aclruntime / ais_bench API generation."""
    ascend_sim.api(request.param)
    return request.param


def pytest_collection_modifyitems(items):
    """Tests that run the simulated toolchain carry the `ascend` marker (pytest -m ascend / not ascend)."""
    for item in items:
        if "ascend_sim" in getattr(item, "fixturenames", ()) and str(item.fspath).startswith(str(HERE)):
            item.add_marker(pytest.mark.ascend)

"""Every module of the nvidia target imports without touching tensorrt or initialising CUDA."""
from __future__ import annotations

import pkgutil

import targets.nvidia
from tests.conftest import run_cli

CHECK = """
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
torch = sys.modules.get("torch")
print("tensorrt" in sys.modules, bool(torch is not None and torch.cuda.is_initialized()))
"""


def test_modules_import_lazily():
    names = [m.name for m in pkgutil.iter_modules(targets.nvidia.__path__, "targets.nvidia.")]
    assert {"targets.nvidia.trt_build", "targets.nvidia.trt_runtime", "targets.nvidia.torch_runtime"} <= set(names)
    proc = run_cli("-c", CHECK, *names)  # a fresh interpreter: other tests may have started CUDA already
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]

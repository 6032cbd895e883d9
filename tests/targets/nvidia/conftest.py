"""Fixtures for the nvidia target: a tiny conv net with non-trivial BatchNorm statistics, GPU skips."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[3]

torch = pytest.importorskip("torch")


class TinyNet(torch.nn.Module):
    """conv-BN-ReLU, grouped conv-BN-ReLU, SE-style gate, residual add, pooled linear head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.grouped = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(8),
                                     nn.ReLU(inplace=True))
        self.gate = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        stem = self.stem(x)
        y = self.grouped(stem)
        y = y * torch.sigmoid(self.gate(y.mean((2, 3), keepdim=True)))
        return self.head(torch.relu(y + stem).mean((2, 3)))


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    model = TinyNet()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def fresh_python(script: str, *args: str, timeout: int = 300) -> dict:
    """Run `script` in a fresh interpreter with the repository importable; the JSON record it printed last."""
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def runner_script(artifact: Path, batch_file: Path, out_file: Path, **options) -> str:
    """A fresh interpreter's session on the CPU (the tests' TorchRunner arguments): it runs the saved batch, saves
    the output and prints its compile path."""
    return ("import json, numpy as np, torch\n"
            "from targets.nvidia.torch_runtime import TorchRunner\n"
            "from targets.nvidia.variants import resolve_variant\n"
            f"session = TorchRunner({str(artifact)!r}, torch.device('cpu'), 'fp32', resolve_variant('inductor'), "
            f"(3, 8, 8), **{options!r})\n"
            f"(out,) = session.forward(torch.from_numpy(np.load({str(batch_file)!r})))\n"
            "session.close()\n"
            f"np.save({str(out_file)!r}, out.numpy())\n"
            "print(json.dumps(session.info()['compile_path']))\n")


def run_while_holding_the_turn(lock: Path, script: str, meanwhile: Callable[[], None],
                               timeout: float = 300) -> tuple[dict, list[str]]:
    """Hold the compile turn `lock`, as a process whose child compiles that batch size does; run `script` in a fresh
    interpreter and, once it says it waits for the turn, call `meanwhile` and give the turn up. The script's last
    JSON record and its stderr lines."""
    from harness.locks import turn

    lines: queue.Queue = queue.Queue()
    said: list[str] = []
    with tempfile.TemporaryFile("w+") as stdout:
        with turn(lock, lambda holder: pytest.fail(f"the turn was held already, by {holder}")):
            proc = subprocess.Popen([sys.executable, "-c", script], stdout=stdout, stderr=subprocess.PIPE, text=True,
                                    cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
            try:
                threading.Thread(target=lambda: [*map(lines.put, proc.stderr), lines.put(None)], daemon=True).start()
                while not said or "waiting for it" not in said[-1]:
                    try:
                        line = lines.get(timeout=timeout)
                    except queue.Empty:
                        line = None
                    if line is None:
                        pytest.fail(f"the session never waited for the turn: {''.join(said)[-2000:]}")
                    said.append(line)
                meanwhile()
            except BaseException:
                proc.kill()
                raise
        try:
            assert proc.wait(timeout) == 0, "".join(said)[-2000:]
        finally:
            proc.kill()
        while (line := lines.get(timeout=timeout)) is not None:
            said.append(line)
        stdout.seek(0)
        return json.loads(stdout.read().strip().splitlines()[-1]), said


def say_if_refused(compile_path: dict) -> None:
    """A GPU test that accepts either form says, as a warning in pytest's summary, when the package was refused:
    a passing run without one ran the package."""
    if "aoti_refused" in compile_path:
        warnings.warn(f"AOTInductor package not run here: {compile_path['aoti_refused']}", stacklevel=2)


def relative_error(got, want) -> float:
    import numpy as np

    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


@pytest.fixture
def cuda():
    if not torch.cuda.is_available():
        pytest.skip(f"no CUDA device (torch {torch.__version__}): GPU tests run on a machine with an NVIDIA GPU")
    return torch.device("cuda", 0)


@pytest.fixture
def cudnn_fusions_on_the_cpu():
    """cuDNN's fused convolutions, which torch has for CUDA only, computed by their definition on the CPU, so that a
    graph holding them runs here; with torch's CUDA kernels the same tests run on the GPU."""
    from targets.nvidia.fx_passes import fused_convs_by_definition_on_the_cpu

    library = fused_convs_by_definition_on_the_cpu()
    yield
    library._destroy()

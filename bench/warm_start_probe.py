"""Shared by the ahead-of-time probes (bench/nvidia_aoti_probe.py, bench/nvidia_precompile_probe.py): the
module as the `inductor` variant prepares it, and the timed starts of fresh processes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def prepared_module(model_name: str, batch: int, workdir: Path):
    """(artifact, module, x, reference): the harness artifact (fp16), its module in fp16 channels_last on
    the GPU, a random batch and the module's eager output for it (float32, on the CPU)."""
    import torch

    import nvidia_engine
    from targets.nvidia.torch_runtime import load_program_module

    model = nvidia_engine.load_model(model_name)
    artifact, _ = nvidia_engine.build(model, model_name, "fp16", [batch], workdir)
    module = load_program_module(artifact).to(device="cuda", dtype=torch.float16).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.float16).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        reference = module(x).float().cpu()
    return artifact, module, x, reference


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"


def fresh_starts(snippet: str, argv: list[str], count: int, x, reference, workdir: Path) -> list[dict]:
    """Run `snippet` in `count` new Python processes with argv + [x.pt, reference.pt]; each prints one JSON line.
    Python's fault handler is on, so that a process that crashes leaves where it was in its row's "error"."""
    import torch

    torch.save(x.cpu(), workdir / "x.pt")
    torch.save(reference, workdir / "reference.pt")
    starts = []
    for _ in range(count):
        proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", snippet, *argv, str(workdir / "x.pt"),
                               str(workdir / "reference.pt")],
                              capture_output=True, text=True, timeout=300)
        last = proc.stdout.strip().splitlines()[-1:] or [""]
        try:
            starts.append(json.loads(last[0]))
        except json.JSONDecodeError:
            starts.append({"rc": proc.returncode, "error": (proc.stdout + proc.stderr)[-3000:]})
        print(json.dumps(starts[-1]), flush=True)
    return starts

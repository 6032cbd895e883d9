"""Compile one batch size of a torch-engine artifact in a process of its own, into its compile cache.

    python -m targets.nvidia.precompile_child '<spec as JSON>'

The session then loads what this process saved, so a first run and every later run execute the same
loaded graph; the compiler's memory, threads and any crash stay out of the process that measures.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from harness.errors import DeviceOutOfMemory, DiskFullError
from harness.procs import die_with_parent, signal_name

ROOT = Path(__file__).resolve().parents[2]
CHILD_MODULE = "targets.nvidia.precompile_child"
REFUSED_EXIT = 20  # a package made but refused (precompiled.PackageRefused), its reason the last record; apart
# from harness.errors' exit codes


CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE)


class ChildCompileFailed(RuntimeError):
    """The child process did not leave a compiled graph; its last line says why. `crashed`: it died of a fault
    of its own (what loading a bad package does), not of a signal sent to it (the host's OOM killer, say)."""

    def __init__(self, message: str, crashed: bool = False) -> None:
        super().__init__(message)
        self.crashed = crashed


def compile_in_child(spec: dict, timeout_s: float = 3600.0) -> None:
    """Run the child for `spec` (TorchRunner's arguments and the batch size); raise when it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    try:
        proc = subprocess.run([sys.executable, "-m", CHILD_MODULE, json.dumps({**spec, "parent": os.getpid()})],
                              capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:  # killed by run(): nothing said of the graph or the package
        raise ChildCompileFailed(f"the compile process took more than {timeout_s:.0f} s") from None
    except OSError as exc:  # no process to start (the host's memory or process limit)
        raise ChildCompileFailed(f"the compile process did not start ({exc})") from None
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    if proc.returncode == DeviceOutOfMemory.exit_code:  # not a compile failure: no fallback, the batch is too big
        record = _last_record(proc.stdout)
        raise DeviceOutOfMemory(spec["batch"], record.get("needed_bytes"), record.get("available_bytes"),
                                "in the process compiling it")
    if proc.returncode == REFUSED_EXIT:
        from targets.nvidia.precompiled import PackageRefused
        raise PackageRefused(_last_record(proc.stdout).get("refused") or "refused by the compile process")
    if proc.returncode == DiskFullError.exit_code:
        raise DiskFullError(lines[-1].removeprefix("error: ") if lines else "the disk is full")
    if proc.returncode < 0:  # a crash (a package that segfaults on load, say) has no last line worth quoting
        raise ChildCompileFailed(f"the compile process was killed by {signal_name(-proc.returncode)}",
                                 crashed=-proc.returncode in CRASH_SIGNALS)
    if proc.returncode != 0:
        raise ChildCompileFailed(f"the compile process exited {proc.returncode}: "
                                 f"{lines[-1][:200] if lines else 'no message'}")


def _last_record(stdout: str) -> dict:
    """The JSON record the child printed last, or none (then the figures are unknown, not a crash)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return {}


def main(argv: list[str]) -> int:
    from targets.nvidia.device import import_torch
    from targets.nvidia.precompiled import PackageRefused
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import resolve_variant

    spec = json.loads(argv[0])
    die_with_parent(spec["parent"])  # a killed measuring process must not leave a compile holding the GPU
    torch = import_torch()
    device = torch.device(spec["device"])
    if device.type == "cuda":
        torch.cuda.set_device(device)  # what a package runs on when no stream is named: the current device's
    runner = TorchRunner(Path(spec["artifact"]), device, spec["precision"],
                         resolve_variant(spec["variant"]), tuple(spec["sample_shape"]), spec["input_dtype"],
                         spec["artifact_sha256"], tf32=spec["tf32"], precompile=True, compile_in_child=False,
                         fallback=False, saved_graph=spec.get("saved_graph", "inductor"),
                         hash_aside=spec.get("hash_aside", True))
    try:
        static_input = runner.make_input(spec["batch"])
        runner.forward(static_input)
        try:  # for later processes to warm cuDNN's plans early; without the list they only start slower
            runner.save_convolutions(spec["batch"], static_input)
        except Exception as exc:
            print(f"[WARN] the graph's convolutions were not recorded ({type(exc).__name__}: {exc})", file=sys.stderr)
    except DeviceOutOfMemory as exc:
        print(json.dumps(exc.record()))
        return DeviceOutOfMemory.exit_code
    except DiskFullError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return DiskFullError.exit_code
    except PackageRefused as exc:  # said whole by the parent, which keeps inductor's form
        print(json.dumps({"refused": str(exc)}))
        return REFUSED_EXIT
    finally:
        runner.close()
    path = runner.info().get("compile_path") or {}
    if path.get("path") not in ("standalone", "aoti"):
        print(f"standalone compile did not run: {path.get('note') or path}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

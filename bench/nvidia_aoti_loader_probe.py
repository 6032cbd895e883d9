"""Where and why does an AOTInductor package crash the process that loads it? A probe, one GPU.

    python3 bench/nvidia_aoti_loader_probe.py --json aoti_loader.json

On the lent H200 (torch 2.11+cu130) every package of the harness's graphs died by SIGSEGV in the constructor of
torch's C++ loader (docs/nvidia.md, Tenth run), and Python's fault handler can only say which Python line that was.
This probe narrows it down without the harness:
- packages of growing content, compiled here on the GPU: one matmul (an extern kernel, no Triton), the same with a
  fused pointwise tail (one Triton kernel), that one with its weights left out of the .so (as saved_graph=aoti
  makes them), a convolution in fp16 channels_last with a ReLU (cuDNN through the C shim, and Triton), and
  `model:NAME`, a timm model as the harness's default variant prepares it (fp16, channels_last, batch 8, weights
  left out of the .so);
- each loaded in fresh processes, several ways: the C++ loader alone as the harness calls it, the same with its
  own locking (run_single_threaded off), torch's Python `aoti_load_package` (which imports inductor first), and
  the package's .so opened with `dlopen` alone;
- each fresh process runs with a native fault handler preloaded (a small C library built here with the host's C
  compiler: on SIGSEGV, SIGBUS or SIGABRT it prints the faulting address and the native stack with each frame's
  library and offset), and under gdb when the host has it.
It also records what the compile used: the compiler and its version, the CUDA toolkit inductor found, the mount
options of the temporary directory, and the .so's dynamic section (its NEEDED libraries and RPATH).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

HANDLER_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char alt_stack[1 << 16];

static void say(const char *line, int len) {
    if (len > 0) write(2, line, len < 511 ? len : 511);  /* snprintf gives the untruncated length */
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    void *frames[64];
    char line[512];
    int n = backtrace(frames, 64);
    int len = snprintf(line, sizeof line, "NATIVE FAULT signal %d at address %p, %d frames\n", sig,
                       info ? info->si_addr : NULL, n);
    say(line, len);
    for (int i = 0; i < n; i++) {
        Dl_info where;
        if (dladdr(frames[i], &where) && where.dli_fname) {
            len = snprintf(line, sizeof line, "  #%d %s+0x%lx %s\n", i, where.dli_fname,
                           (unsigned long)((char *)frames[i] - (char *)where.dli_fbase),
                           where.dli_sname ? where.dli_sname : "?");
        } else {
            len = snprintf(line, sizeof line, "  #%d %p\n", i, frames[i]);
        }
        say(line, len);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void install(void) {
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
}
"""

# argv: method, package, input.pt, expected.pt, weights.pt or "-", device
LOAD = r"""
import json, sys, time
method, package, x_path, expected_path, weights_path, device = sys.argv[1:7]
steps = []
def step(name):
    steps.append(name)
    print("STEP " + name, file=sys.stderr, flush=True)
import torch
if device == "cuda":
    torch.cuda.init()
step("device ready")
x = torch.load(x_path).to(device)
if method == "dlopen":
    import ctypes, glob, os, tempfile, zipfile
    where = tempfile.mkdtemp()
    zipfile.ZipFile(package).extractall(where)
    for so in sorted(glob.glob(os.path.join(where, "**", "*.so"), recursive=True)):
        step("dlopen " + os.path.basename(so))
        ctypes.CDLL(so, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        step("opened")
    print(json.dumps({"steps": steps}))
    sys.exit(0)
if method == "python":
    step("aoti_load_package")
    runner = torch._inductor.aoti_load_package(package)
    loader = runner.loader
else:
    step("loader constructor")
    loader = torch._C._aoti.AOTIModelPackageLoader(package, "model", method == "cpp", 1, 0 if device == "cuda" else -1)
step("loaded")
if weights_path != "-":
    weights = torch.load(weights_path, map_location=device, weights_only=True)
    loader.load_constants({n: weights[n] for n in loader.get_constant_fqns()}, False, True, True)
    step("weights handed over")
with torch.no_grad():
    out = loader.run([x])[0]
if device == "cuda":
    torch.cuda.synchronize()
step("ran")
expected = torch.load(expected_path)
print(json.dumps({"steps": steps, "max_abs_diff": float((out.float().cpu() - expected.float()).abs().max())}))
"""


class Tail(torch.nn.Module):
    """A matmul, then (unless bare) a pointwise tail inductor fuses into one Triton kernel."""

    def __init__(self, bare: bool):
        super().__init__()
        self.linear, self.bare = torch.nn.Linear(256, 128), bare
        self.register_buffer("shift", torch.linspace(-1, 1, 128))

    def forward(self, x):
        y = self.linear(x)
        return y if self.bare else (y.relu() + self.shift) * 0.5


class ConvReLU(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(32, 64, 3, padding=1)

    def forward(self, x):
        return (self.conv(x).relu() + 1.0).mean((2, 3))


def run_text(argv: list[str], timeout: int = 60) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return (proc.stdout + proc.stderr).strip()[-4000:]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"


def environment() -> dict:
    from torch._inductor import cpp_builder
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    facts: dict = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": gpu,
                   "python": sys.version.split()[0], "tools": {t: shutil.which(t) for t in
                                                               ("gdb", "cc", "gcc", "g++", "nvcc", "ld", "objcopy",
                                                                "readelf")}}
    try:
        compiler = cpp_builder.get_cpp_compiler()
        facts["inductor_compiler"] = compiler
        facts["inductor_compiler_version"] = run_text([compiler, "--version"]).splitlines()[0]
    except Exception as exc:
        facts["inductor_compiler"] = f"{type(exc).__name__}: {exc}"
    try:
        from torch.utils import cpp_extension
        facts["cuda_home"] = cpp_extension.CUDA_HOME
    except Exception as exc:
        facts["cuda_home"] = f"{type(exc).__name__}: {exc}"
    tmp = tempfile.gettempdir()
    with open("/proc/mounts") as mounts:
        facts["tmp_mounts"] = [line.strip() for line in mounts if line.split()[1] in ("/", "/tmp", tmp)]
    facts["glibc"] = os.confstr("CS_GNU_LIBC_VERSION")
    facts["custom_op_libs_setting"] = hasattr(torch._inductor.config.aot_inductor, "custom_op_libs")
    compiler = shutil.which(str(facts.get("inductor_compiler", ""))) or ""
    if os.path.isfile(compiler):
        with open(compiler, "rb") as f:
            head = f.read(4096)
        # a script wrapping the real compiler says how it links; a binary says nothing here
        facts["inductor_compiler_head"] = head.decode(errors="replace") if not head.startswith(b"\x7fELF") else "ELF"
        facts["inductor_compiler_link_line"] = run_text([compiler, "-###", "-shared", "-x", "c++", "/dev/null",
                                                         "-o", "/tmp/probe_link.so"]).splitlines()[-3:]
    facts["env"] = {k: v for k, v in os.environ.items() if k.startswith(("TORCH", "CUDA", "LD_", "CC", "CXX"))}
    return facts


def build_handler(workdir: Path) -> Path | None:
    source, library = workdir / "fault_handler.c", workdir / "fault_handler.so"
    source.write_text(HANDLER_C)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    proc = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source), "-ldl"],
                          capture_output=True, text=True)
    if proc.returncode:
        print("fault handler not built:", proc.stderr[-500:], flush=True)
        return None
    return library


def package_facts(package: Path, workdir: Path) -> dict:
    where = workdir / (package.stem + ".x")
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        archive.extractall(where)
    facts: dict = {"files": [n for n in names if not n.endswith("/")][:40], "mib": round(package.stat().st_size / 2**20, 2)}
    for so in sorted(where.rglob("*.so")):
        facts.setdefault("so", []).append({
            "name": so.name, "bytes": so.stat().st_size,
            "dynamic": [line for line in run_text(["readelf", "-d", str(so)]).splitlines()
                        if "NEEDED" in line or "PATH" in line],
            "defines_std_locale": "_ZNSt6locale" in subprocess.run(["nm", "-D", "--defined-only", str(so)],
                                                                   capture_output=True, text=True).stdout,
            "ldd": run_text(["ldd", str(so)]).splitlines()[:30]})
    return facts


def fresh(method: str, package: Path, files: list[str], handler: Path | None, gdb: str | None) -> dict:
    argv = [sys.executable, "-c", LOAD, method, str(package), *files]
    env = dict(os.environ)
    if handler is not None:
        env["LD_PRELOAD"] = f"{handler}{':' + env['LD_PRELOAD'] if env.get('LD_PRELOAD') else ''}"
    started = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env)
        row: dict = {"method": method, "rc": proc.returncode, "s": round(time.perf_counter() - started, 1)}
        last = proc.stdout.strip().splitlines()[-1:] or [""]
        try:
            row.update(json.loads(last[0]))
        except json.JSONDecodeError:
            row["steps"] = [line[5:] for line in proc.stderr.splitlines() if line.startswith("STEP ")]
            row["stderr_tail"] = proc.stderr.splitlines()[-70:]
    except subprocess.TimeoutExpired:
        return {"method": method, "rc": "timeout"}
    if row["rc"] != 0 and gdb is not None:
        row["gdb"] = run_text([gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "run", "-ex", "bt 40",
                               "-ex", "info sharedlibrary", "--args", *argv], timeout=300).splitlines()[-120:]
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aoti_loader"))
    p.add_argument("--methods", nargs="+", default=["cpp", "cpp-locked", "python", "dlopen"])
    p.add_argument("--packages", nargs="+",
                   default=["mm", "mm-tail", "mm-tail-weights-out", "conv-fp16", "model:resnet50"])
    p.add_argument("--json", type=Path, default=Path("aoti_loader_probe.json"))
    p.add_argument("--inductor-config", nargs="*", default=[], metavar="KEY=JSON",
                   help='inductor settings for every package, e.g. aot_inductor.custom_op_libs=[":libstdc++.so.6"]')
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: to try the probe itself")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    args.workdir.mkdir(parents=True, exist_ok=True)
    extra = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.inductor_config)}
    result: dict = {"command": " ".join(sys.argv), "environment": environment(), "inductor_config": extra,
                    "packages": {}}
    print(json.dumps(result["environment"]), flush=True)
    handler = build_handler(args.workdir)
    result["native_fault_handler"] = str(handler) if handler else None
    gdb = shutil.which("gdb")
    torch.manual_seed(0)
    for name in args.packages:
        options: dict = {}
        if name.startswith("model:"):
            from nvidia_aoti_probe import prepared
            variant, _, module, x, _ = prepared(name[6:], None, 8, args.workdir)
            options = {k: v for k, v in (variant.inductor or {}).items() if k != "freezing"}
        elif name.startswith("conv"):
            dtype = torch.float16 if device.type == "cuda" else torch.float32
            module = ConvReLU().to(device, dtype).to(memory_format=torch.channels_last).eval()
            x = torch.randn(8, 32, 28, 28, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        else:
            module, x = Tail(bare=name == "mm").to(device).eval(), torch.randn(16, 256, device=device)
        row: dict = {}
        with torch.no_grad():
            expected = module(x)
            program = torch.export.export(module, (x,))
        weights_out = name.endswith("weights-out") or name.startswith("model:")
        settings = {**options, **extra}
        if weights_out:
            settings["aot_inductor.package_constants_in_so"] = False
        name = name.replace(":", "-")
        package = args.workdir / f"{name}.pt2"
        started = time.perf_counter()
        try:
            with torch.no_grad():
                torch._inductor.aoti_compile_and_package(program, package_path=str(package),
                                                         inductor_configs=settings)
        except Exception as exc:
            row["compile_error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[:1]}"
            result["packages"][name] = row
            print(name, json.dumps(row), flush=True)
            continue
        row["compile_s"] = round(time.perf_counter() - started, 1)
        row["package"] = package_facts(package, args.workdir)
        weights = "-"
        if weights_out:
            weights = str(args.workdir / f"{name}.weights.pt")
            torch.save({**program.state_dict, **program.constants}, weights)
        torch.save(x.cpu(), args.workdir / f"{name}.x.pt")
        torch.save(expected.cpu(), args.workdir / f"{name}.expected.pt")
        files = [str(args.workdir / f"{name}.x.pt"), str(args.workdir / f"{name}.expected.pt"), weights]
        row["loads"] = []
        for method in args.methods:
            row["loads"].append(fresh(method, package, [*files, args.device], handler, gdb))
            shown = {k: v for k, v in row["loads"][-1].items() if k not in ("stderr_tail", "gdb")}
            print(name, json.dumps(shown), flush=True)
            if "stderr_tail" in row["loads"][-1]:
                print("\n".join(row["loads"][-1]["stderr_tail"][-30:]), flush=True)
        result["packages"][name] = row
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

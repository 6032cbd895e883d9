"""Can an AOTInductor package give the torch engine a warm start without inductor's Python? A probe, one GPU.

    python3 bench/nvidia_aoti_probe.py --model seresnext101_32x4d --batch 64 --json aoti.json

Builds the harness artifact (bench/nvidia_engine.py build, fp16) and prepares its module as `--variant` does (the
variant's rewrites, fp16, channels_last, on the GPU). One program exported from it at one batch size is compiled
twice, both timed: by `torch._inductor.standalone_compile`, weights as inputs (saved_graph=inductor), and by
`torch._inductor.aoti_compile_and_package` with the variant's inductor settings, its weights left out of the
package (saved_graph=aoti; `--weights-in-package` keeps them in). Fresh processes (`python -X faulthandler`: a
crash prints where) then load the package through the C++ loader alone (`torch._C._aoti.AOTIModelPackageLoader`,
nothing of torch._inductor imported), hand it the weights, and report their age at each step: torch imported, CUDA
ready, package loaded, first output, captured; the replay median; which of inductor and dynamo got imported; the
output's difference from the eager one. The JSON is written then. `--compare-in-process` then, when a fresh
process ran, has this process load the package too and time both forms, each captured in a CUDA graph, interleaved
(compute-only median ms from CUDA events). On the H200 (2026-12-02) that step took the process down: an illegal
memory access at ResNet50 bs64, a segmentation fault at SE-ResNeXt101 bs64, after fresh processes had run the same
packages. The harness's measuring processes load packages fresh, as the fresh processes here do.
`--profile-compile` also says where each compile's time went (bench/compile_profile.py): every C++ compiler call,
timed, inductor's own timed phases, and the Python functions with the most cumulative time. The package
compile comes second, in the same process and inductor cache: Triton kernels the two forms share are compiled by
the first.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

LOAD_SNIPPET = r"""
import json, sys, time
def age():
    with open("/proc/self/stat") as stat, open("/proc/uptime") as up:
        start = int(stat.read().rsplit(")", 1)[1].split()[19])
        return round(float(up.read().split()[0]) - start / 100.0, 3)
marks = {"python": age()}
import torch
marks["torch imported"] = age()
torch.cuda.set_device(0)
torch.cuda.init()
marks["cuda ready"] = age()
loader = torch._C._aoti.AOTIModelPackageLoader(sys.argv[1], "model", True, 1, 0)
marks["package loaded"] = age()
if sys.argv[2] != "-":
    weights = torch.load(sys.argv[2], map_location="cuda", weights_only=True)
    loader.load_constants({name: weights[name] for name in loader.get_constant_fqns()}, False, True, True)
    marks["weights handed over"] = age()
x = torch.load(sys.argv[3]).cuda()
with torch.no_grad():
    out = loader.run([x])[0]
    torch.cuda.synchronize()
    marks["first output"] = age()
    static = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            loader.run([static])
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = loader.run([static])[0]
    graph.replay()
    torch.cuda.synchronize()
    marks["captured"] = age()
pairs = []
for _ in range(200):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); graph.replay(); e.record(); pairs.append((s, e))
torch.cuda.synchronize()
times = sorted(a.elapsed_time(b) for a, b in pairs)
reference = torch.load(sys.argv[4])
print(json.dumps({"marks": marks, "median_ms_cuda_graph": round(times[len(times) // 2], 4),
                  "max_abs_diff_vs_eager": float((out.float().cpu() - reference).abs().max()),
                  "replay_equals_first": bool(torch.equal(captured, out)),
                  "inductor_imported": "torch._inductor" in sys.modules,
                  "dynamo_imported": "torch._dynamo" in sys.modules}))
"""


def prepared(model_name: str, variant_name: str, batch: int, workdir: Path):
    """The variant's module in fp16 channels_last on the GPU, a random batch and the module's output for it."""
    import torch

    import nvidia_engine
    from targets.nvidia.torch_runtime import apply_rewrites, load_program_module
    from targets.nvidia.variants import resolve_variant

    variant = resolve_variant(variant_name)
    artifact, _ = nvidia_engine.build(nvidia_engine.load_model(model_name), model_name, "fp16", [batch], workdir)
    module = load_program_module(artifact)
    rewrites = apply_rewrites(module, variant, on_cuda=True)
    module.to(device="cuda", dtype=torch.float16).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.float16).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        reference = module(x).float().cpu()
    return variant, rewrites, module, x, reference


def only_output(value):
    """The one tensor of a compiled graph's output: an exported program's graph returns it in a sequence."""
    return value[0] if isinstance(value, (list, tuple)) else value


def graphed_median_ms(torch, calls: dict, x, rounds: int = 5, per_round: int = 40) -> dict:
    """Each callable captured in one CUDA graph, then replayed in interleaved rounds: the median ms of each."""
    graphs, times = {}, {name: [] for name in calls}
    with torch.no_grad():
        for name, call in calls.items():
            static = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    call(static)
            torch.cuda.current_stream().wait_stream(side)
            graphs[name] = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graphs[name]):
                call(static)
    for _ in range(rounds):
        for name, graph in graphs.items():
            pairs = []
            for _ in range(per_round):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                graph.replay()
                e.record()
                pairs.append((s, e))
            torch.cuda.synchronize()
            times[name] += [a.elapsed_time(b) for a, b in pairs]
    return {name: round(sorted(t)[len(t) // 2], 4) for name, t in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seresnext101_32x4d")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--variant", default=None, help="torch engine variant (default: the harness's default)")
    p.add_argument("--starts", type=int, default=3, help="fresh processes that load the package")
    p.add_argument("--weights-in-package", action="store_true",
                   help="compile the weights into the package (aot_inductor.package_constants_in_so, its default)")
    p.add_argument("--profile-compile", action="store_true",
                   help="time each C++ compiler call of both compiles and profile them (bench/compile_profile.py)")
    p.add_argument("--compare-in-process", action="store_true",
                   help="after the fresh processes, load the package here and time both forms side by side")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aoti_probe"))
    p.add_argument("--json", type=Path, default=Path("aoti_probe.json"))
    p.add_argument("--vec-isa-ok", choices=("harness", "probe", "true", "false"), default="harness",
                   help="inductor's cpp.vec_isa_ok for the package: as the harness sets it (default: false for a GPU "
                        "graph), 'probe' (unset: torch builds and loads a test library per CPU instruction set, each "
                        "in a fresh Python), 'true' (the sets taken from the CPU's flags) or 'false' (none)")
    args = p.parse_args(argv)
    if not args.json.name or not args.json.parent.is_dir():
        p.error(f"--json {args.json}: name a file in a folder that exists")
    import torch

    from compile_profile import profiled

    from targets.nvidia.precompiled import lifted_inputs, package_settings
    from warm_start_probe import first_line, fresh_starts

    args.workdir.mkdir(parents=True, exist_ok=True)
    variant, rewrites, module, x, reference = prepared(args.model, args.variant, args.batch, args.workdir)
    result: dict = {"command": " ".join(sys.argv), "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
                    "model": args.model, "batch": args.batch, "variant": variant.name, "rewrites": rewrites}
    with torch.no_grad():
        program = torch.export.export(module, (x,))
    names, weights = lifted_inputs(program)
    options = {k: v for k, v in (variant.inductor or {}).items() if k != "freezing"}  # weights are not constants
    calls = {}

    def compiled(form: str, compile_call):
        if not args.profile_compile:
            return compile_call()
        result["compile_profiled"] = "its times include cProfile's cost and cold C++ caches (compile_profile.py)"
        report = result.setdefault("compile_profile", {}).setdefault(form, {})
        try:
            return profiled(compile_call, args.workdir / f"profile_{form}", report)
        finally:
            raw = args.workdir / f"profile_{form}" / "compile.prof"
            try:  # the whole profile beside the JSON, for pstats' callers later
                if raw.is_file():
                    shutil.copyfile(raw, args.json.with_name(f"{args.json.stem}_{form}.prof"))
            except OSError as exc:
                report["profile_copy_error"] = f"{type(exc).__name__}: {exc}"
            shown = ("wall_s", "compiler_calls", "phases", "child_processes")
            print(json.dumps({form: {k: report.get(k) for k in shown}}), flush=True)

    started = time.perf_counter()
    try:
        with torch.no_grad():
            standalone = compiled("standalone", lambda: torch._inductor.standalone_compile(
                program.graph_module, [*weights, x], dynamic_shapes="from_example_inputs",
                options={"config_patches": options} if options else None))
        calls["standalone"] = lambda t: only_output(standalone(*weights, t))
        result["standalone_compile_s"] = round(time.perf_counter() - started, 1)
    except Exception as exc:
        result["standalone_error"] = first_line(exc)
    package = args.workdir / f"{args.model}.bs{args.batch}.pt2"
    saved_weights = None if args.weights_in_package else args.workdir / "weights.pt"
    if saved_weights is not None:
        torch.save(dict(zip(names, (w.detach() for w in weights))), saved_weights)
    settings = package_settings(torch, options, x.device)  # as the harness makes it
    if args.weights_in_package:
        settings = {**(variant.inductor or {}), **settings, "aot_inductor.package_constants_in_so": True}
    if args.vec_isa_ok == "probe":
        settings.pop("cpp.vec_isa_ok", None)
    elif args.vec_isa_ok != "harness":
        settings["cpp.vec_isa_ok"] = args.vec_isa_ok == "true"
    result["aoti_settings"] = settings
    started = time.perf_counter()
    try:
        with torch.no_grad():
            compiled("aoti", lambda: torch._inductor.aoti_compile_and_package(
                program, package_path=str(package), inductor_configs=settings))
        result["aoti_compile_s"] = round(time.perf_counter() - started, 1)
        result["package_mib"] = round(package.stat().st_size / (1 << 20), 1)
    except Exception as exc:
        result["aoti_error"] = first_line(exc)
    print(json.dumps(result), flush=True)
    if "aoti_compile_s" in result:
        # fresh processes first: where loading crashes them, this process does not load the package at all
        result["starts"] = fresh_starts(LOAD_SNIPPET, [str(package), str(saved_weights or "-")], args.starts, x,
                                        reference, args.workdir)
    result["compared_in_process"] = args.compare_in_process
    args.json.write_text(json.dumps(result, indent=1) + "\n")  # kept if what follows takes the process down
    if not args.compare_in_process:
        return 0
    if "aoti_compile_s" in result:
        if any("marks" in start for start in result["starts"]):
            try:
                loader = torch._C._aoti.AOTIModelPackageLoader(str(package), "model", True, 1, 0)
                if saved_weights is not None:
                    named = dict(zip(names, weights))
                    loader.load_constants({n: named[n] for n in loader.get_constant_fqns()}, False, True, True)
                calls["aoti"] = lambda t: loader.run([t])[0]
            except Exception as exc:
                result["aoti_load_error"] = first_line(exc)
    with torch.no_grad():
        result["max_abs_diff_vs_eager"] = {name: float((call(x).float().cpu() - reference).abs().max())
                                           for name, call in calls.items()}
    result["median_ms_cuda_graph"] = graphed_median_ms(torch, calls, x) if calls else {}
    print(json.dumps({k: result[k] for k in ("max_abs_diff_vs_eager", "median_ms_cuda_graph")}), flush=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

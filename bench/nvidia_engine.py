"""The nvidia target's session against plain PyTorch, side by side in one run on one GPU.

    python bench/nvidia_engine.py --batches 1 64 256 --precisions fp16 fp32 --json nvidia_engine.json
    python bench/nvidia_engine.py --variants plain tuned fused inductor --batches 64   # compare variants
    python bench/nvidia_engine.py --dataset 2560 --multi-gpu 0,1                       # infer stage, 2 GPUs
    python bench/nvidia_engine.py --variants "" --torch-compile --precisions fp16      # the three-way table

Baseline: the timm module in fp16 channels_last (fp32 with TF32), eager, one CUDA graph per batch
size; with --torch-compile also torch.compile(mode="reduce-overhead") on that module. Harness: artifact built by targets.nvidia (torch engine), run through its session.
Figures: compute-only median per batch from CUDA events, img/s = 1000 * batch / median ms.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import nvidia_measure as measure  # noqa: E402

from convert.fingerprint import output_record  # noqa: E402
from harness.contracts import ConvertManifest, TensorSpec  # noqa: E402
from harness.files import write_json  # noqa: E402
from targets import get_target  # noqa: E402
from targets.base import BuildRequest  # noqa: E402


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seresnext101_32x4d", help="timm architecture (random weights)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    p.add_argument("--precisions", nargs="+", default=["fp16", "fp32"])
    p.add_argument("--variants", nargs="+", default=["", "fused"],
                   help="torch engine variants, optionally with target options: tuned, tuned:cuda_graphs=0")
    p.add_argument("--no-baseline", dest="baseline", action="store_false")
    p.add_argument("--torch-compile", action="store_true",
                   help='add torch.compile(mode="reduce-overhead") on the baseline module as a third row')
    p.add_argument("--iters-scale", type=float, default=1.0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/nvidia_bench"))
    p.add_argument("--dataset", type=int, default=0, help="also run infer on this many .bin files (fp16, bs64)")
    p.add_argument("--dataset-results", type=Path, nargs="+", help="--dataset: result roots to compare (disk, tmpfs)")
    p.add_argument("--io", nargs="+", default=["threads", "processes"], help="--dataset: infer --io modes to compare")
    p.add_argument("--multi-gpu", default="", help="e.g. 0,1: infer --device 0,1 vs one GPU (fp16, bs64)")
    p.add_argument("--deadline", type=float, default=540.0, help="seconds; later measurements are skipped")
    p.add_argument("--json", type=Path, default=Path("nvidia_engine.json"))
    return p.parse_args(argv)


def gpu_state() -> str:
    """Read-only clock/power snapshot, to see whether the card was throttling."""
    query = "name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu,utilization.gpu"
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "nvidia-smi unavailable"


def load_model(name: str):
    import timm
    import torch

    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False).eval()


def build(model, name: str, precision: str, batches: list[int], workdir: Path, spec_in: TensorSpec | None = None):
    """The artifact as convert would make it (torch engine, dynamic batch), plus a convert.json."""
    out_dir = workdir / precision
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_in = spec_in or TensorSpec("image", [-1, 3, 224, 224])
    spec_out = TensorSpec("class", [-1, 1000])
    sizes = sorted({min(batches), max(batches)})
    request = BuildRequest(onnx=out_dir / f"{name}.sim.onnx", out_dir=out_dir, model=name, precision=precision,
                           batch_sizes=sizes, dynamic_batch=True, input=spec_in, output=spec_out,
                           load_model=lambda: model)
    started = time.perf_counter()
    result = get_target("nvidia", engine="torch").build(request)
    manifest = ConvertManifest(model=name, target="nvidia", precision=precision, artifact=result.artifact.name,
                               onnx=request.onnx.name, sim_onnx=request.onnx.name, input=spec_in, output=spec_out,
                               batch_sizes=sizes, dynamic_batch=True, opset=17,
                               target_info={**result.info, "options": {"engine": "torch"}},
                               hashes={"files": {result.artifact.name: output_record(result.artifact)}})  # as convert
    manifest.write(out_dir)
    print(f"built {result.artifact.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return result.artifact, manifest


def measure_precision(args, model, precision: str, deadline: float, device) -> list[dict]:
    artifact, manifest = build(model, args.model, precision, args.batches, args.workdir)
    rows = []
    for batch in args.batches:
        iters = measure.iterations(batch, args.iters_scale)
        if args.baseline and time.time() < deadline:
            rows.append(report({"precision": precision, "kind": "baseline", **measure.baseline(
                model, precision, batch, iters, device)}))
        if args.torch_compile and time.time() < deadline:
            rows.append(report({"precision": precision, "kind": "torch.compile", **measure.compiled(
                model, precision, batch, iters, device)}))
        for variant in args.variants:
            if time.time() > deadline:
                rows.append({"precision": precision, "kind": "harness", "variant": variant, "batch": batch,
                             "skipped": "deadline"})
                continue
            options = {"engine": "torch", **variant_options(variant)}
            try:
                row = measure.session_run(get_target("nvidia", **options), artifact, manifest, batch, iters)
                data, outputs = row.pop("data"), row.pop("outputs")
                row["vs_fp32"] = measure.agreement(outputs, measure.fp32_reference(model, data, device))
            except Exception as exc:  # one failing variant must not lose the others' figures
                row = {"batch": batch, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            variant_name = variant if variant.strip(":") else f"default ({row.get('info', {}).get('variant')})"
            rows.append(report({"precision": precision, "kind": "harness", "variant": variant_name, **row}))
    return rows


def variant_options(spec: str | None) -> dict:
    """'tuned:cuda_graphs=0' -> {"variant": "tuned", "cuda_graphs": "0"}; None -> the target's default."""
    if not spec:
        return {}
    name, _, rest = spec.partition(":")
    options = dict(item.split("=", 1) for item in rest.split(",") if item)
    return {**({"variant": name} if name else {}), **options}


def report(row: dict) -> dict:
    shown = {k: v for k, v in row.items() if k != "info"}
    if "info" in row:
        shown.update({k: row["info"].get(k) for k in ("cuda_graphs", "first_call_s", "bn_folded", "conv_relu_fused",
                                                      "conv_add_relu_fused", "conv1x1_relu_as_gemm", "depthwise_as_taps",
                                                      "pooled_conv_as_reduction", "load_s",
                                                      "fallback")},
                     graph_form=graph_form(row))
    print(json.dumps(shown), flush=True)
    return row


def graph_form(row: dict) -> str:
    """Which form of the compiled graph a harness row ran: aoti (a package), standalone (inductor's saved graph),
    torch.compile, or "-" (no compile)."""
    return ((row.get("info") or {}).get("compile_path") or {}).get("path", "-")


def table(rows: list[dict]) -> str:
    lines = ["| precision | batch | what | variant | graph | img/s | median ms | p99 ms | peak MiB | e2e img/s "
             "| cos min |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "img_s" not in r:
            lines.append(f"| {r['precision']} | {r['batch']} | {r['kind']} | {r.get('variant')} | - | "
                         f"{r.get('error') or r.get('skipped')} | | | | | |")
            continue
        form = graph_form(r) if r["kind"] == "harness" else "-"
        lines.append(f"| {r['precision']} | {r['batch']} | {r['kind']} | {r.get('variant', '-')} | {form} | "
                     f"{r['img_s']:.0f} | "
                     f"{r['median_ms']:.3f} | {r['p99_ms']:.3f} | {r['peak_mib']:.0f} | {r.get('e2e_img_s', '-')} | "
                     f"{r.get('vs_fp32', {}).get('cosine_min', '-')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    deadline = time.time() + args.deadline
    device = torch.device("cuda", 0)
    result = {"command": " ".join(sys.argv), "gpu_state_before": gpu_state(), "torch": torch.__version__,
              "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "rows": []}
    model = load_model(args.model)
    for precision in args.precisions:
        result["rows"] += measure_precision(args, model, precision, deadline, device)
    if args.dataset or args.multi_gpu:
        result.update(infer_stage(args))
    result["gpu_state_after"] = gpu_state()
    write_json(args.json, result, indent=2)
    print(table(result["rows"]))
    for key in ("dataset", "multi_gpu"):
        if key in result:
            print(key, json.dumps(result[key], indent=1))
    return 0


def infer_stage(args) -> dict:
    import loop_io
    import nvidia_dataset

    model_dir = args.workdir / "fp16"
    out = {}
    if args.dataset:
        bins = loop_io.write_random_bins(args.workdir / "bins", args.dataset, (3, 224, 224))
        out["dataset"] = [{"results": str(root), **loop_io.dataset_ratio(model_dir, bins, root, ios=args.io)}
                          for root in args.dataset_results or [args.workdir / "results"]]
    if args.multi_gpu:
        out["multi_gpu"] = nvidia_dataset.multi_gpu(model_dir, args.workdir / "results", args.multi_gpu)
    return out


if __name__ == "__main__":
    sys.exit(main())

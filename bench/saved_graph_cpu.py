"""The torch engine's two forms of saved graph side by side on the CPU: how soon a later process has its first output.

    python bench/saved_graph_cpu.py --model resnet18 --batch 2 --starts 5 --json F

Builds the torch-engine artifact of a timm model (random weights, float32), then per form (`saved_graph=inductor`:
standalone_compile's artifact, loaded through inductor; `saved_graph=aoti`: an AOTInductor package, loaded by
torch's C++ loader) one cold process that compiles it (in the engine's compile child), then `--starts` warm
processes, alternating between the forms. Each warm process opens the engine's session on the CPU and runs one
batch; it reports its own age (from /proc) when torch was imported, when the output was there, which of
torch._inductor and torch._dynamo it imported, and the output's largest difference from the cold process's output.
Printed: per form the median age at the first output, and the ratio. The GPU's own figures are in docs/nvidia.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

FORMS = ("inductor", "aoti")
START = r"""
import json, sys
from harness.startup import process_age_s
import numpy as np
import torch
imported = process_age_s()
from targets.nvidia.torch_runtime import TorchRunner
from targets.nvidia.variants import resolve_variant
artifact, form, batch_file, out_file = sys.argv[1:5]
batch = np.load(batch_file)
session = TorchRunner(artifact, torch.device("cpu"), "fp32", resolve_variant(None), batch.shape[1:], saved_graph=form)
(out,) = session.forward(torch.from_numpy(batch))
first_output = process_age_s()
session.close()
np.save(out_file, out.numpy())
print(json.dumps({"torch_imported_s": imported, "first_output_s": first_output,
                  "compile_path": session.info()["compile_path"],
                  "imported": sorted(m for m in ("torch._inductor", "torch._dynamo") if m in sys.modules)}))
"""


def start(artifact: Path, form: str, batch_file: Path, out_file: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", START, str(artifact), form, str(batch_file), str(out_file)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(Path.home())})
    if proc.returncode != 0:
        raise SystemExit(f"a {form} process failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--starts", type=int, default=5, help="warm processes per form")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/saved_graph_cpu"))
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    import numpy as np

    import nvidia_engine
    from convert.frameworks import import_with_torchvision
    from harness.files import write_json

    import_with_torchvision("timm")  # as convert imports it: a CPU torch beside a torchvision built for another
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = nvidia_engine.load_model(args.model)
    batch_file = args.workdir / "batch.npy"
    np.save(batch_file, np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224)).astype(np.float32))
    artifacts, rows = {}, []
    for form in FORMS:  # an artifact directory per form, so that neither finds the other's cache
        artifacts[form], _ = nvidia_engine.build(model, args.model, "fp32", [args.batch], args.workdir / form)
        cold = start(artifacts[form], form, batch_file, args.workdir / f"{form}-cold.npy")
        rows.append({"form": form, "start": "cold", **cold})
        print(json.dumps(rows[-1]), flush=True)
    for i in range(args.starts):
        for form in FORMS:
            warm = start(artifacts[form], form, batch_file, args.workdir / f"{form}-warm.npy")
            warm["max_abs_diff_vs_cold"] = float(np.abs(np.load(args.workdir / f"{form}-warm.npy")
                                                        - np.load(args.workdir / f"{form}-cold.npy")).max())
            rows.append({"form": form, "start": f"warm {i + 1}", **warm})
            print(json.dumps(rows[-1]), flush=True)
    medians = {form: statistics.median(r["first_output_s"] for r in rows if r["form"] == form and r["start"] != "cold")
               for form in FORMS}
    print(f"\n| {args.model} bs{args.batch}, warm process | age at first output (median of {args.starts}) | "
          "modules imported |\n|---|---|---|")
    for form in FORMS:
        imported = {", ".join(r["imported"]) or "neither" for r in rows if r["form"] == form and r["start"] != "cold"}
        print(f"| saved_graph={form} | {medians[form]:.2f} s | {' / '.join(sorted(imported))} |")
    print(f"aoti / inductor: {medians['aoti'] / medians['inductor']:.3f}")
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "rows": rows, "medians_s": medians}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cold and warm starts of `infer` on an unchanged torch-engine artifact (the compile cache beside it).

    python3 bench/nvidia_warm_start.py --models tf_efficientnet_lite0 seresnext101_32x4d --batch 64 --json F

Per model: builds the artifact (bench/nvidia_engine.py build; --precision, fp16 by default), deletes its compile
cache, then runs `python -m infer` (pure mode, --loop timed batches): a cold process, a first process for each other
option set (--option-sets; another variant has a compile cache of its own), then --warm-runs warm ones per option
set, interleaved; it ends with the medians of each option set's warm processes side by side. For each process: its
walltime; walltime minus the timed loop (an upper bound of the time to the first timed batch: it includes writing
the summary and the process's exit); from summary.json the process's own age when its first timed batch began
(`extra.startup`, from /proc), the engine's load, compile (first call) and prepare (warm-up + CUDA graph capture)
seconds, and the cache state the session found. --profile-warm adds a third, warm process run under cProfile and
prints where its time went. --together N starts N cold processes at once instead of one (two `infer` runs of one
artifact, or the workers of `--device 0,1`): one compiles each batch size while the others wait for its turn and
load what it saved; each row's compile_path says which it was. Their timed loops share the GPU, so their compute
figures are not the model's.

Python bytecode: by default the stages' own cache (harness/bytecode.py) in a fresh WORKDIR/harness-pycache per
model, so the cold process compiles it and the warm one reads it; `--pycache DIR` sets PYTHONPYCACHEPREFIX
instead; `--no-harness-pycache` neither, as the stages ran before they kept bytecode.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_OPTIONS = "none"
LOOP = 200  # timed batches per process (20 before 2026-12-01): steadier compute medians to compare processes by
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from harness.files import write_json  # noqa: E402
from targets.nvidia.compile_cache import CACHE_DIRNAME  # noqa: E402


def bytecode_env(pycache: Path | None, harness_cache: Path | None = None) -> dict:
    """The environment of the infer processes: with Python's bytecode cached under `pycache` by the user
    (PYTHONPYCACHEPREFIX), or as given with the stages' own cache in `harness_cache` (harness/bytecode.py), or
    with that turned off (neither: an image whose site-packages hold no .pyc, or that sets
    PYTHONDONTWRITEBYTECODE, then makes every process compile thousands of torch modules from source)."""
    env = {**os.environ, "HARNESS_DEBUG": "1"}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    elif harness_cache is not None:
        env["HARNESS_PYCACHE_DIR"] = str(harness_cache)
    else:
        env["HARNESS_PYCACHE"] = "0"
    return env


def bytecode_facts() -> dict:
    import torch

    package = Path(torch.__file__).parent
    return {"PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
            "PYTHONPYCACHEPREFIX": os.environ.get("PYTHONPYCACHEPREFIX"),
            "torch_pyc_files": sum(1 for _ in package.rglob("*.pyc")), "torch_dir_writable": os.access(package, os.W_OK)}


def infer_process(model_dir: Path, batch: int, out: Path, name: str, profile: Path | None = None,
                  pycache: Path | None = None, harness_cache: Path | None = None, options: str = "",
                  loop: int = LOOP, preamble: str = "") -> dict:
    """One `python -m infer` process (under cProfile, writing `profile`, when given), with the target options in
    `options` ("key=value,key=value"); `preamble`, Python source, runs in that process before infer does."""
    if profile and preamble:
        raise ValueError("cProfile runs a module or a script, not a preamble: pass one of profile and preamble")
    runner = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
    if preamble:
        runner += ["-c", f"{preamble}\nimport runpy, sys\nsys.argv[0] = 'infer'\n"
                         "runpy.run_module('infer', run_name='__main__', alter_sys=True)"]
    argv = [*runner, *([] if preamble else ["-m", "infer"]), "--model", str(model_dir), "--batchsize", str(batch),
            "--output", str(out), "--output_dirname", name, "--warmup_count", "2", "--loop", str(loop), "--no-progress"]
    for option in [] if options == NO_OPTIONS else filter(None, options.split(",")):
        argv += ["--option", option]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=bytecode_env(pycache, harness_cache))
    wall = time.perf_counter() - started
    if proc.returncode != 0:  # keep the other rows; the traceback says why this one failed
        return {"error": proc.stderr[-1500:]}
    summary = json.loads((out / f"{name}_summary.json").read_text())
    engine = summary["engine"]
    age = (summary["extra"].get("startup") or {}).get("process_age_at_first_timed_batch_s")
    after_loop = None if age is None else round(wall - age - summary["throughput"]["wall_s"], 1)
    return {"process_s": round(wall, 1), "to_first_timed_batch_s": round(wall - summary["throughput"]["wall_s"], 1),
            "after_loop_s": after_loop,  # the summary, closing the session and the interpreter's exit
            "load_s": engine.get("load_s"), "first_call_s": engine.get("first_call_s", {}).get(str(batch)),
            "prepare_s": engine.get("prepare_s", {}).get(str(batch)),
            "cache": (engine.get("compile_cache") or {}).get("state"),
            "compile_path": engine.get("compile_path"),
            "img_s_compute": round(summary["throughput"]["compute_only"], 1),
            "compute_shape": compute_shape(summary.get("compute_ms") or []),
            "startup": summary["extra"].get("startup"), "compile_seconds": (engine.get("compile_path") or {}).get("seconds")}


def compute_shape(values: list[float]) -> dict:
    """How a process's compute times run through its loop: the throughput figure is the mean, so a slow start
    (clocks still rising, a cache still filling) moves it while the median and the last half stay put."""
    from statistics import fmean, median

    if len(values) < 10:
        return {}
    tenth, half = max(1, len(values) // 10), len(values) // 2
    return {"median_ms": round(median(values), 4), "mean_ms": round(fmean(values), 4),
            "first_tenth_mean_ms": round(fmean(values[:tenth]), 4), "last_half_mean_ms": round(fmean(values[half:]), 4)}


def compare_option_sets(rows: list[dict]) -> list[dict]:
    """Per model and option set, the medians of its warm processes, and their compute throughput against the
    first option set's: the side-by-side answer to "does this option cost compute time"."""
    from statistics import median

    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row.get("start", "").startswith("warm") and "error" not in row and "cProfile" not in row["start"]:
            groups.setdefault((row["model"], row["options"]), []).append(row)
    result = []
    for (model, options), warm in groups.items():
        ages = [(r.get("startup") or {}).get("process_age_at_first_timed_batch_s") for r in warm]
        after = [r.get("after_loop_s") for r in warm]
        last_half = [(r.get("compute_shape") or {}).get("last_half_mean_ms") for r in warm]
        result.append({"model": model, "options": options, "processes": len(warm),
                       "first_timed_batch_s": median([a for a in ages if a is not None] or [float("nan")]),
                       "img_s_compute": median(r["img_s_compute"] for r in warm),
                       "last_half_ms": median([v for v in last_half if v is not None] or [float("nan")]),
                       "after_loop_s": median([a for a in after if a is not None] or [float("nan")])})
    for row in result:
        base = next(r for r in result if r["model"] == row["model"])
        row["compute_vs_first_set"] = round(row["img_s_compute"] / base["img_s_compute"], 4)
        row["last_half_vs_first_set"] = round(base["last_half_ms"] / row["last_half_ms"], 4)
    return result


def top_functions(profile: Path, count: int = 30) -> list[str]:
    """The functions a profiled process spent the most cumulative time in, as pstats prints them."""
    import io
    import pstats

    text = io.StringIO()
    pstats.Stats(str(profile), stream=text).sort_stats("cumulative").print_stats(count)
    return [line for line in text.getvalue().splitlines() if line.strip()][-count:]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def main() -> int:
    import nvidia_engine

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0", "resnet50", "seresnext101_32x4d"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/nvidia_warm"))
    p.add_argument("--json", type=Path)
    p.add_argument("--loop", type=int, default=LOOP, help="timed batches per process")
    p.add_argument("--warm-runs", type=int, default=1, help="warm processes after the cold one, per option set")
    p.add_argument("--option-sets", nargs="+", default=[NO_OPTIONS],
                   help=f"target options of the infer processes, one set per word (\"key=value,key=value\", or "
                        f"{NO_OPTIONS}); the cold process takes the first, and each other set has a first "
                        "process before the warm ones")
    p.add_argument("--together", type=positive, default=1, metavar="N",
                   help="start N cold processes at once: one compiles, the others wait for its turn")
    p.add_argument("--profile-warm", action="store_true", help="one more warm process, under cProfile")
    p.add_argument("--pycache", type=Path, help="cache Python bytecode here (PYTHONPYCACHEPREFIX) for every process")
    p.add_argument("--no-harness-pycache", action="store_true",
                   help="turn off the stages' own bytecode cache (HARNESS_PYCACHE=0), as before it existed")
    args = p.parse_args()
    rows: list[dict] = [{"bytecode": bytecode_facts(), "pycache": str(args.pycache) if args.pycache else None}]
    for name in args.models:
        model = nvidia_engine.load_model(name)
        artifact, _ = nvidia_engine.build(model, name, args.precision, [args.batch], args.workdir / name)
        shutil.rmtree(artifact.parent / CACHE_DIRNAME, ignore_errors=True)
        harness_cache = None if args.no_harness_pycache or args.pycache else args.workdir / "harness-pycache"
        if harness_cache is not None:
            shutil.rmtree(harness_cache, ignore_errors=True)  # a cold start compiles the bytecode too
        # the warm processes of each option set interleaved, so that a drift of the machine touches each alike
        # a set that changes the compile cache's key (another variant) has a first process of its own, which fills
        # that cache; whether it found one is its row's "cache found"
        starts = ([("cold", args.option_sets[0])] + [("first", o) for o in args.option_sets[1:]]
                  + [("warm", o) for _ in range(args.warm_runs) for o in args.option_sets])
        for start, options in starts:
            label = start + (", bytecode cached" if args.pycache else
                             ", stages' bytecode cache" if harness_cache else ", no bytecode cache")
            copies = args.together if start == "cold" else 1

            def run(copy: int, start=start, options=options, label=label, copies=copies) -> dict:
                suffix = f"-{copy + 1}of{copies}" if copies > 1 else ""
                together = f", {copy + 1} of {copies} started together" if copies > 1 else ""
                row = {"model": name, "batch": args.batch, "precision": args.precision,
                       "start": label + together + (f", {options}" if options != NO_OPTIONS else ""),
                       "options": options}
                try:  # one process's unreadable summary must not cost the rows of the others
                    row.update(infer_process(artifact.parent, args.batch, args.workdir / "results",
                                             f"{name}-{start}{suffix}", pycache=args.pycache,
                                             harness_cache=harness_cache, options=options, loop=args.loop))
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"
                return row

            with ThreadPoolExecutor(copies) as pool:  # each thread waits on its own subprocess
                for row in pool.map(run, range(copies)):
                    print(json.dumps(row), flush=True)
                    print("  " + ", ".join(f"{k} {v:.2f}"
                                           for k, v in ((row.get("startup") or {}).get("marks") or {}).items()))
                    rows.append(row)
        if args.profile_warm:  # where a warm start's seconds go, function by function
            profile = args.workdir / f"{name}-warm.prof"
            row = {"model": name, "batch": args.batch, "precision": args.precision, "start": "warm, under cProfile",
                   **infer_process(artifact.parent, args.batch, args.workdir / "results", f"{name}-prof", profile,
                                   pycache=args.pycache, harness_cache=harness_cache)}
            row["top_cumulative"] = top_functions(profile) if profile.is_file() else []
            if profile.is_file() and args.json:  # the whole profile beside the JSON, for pstats later
                shutil.copyfile(profile, args.json.with_name(profile.name))
            print("\n".join(row["top_cumulative"]), flush=True)
            rows.append(row)
        if args.json:
            write_json(args.json, rows, indent=1)
    print("| model | precision | bs | start | process s | to first timed batch s | load s | compile (first call) s | "
          "prepare s | cache found | compute img/s | process age at first timed batch s | after the loop s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows[1:]:
        print(f"| {r['model']} | {r['precision']} | {r['batch']} | {r['start']} | {r.get('process_s')} | {r.get('to_first_timed_batch_s')} | "
              f"{r.get('load_s')} | {r.get('first_call_s')} | {r.get('prepare_s')} | {r.get('cache')} | "
              f"{r.get('img_s_compute')} | {(r.get('startup') or {}).get('process_age_at_first_timed_batch_s')} | "
              f"{r.get('after_loop_s')} |")
    compared = compare_option_sets(rows[1:])
    if compared:
        print("\nwarm processes, medians per option set (compute against the first set's, same model, this run):")
        print("| model | options | processes | first timed batch at s | compute img/s | x first set | "
              "last half of the loop ms/batch | x first set | after the loop s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for c in compared:
            print(f"| {c['model']} | {c['options']} | {c['processes']} | {c['first_timed_batch_s']:.2f} | "
                  f"{c['img_s_compute']:.0f} | {c['compute_vs_first_set']:.4f} | {c['last_half_ms']:.4f} | "
                  f"{c['last_half_vs_first_set']:.4f} | {c['after_loop_s']:.1f} |")
        if args.json:
            write_json(args.json, [*rows, {"compared": compared}], indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

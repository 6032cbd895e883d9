"""`--device 0,1`: one worker process per device, then one merged summary.

Dataset mode gives each worker a disjoint shard of batches; pure mode runs them side by side.
Aggregate compute-only throughput is the sum of the workers'; end-to-end is all images over the
longest worker's walltime.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.contracts import InferSummary, run_summary_path
from harness.energy_summary import merge_energy
from harness.errors import InputError, TargetError
from harness.files import write_json
from harness.procs import killed_with_parent
from harness.stats import end_to_end_throughput, summarize_ms
from infer import run_record
from infer.ais_bench_flags import ais_bench_flag_of, given_target_options
from infer.cli import InferConfig
from infer.model_source import load_model
from targets import target_class


def _refuse_one_device_options(config: InferConfig, devices: list[str]) -> None:
    """An option that names one device's hardware (its target declares it so) would give every worker the
    figures of that one device."""
    if not config.ais_bench_flags and not config.options:
        return
    manifest, _ = load_model(config.model, config.dym_batch)
    given = given_target_options(config.ais_bench_flags, manifest.target, config.options)
    named = target_class(manifest.target).options_class.one_device_keys(given)
    if named:
        name, flag = named[0], ais_bench_flag_of(named[0])
        also = f" (ais_bench: {flag})" if flag else ""
        raise InputError(f"--option {name}={given[name]}{also} names one device, but --device {config.device} "
                         f"runs {len(devices)}: each would report that one's figures; drop it (each device's own "
                         "is looked up)")


def _devices(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if len(set(devices)) != len(devices):
        raise InputError(f"--device {text}: a device is listed twice")
    return devices


def _worker_argv(config: InferConfig, device: str, index: int, count: int, out_root: Path,
                 dirname: str) -> list[str]:
    argv = [sys.executable, "-m", "infer", "--model", str(config.model), "--device", device,
            "--output", str(out_root), "--output_dirname", dirname, "--outfmt", config.outfmt,
            "--loop", str(config.loop), "--warmup_count", str(config.warmup_count),
            "--time_limit", str(config.time_limit), "--stable_ci", str(config.stable_ci),
            "--summary_name", _part_name(dirname, device), "--io", config.io, "--io_workers", str(config.io_workers),
            "--no-progress"]
    if config.batchsize:
        argv += ["--batchsize", str(config.batchsize)]
    if config.dym_batch:
        argv += ["--dymBatch", str(config.dym_batch)]
    if config.input is not None:
        argv += ["--input", str(config.input), "--shard", f"{index}/{count}"]
    if config.accept_preprocess_mismatch:
        argv.append("--accept-preprocess-mismatch")
    if config.score_calibration_images:
        argv.append("--score-calibration-images")
    for key, value in config.options.items():
        argv += ["--option", f"{key}={value}"]
    for flag, value in config.ais_bench_flags.items():
        argv += [flag, value]
    return argv


def _part_name(dirname: str, device: str) -> str:
    """Each device's own summary, beside the result directory like the merged one."""
    return f"{dirname}_summary.device{device}.json"


def run_multi_device(config: InferConfig) -> InferSummary:
    devices = _devices(config.device)
    _refuse_one_device_options(config, devices)
    out_root = config.output or Path(tempfile.mkdtemp(prefix="infer-multi-"))
    dirname = config.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    run_dir = out_root / dirname
    summary_path = out_root / config.summary_name if config.summary_name else run_summary_path(run_dir)
    records = config.output is not None and config.input is not None
    if records:  # the workers share the directory and never resume: a rerun replaces all their outputs
        run_record.start_fresh(run_dir, {"devices": devices}, summary_path)
    try:
        merged = _run_workers(config, devices, out_root, dirname)
    except BaseException:
        if records:
            run_record.abandon(run_dir)
        raise
    if config.output is not None:
        write_json(summary_path, merged.to_dict())
        if records:
            run_record.finish(run_dir)
    return merged


def _run_workers(config: InferConfig, devices: list[str], out_root: Path, dirname: str) -> InferSummary:
    start = time.perf_counter()
    # killed with this process: only it holds the directory's lock, so an orphan would write beside the next run
    procs = [subprocess.Popen(_worker_argv(config, d, i, len(devices), out_root, dirname),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              preexec_fn=killed_with_parent)
             for i, d in enumerate(devices)]
    logs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    for device, proc, log in zip(devices, procs, logs):
        if proc.returncode != 0:
            last = (log.strip().splitlines() or ["no output"])[-1]
            raise TargetError(f"device {device}: worker failed ({last})")
    parts = [InferSummary.read_file(out_root / _part_name(dirname, d)) for d in devices]
    merged = merge(parts, devices, wall)
    for device, part in zip(devices, parts):
        print(f"[INFO] device {device}: compute-only {part.throughput['compute_only']:.2f} img/s, "
              f"end-to-end {part.throughput['end_to_end']:.2f} img/s")
    print(f"[INFO] summary throughput: {merged.throughput['compute_only']:.2f} img/s compute-only "
          f"(sum of {len(devices)} devices), {merged.throughput['end_to_end']:.2f} img/s end-to-end")
    return merged


def merge(parts: list[InferSummary], devices: list[str], wall: float) -> InferSummary:
    first = parts[0]
    compute = [ms for p in parts for ms in p.compute_ms]
    images = sum(p.num_inputs for p in parts)
    runs = int(first.extra.get("runs_per_input", 1))  # dataset --loop N: each input ran N times, on every device
    longest = max(p.throughput.get("wall_s", 0.0) for p in parts)
    merged = dataclasses.replace(first)
    merged.device = ",".join(devices)
    merged.num_inputs = images
    merged.num_batches = sum(p.num_batches for p in parts)
    merged.padded_slots = sum(p.padded_slots for p in parts)
    merged.files = [f for p in parts for f in p.files]
    merged.compute_ms = compute
    merged.timings = {"compute": summarize_ms(compute)}
    merged.throughput = {
        "compute_only": sum(p.throughput["compute_only"] for p in parts),
        "end_to_end": end_to_end_throughput(images * runs, longest),
        "wall_s": longest, "process_wall_s": wall,
        "per_device": {d: p.throughput for d, p in zip(devices, parts)},
    }
    merged.energy = merge_energy([p.energy for p in parts], devices)
    labelled = {k: first.extra[k] for k in ("labels", "random_weights", "preprocess_mismatch", "calibration_left_out",
                                            "calibration_overlap", "runs_per_input") if k in first.extra}
    merged.extra = {"devices": devices, "per_device_engine": {d: p.engine for d, p in zip(devices, parts)},
                    **labelled}
    stability = [p.extra["median_ci95"] for p in parts if isinstance(p.extra.get("median_ci95"), dict)]
    if stability:  # the report labels a median that did not become stable on any device
        merged.extra["median_ci95"] = next((s for s in stability if s.get("stable") is False), stability[0])
    warnings = [f"device {d}: {p.extra['warning']}" for d, p in zip(devices, parts) if p.extra.get("warning")]
    if warnings:
        merged.extra["warning"] = "; ".join(warnings)
    host = {d: p.extra["host_in_compute"] for d, p in zip(devices, parts) if "host_in_compute" in p.extra}
    if host:
        from harness.perf import merge_host_time_in_compute

        merged.extra["host_in_compute"] = merge_host_time_in_compute(list(host.values()))
        merged.extra["per_device_host_in_compute"] = host
    return merged

"""`--device 0,1`: one worker process per device, then one merged summary.

Dataset mode gives each worker a disjoint shard of batches; pure mode runs them side by side. Every worker
loads, compiles and warms up its engine, then waits at a start barrier (infer/barrier.py) until all are ready,
so their timed loops run at once. Aggregate compute-only throughput is the sum of the workers'; end-to-end is
all images over the walltime from the first worker's timed loop start to the last one's end, and the summary
records how far apart the loops started (throughput.loop_start_skew_s). Parts whose loops share no clock
(shards on several machines) fall back to the longest worker's walltime, and the summary says which it is.
"""
from __future__ import annotations

import dataclasses
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.contracts import (END_TO_END_WALL_LONGEST, END_TO_END_WALL_SPAN, InferSummary, device_part_summary_name,
                               run_summary_path)
from harness.energy_summary import merge_energy
from harness.errors import InputError, TargetError
from harness.files import write_json
from harness.procs import killed_with_parent, signal_name
from harness.stats import end_to_end_throughput, summarize_ms
from infer import run_record
from infer.ais_bench_flags import ais_bench_flag_of, given_target_options
from infer.barrier import ParentEnd
from infer.cli import InferConfig
from infer.dataset import list_bin_files
from infer.devices import DeviceListError, device_list
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


def _refuse_devices_left_idle(config: InferConfig, devices: list[str]) -> None:
    """Dataset mode deals whole batches out to the devices: with fewer batches than devices one would run nothing,
    and the figures summed as several devices' would be fewer devices'."""
    if config.input is None:
        return
    from infer.run import requested_batch, split_calibration

    manifest, _ = load_model(config.model, config.dym_batch)
    batch = requested_batch(config, manifest)
    if not batch:
        return
    spec = None if manifest.target_info.get("bare") else manifest.input  # a bare OM's input: known once it is open
    files, _ = split_calibration(list_bin_files(config.input, spec, quiet=True), manifest,
                                 config.score_calibration_images)
    batches = -(-len(files) // batch)
    if batches < len(devices):
        raise InputError(f"--device {config.device} runs {len(devices)} devices, but the {len(files)} inputs make "
                         f"{batches} batch{'es' if batches != 1 else ''} of {batch}, so "
                         f"{len(devices) - batches} device(s) would run nothing while the summary counts them; "
                         "list at most as many devices as batches, or pass a smaller --batchsize")


def _devices(text: str) -> list[str]:
    try:
        return device_list(text)
    except DeviceListError as exc:
        raise InputError(str(exc)) from None


def _worker_argv(config: InferConfig, device: str, index: int, count: int, out_root: Path,
                 dirname: str) -> list[str]:
    argv = [sys.executable, "-m", "infer", "--model", str(config.model), "--device", device,
            "--output", str(out_root), "--output_dirname", dirname, "--outfmt", config.outfmt,
            "--loop", str(config.loop), "--warmup_count", str(config.warmup_count),
            "--time_limit", str(config.time_limit), "--stable_ci", str(config.stable_ci),
            "--summary_name", device_part_summary_name(dirname, device), "--io", config.io,
            "--io_workers", str(config.io_workers), "--no-progress"]
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


def run_multi_device(config: InferConfig) -> InferSummary:
    devices = _devices(config.device)
    _refuse_one_device_options(config, devices)
    _refuse_devices_left_idle(config, devices)
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
    workers: list[Worker] = []
    try:
        for i, device in enumerate(devices):
            workers.append(Worker.start(_worker_argv(config, device, i, len(devices), out_root, dirname), device))
        _await_ready(workers)
        for worker in workers:
            worker.barrier.go()
        _await_exit(workers)
    finally:
        for worker in workers:
            worker.stop()
    wall = time.perf_counter() - start
    parts = [InferSummary.read_file(out_root / device_part_summary_name(dirname, d)) for d in devices]
    merged = merge(parts, devices, wall, barrier=True)
    if config.warmup_count == 0:  # engines that prepare on their first batch do it inside the loops, after go
        unwarmed = ("--warmup_count 0: each device prepared its engine on its first timed batches, after the start "
                    "barrier, so the loops did not run inference side by side from their start")
        merged.extra["warning"] = "; ".join(filter(None, [merged.extra.get("warning"), unwarmed]))
        print(f"[WARN] {unwarmed}")
    for device, part in zip(devices, parts):
        print(f"[INFO] device {device}: compute-only {part.throughput['compute_only']:.2f} img/s, "
              f"end-to-end {part.throughput['end_to_end']:.2f} img/s")
    skew = merged.throughput.get("loop_start_skew_s")
    if skew is not None:
        print(f"[INFO] the {len(devices)} timed loops started within {skew:.3f} s of each other")
    print(f"[INFO] summary throughput: {merged.throughput['compute_only']:.2f} img/s compute-only "
          f"(sum of {len(devices)} devices), {merged.throughput['end_to_end']:.2f} img/s end-to-end")
    return merged


class WorkerFailed(TargetError):
    """A device's worker exited with an error: the run exits with the worker's code where it is one of ours."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


STOP_GRACE_S = 5.0  # a worker told to stop has this long to leave before it is killed
POLL_S = 0.05


@dataclass
class Worker:
    """One device's `python -m infer` process, its output kept in an unnamed file (read when it fails), and the
    parent's end of its start barrier."""

    device: str
    proc: subprocess.Popen
    log: IO[bytes]
    barrier: ParentEnd

    @classmethod
    def start(cls, argv: list[str], device: str) -> "Worker":
        barrier = ParentEnd.open()
        log = tempfile.TemporaryFile(prefix="infer-worker-")
        try:
            # killed with this process: only it holds the directory's lock, so an orphan would write beside the
            # next run
            # unbuffered: its lines reach the log in the order printed, so the last is its error line
            proc = subprocess.Popen(argv + ["--start_barrier", barrier.flag], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, pass_fds=barrier.child_fds,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=killed_with_parent)
        except BaseException:
            barrier.close()
            log.close()
            raise
        barrier.started()
        return cls(device, proc, log, barrier)

    def failure(self) -> WorkerFailed | None:
        """None while it runs or after it succeeded; else the error to stop the run with, in the worker's words."""
        code = self.proc.poll()
        if code is None or code == 0:
            return None
        if code < 0:
            why, exit_code = f"killed by {signal_name(-code)}", TargetError.exit_code
        else:
            why, exit_code = self.last_line(), code if 2 <= code <= 10 else TargetError.exit_code
        return WorkerFailed(f"device {self.device}: worker failed ({why})", exit_code)

    def last_line(self) -> str:
        """The worker's error line (the last one that starts `error:`), else its last line."""
        self.log.seek(0)
        lines = [line.strip() for line in self.log.read().decode("utf-8", "replace").splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        return (errors or lines or ["no output"])[-1]

    def stop(self) -> None:
        """Close the barrier (a waiting worker leaves by itself), then SIGTERM, then SIGKILL; never an orphan."""
        self.barrier.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _await_ready(workers: list[Worker]) -> None:
    """Until every worker said ready (or finished without a timed loop to wait for); the first that fails stops the
    run with its error. A worker's exit is seen at once by the end of its ready pipe, and also by polling its
    process (its own children might hold the pipe open for a moment)."""
    waiting = {w.barrier.ready_read: w for w in workers}
    with selectors.DefaultSelector() as selector:
        for fd in waiting:
            selector.register(fd, selectors.EVENT_READ)
        while waiting:
            for key, _ in selector.select(timeout=POLL_S * 4):
                worker = waiting[key.fd]
                if worker.barrier.read_ready():
                    selector.unregister(key.fd)
                    del waiting[key.fd]
                    continue
                selector.unregister(key.fd)
                _raise_when_failed(worker, wait=True)
                del waiting[key.fd]  # it finished without a timed loop: nothing to wait for
            for worker in workers:  # one that is ready may die while it waits for the others
                _raise_when_failed(worker, wait=False)


def _raise_when_failed(worker: Worker, wait: bool) -> None:
    if wait:
        try:
            worker.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            raise WorkerFailed(f"device {worker.device}: worker closed its start signal without being ready "
                               f"({worker.last_line()})", TargetError.exit_code) from None
    failure = worker.failure()
    if failure is not None:
        raise failure


def _await_exit(workers: list[Worker]) -> None:
    """Until every worker has exited; the first that fails stops the others (their figures would be a partial run)."""
    running = list(workers)
    while running:
        for worker in list(running):
            failure = worker.failure()
            if failure is not None:
                raise failure
            if worker.proc.returncode == 0:
                running.remove(worker)
        if running:
            time.sleep(POLL_S)




def timed_loops(parts: list[InferSummary]) -> list[tuple[float, float]] | None:
    """Each part's timed loop (start, end) in seconds, where every part recorded its loop on the monotonic clock of
    one boot of one machine (extra.timed_loop); else None."""
    loops = [p.extra.get("timed_loop") for p in parts]
    if not all(isinstance(loop, dict) for loop in loops):
        return None
    boots = {loop.get("boot_id") for loop in loops}
    if len(boots) != 1 or None in boots:
        return None
    try:
        return [(float(loop["monotonic_start_s"]), float(loop["monotonic_end_s"])) for loop in loops]
    except (KeyError, TypeError, ValueError):
        return None


def timed_span(parts: list[InferSummary]) -> float | None:
    """Seconds from the first part's timed loop start to the last one's end, where they share a clock; else None."""
    loops = timed_loops(parts)
    return None if loops is None else max(e for _, e in loops) - min(s for s, _ in loops)


SIDE_BY_SIDE_SHARE = 0.9  # loops ran at once when all of them ran together for this share of the shortest one


def ran_side_by_side(loops: list[tuple[float, float]] | None) -> bool:
    """Whether the devices drew power at once: only then is the sum of their peaks a bound of a simultaneous peak."""
    if not loops:
        return False
    together = min(e for _, e in loops) - max(s for s, _ in loops)
    shortest = min(e - s for s, e in loops)
    return together > 0 and together >= SIDE_BY_SIDE_SHARE * shortest


def merge(parts: list[InferSummary], devices: list[str], wall: float, barrier: bool = False) -> InferSummary:
    """`barrier`: the workers started their timed loops together (the parent's start barrier)."""
    first = parts[0]
    compute = [ms for p in parts for ms in p.compute_ms]
    images = sum(p.num_inputs for p in parts)
    runs = int(first.extra.get("runs_per_input", 1))  # dataset --loop N: each input ran N times, on every device
    longest = max(p.throughput.get("wall_s", 0.0) for p in parts)
    loops = timed_loops(parts)
    span = timed_span(parts)
    loops_wall = span if span is not None else longest
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
        "end_to_end": end_to_end_throughput(images * runs, loops_wall),
        "wall_s": loops_wall, "longest_device_wall_s": longest, "process_wall_s": wall,
        "per_device": {d: p.throughput for d, p in zip(devices, parts)},
    }
    if loops is not None:  # how far apart the loops began: what the barrier left of the devices' start times
        merged.throughput["loop_start_skew_s"] = max(s for s, _ in loops) - min(s for s, _ in loops)
    merged.energy = merge_energy([p.energy for p in parts], devices, span, ran_side_by_side(loops))
    labelled = {k: first.extra[k] for k in ("labels", "random_weights", "preprocess_mismatch", "calibration_left_out",
                                            "calibration_overlap", "runs_per_input", "target_options")
                if k in first.extra}
    merged.extra = {"devices": devices, "per_device_engine": {d: p.engine for d, p in zip(devices, parts)},
                    "end_to_end_wall": END_TO_END_WALL_SPAN if span is not None else END_TO_END_WALL_LONGEST,
                    "start_barrier": barrier, **labelled}
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

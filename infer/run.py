"""Open the artifact convert built, run one of the loops, write outputs and summary.json."""
from __future__ import annotations

import time
from pathlib import Path

from harness.contracts import ConvertManifest, InferSummary
from harness.errors import InputError
from harness.files import ensure_writable_dir, write_json
from harness.stats import summarize_ms, throughput
from infer.cli import InferConfig
from infer.dataset import list_bin_files
from infer.loop import LoopResult, run_dataset, run_pure
from infer.resume import unfinished
from targets import get_target


def load_model_dir(model: Path) -> tuple[ConvertManifest, Path]:
    """Accept the convert directory or the artifact inside it."""
    directory = model if model.is_dir() else model.parent
    if not model.exists():
        raise InputError(f"{model}: not found; pass the convert output directory with --model")
    manifest = ConvertManifest.read(directory)
    artifact = model if model.is_file() else directory / Path(manifest.artifact).name
    if not artifact.exists():
        raise InputError(f"{artifact}: artifact listed in convert.json is missing; rerun convert")
    return manifest, artifact


def pick_batch_size(config: InferConfig, manifest: ConvertManifest) -> int:
    if config.batchsize:
        return config.batchsize
    return manifest.batch_sizes[0] if manifest.batch_sizes else 1


def result_dir(config: InferConfig) -> Path | None:
    if config.output is None:
        if config.output_dirname:
            raise InputError("--output_dirname needs --output")
        return None
    name = config.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    directory = ensure_writable_dir(config.output / name)
    for stale in directory.glob(".*.tmp"):  # left by a killed run; its files are written again
        stale.unlink(missing_ok=True)
    return directory


def run(config: InferConfig) -> InferSummary:
    if "," in config.device:
        from infer.multi import run_multi_device

        return run_multi_device(config)
    manifest, artifact = load_model_dir(config.model)
    options = {**manifest.target_info.get("options", {}), **config.options}
    target = get_target(manifest.target, **options)
    batch_size = pick_batch_size(config, manifest)
    out_dir = result_dir(config)
    with target.open(artifact, manifest, config.device) as session:
        if config.input is not None:
            files = list_bin_files(config.input, session.inputs()[0])
            skipped = 0
            if out_dir is not None and config.shard is None:
                files, skipped = unfinished(files, out_dir, config.summary_name, config.outfmt,
                                            session.outputs())
            result = run_dataset(session, files, batch_size, out_dir, config.outfmt, config.warmup_count,
                                 _shard(config.shard), config.progress, config.io)
        else:
            result = run_pure(session, batch_size, config.loop, config.warmup_count,
                              config.time_limit, config.stable_ci)
        summary = build_summary(config, manifest, artifact, session, batch_size, result)
        if config.input is not None and skipped:
            summary.extra["resumed_after"] = skipped
    if out_dir is not None:
        write_json(out_dir / config.summary_name, summary.to_dict())
    print_summary(summary, config.display_all_summary, out_dir)
    return summary


def _shard(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 1)
    index, _, count = text.partition("/")
    return int(index), int(count)


def build_summary(config: InferConfig, manifest: ConvertManifest, artifact: Path, session, batch_size: int,
                  result: LoopResult) -> InferSummary:
    timings = session.timings
    phases = {"compute": [t.compute_ms for t in timings], "e2e": [t.e2e_ms for t in timings if t.e2e_ms]}
    for phase in ("h2d", "d2h"):
        values = [getattr(t, f"{phase}_ms") for t in timings if getattr(t, f"{phase}_ms") is not None]
        if values:
            phases[phase] = values
    stats = {name: summarize_ms(values) for name, values in phases.items()}
    compute_mean = stats["compute"].get("mean", 0.0)
    e2e = result.images / result.wall_s if result.wall_s > 0 else 0.0
    from harness.perf import fps_stats, host_peak_rss_mib, stability

    extra = {"fps": fps_stats(phases["compute"], batch_size), "host_peak_rss_mib": host_peak_rss_mib(),
             "warning": stability(stats["compute"], target=manifest.target)}
    if result.io:
        extra["io"] = result.io
    if result.phases:
        extra["loop_seconds"] = result.phases
    return InferSummary(
        target=manifest.target, device=config.device, artifact=str(artifact), model=manifest.model,
        precision=manifest.precision, batch_size=batch_size,
        mode="dataset" if config.input is not None else "pure", outfmt=config.outfmt,
        outputs=[{"name": o.name, "shape": list(o.sample_shape), "dtype": o.dtype}
                 for o in session.outputs()],
        num_inputs=result.images, num_batches=result.batches, padded_slots=result.padded_slots,
        timings=stats,
        throughput={"compute_only": throughput(batch_size, compute_mean), "end_to_end": e2e,
                    "wall_s": result.wall_s},
        engine=session.info(), environment=_environment(), files=result.files,
        compute_ms=phases["compute"], extra=extra)


def _environment() -> dict:
    from harness.perf import environment

    return environment()


def print_summary(summary: InferSummary, show_transfers: bool, out_dir: Path | None) -> None:
    """ais_bench's Performance Summary lines, then the harness's own end-to-end figure."""
    def line(label: str, phase: str) -> None:
        s = summary.timings.get(phase, {})
        if s.get("count"):
            print(f"[INFO] {label} (ms): min = {s['min']:.4f}, max = {s['max']:.4f}, mean = {s['mean']:.4f}, "
                  f"median = {s['median']:.4f}, percentile(99%) = {s['p99']:.4f}")

    print("[INFO] -----------------Performance Summary------------------")
    if show_transfers:
        line("H2D_latency", "h2d")
    line("NPU_compute_time" if summary.target == "ascend" else "compute_time", "compute")
    if show_transfers:
        line("D2H_latency", "d2h")
    mean = summary.timings.get("compute", {}).get("mean", 0.0)
    # Same wording as ais_bench so log scrapers that take the last token keep working.
    print(f"[INFO] throughput 1000*batchsize({summary.batch_size})/compute_time.mean({mean:.4f}): "
          f"{summary.throughput['compute_only']:.2f}")
    print(f"[INFO] compute-only throughput: {summary.throughput['compute_only']:.2f} img/s "
          f"({summary.engine.get('device_name', summary.target)})")
    print(f"[INFO] end-to-end throughput: {summary.throughput['end_to_end']:.2f} img/s over "
          f"{summary.num_inputs} inputs in {summary.throughput['wall_s']:.3f} s (host walltime)")
    if summary.extra.get("warning"):
        print(f"[WARN] {summary.extra['warning']}")
    print("[INFO] ------------------------------------------------------")
    if out_dir is not None:
        print(f"[INFO] results: {out_dir}")

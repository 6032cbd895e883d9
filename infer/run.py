"""Open the artifact convert built (or a bare OM), run one of the loops, write outputs and the run summary.

The summary goes beside the result directory, `<output>/<dirname>_summary.json`, as ais_bench writes its
own: the result directory holds outputs only.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.contracts import ConvertManifest, InferSummary, PreprocessManifest, run_summary_path
from harness.energy_summary import energy_line, summarize_energy
from harness.errors import DeviceOutOfMemory, InputError
from harness.files import ensure_writable_dir, remove_leftover_temporaries, stem_of, write_json
from harness.recipe_check import RANDOM_WEIGHTS_NOTE, check_recipe, is_random_weights
from harness.bytecode import bytecode_cached
from harness.startup import age_at, begin_run, mark, marks
from harness.stats import PADDED_SHARE_SHOWN, compute_only_throughput, end_to_end_throughput, padded_share, summarize_ms
from harness.vocabulary import InputForm, RunMode
from infer.ais_bench_flags import given_target_options
from infer.barrier import StartBarrier
from infer.cli import InferConfig
from infer.dataset import list_bin_files, preprocess_dir
from infer.loop import LoopResult, run_dataset, run_pure
from infer.model_source import load_model
from infer.readers import io_workers
from infer import run_record
from infer.resume import output_entries, resume_or_replace
from targets import target_for_artifact


def requested_batch(config: InferConfig, manifest: ConvertManifest) -> int | None:
    """--dymBatch, else --batchsize, else the artifact's first; None when none says (the session's own then)."""
    return config.dym_batch or config.batchsize or (manifest.batch_sizes[0] if manifest.batch_sizes else None)


def pick_batch_size(config: InferConfig, manifest: ConvertManifest, session) -> int:
    """--dymBatch, else --batchsize, else the artifact's; a static artifact takes its own size only."""
    batch = config.dym_batch or config.batchsize
    static = session.batch_sizes()
    if not batch:
        return requested_batch(config, manifest) or (static or [1])[0]
    declared = manifest.accepted_batches()
    if not static and declared and not manifest.dynamic_batch:
        static = [declared[0]]  # a static build takes its own size, whatever the runtime would accept
    if static and batch not in static:
        raise InputError(f"--batchsize {batch}: {config.model} takes batch {' or '.join(map(str, static))} only; "
                         "drop the flag or convert for this batch size")
    if declared and not declared[0] <= batch <= declared[1]:
        raise InputError(f"--batchsize {batch}: {config.model} was built for batch {declared[0]} to "
                         f"{declared[1]}; pick one in that range or convert with --batches covering {batch}")
    return batch


def result_dir(config: InferConfig) -> Path | None:
    if config.output is None:
        if config.output_dirname:
            raise InputError("--output_dirname needs --output")
        return None
    name = config.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    directory = ensure_writable_dir(config.output / name)
    remove_leftover_temporaries(directory)
    return directory


def summary_file(config: InferConfig, out_dir: Path) -> Path:
    return out_dir.parent / config.summary_name if config.summary_name else run_summary_path(out_dir)


def run(config: InferConfig) -> InferSummary:
    entered = time.perf_counter()
    begin_run()
    mark("run", entered)
    if "," in config.device:
        from infer.multi import run_multi_device

        return run_multi_device(config)
    barrier = StartBarrier.from_flag(config.start_barrier)  # first: before any child could inherit its pipes
    manifest, artifact = load_model(config.model, config.dym_batch)
    mark("artifact checked")
    mismatch = preprocess_mismatch(config, manifest)
    given = given_target_options(config.ais_bench_flags, manifest.target, config.options)
    target = target_for_artifact(manifest.target, manifest.target_info.get("options", {}), given)
    out_dir = result_dir(config)
    mark("target ready")
    idle = target.idle_state(config.device)
    mark("idle checked")
    if idle.idle is False:
        print(f"[WARN] {idle.warning()}", flush=True)
    try:
        summary = _run_session(config, manifest, artifact, target, out_dir, mismatch, barrier)
    except BaseException as exc:
        if out_dir is not None and isinstance(exc, DeviceOutOfMemory):
            from infer.out_of_memory import write_out_of_memory

            write_out_of_memory(summary_file(config, out_dir), exc, manifest, artifact, config.device)
        if out_dir is not None and keeps_record(config):
            run_record.abandon(out_dir)
        raise
    summary.extra["device_idle"] = idle.to_dict()
    summary.extra["startup"]["process_age_at_run_s"] = age_at(entered)
    summary.extra["startup"]["python_bytecode_cached"] = bytecode_cached()
    summary.extra["startup"]["pycache_prefix"] = sys.pycache_prefix  # set by harness/bytecode.py, or the user
    summary.extra["startup"]["marks"] = marks()  # the process's age at each step of its start, in seconds
    summary.extra["target_options"] = target.resolved_options().record()
    if idle.idle is False:
        summary.extra["warning"] = "; ".join(w for w in (summary.extra.get("warning"), idle.warning()) if w)
    if out_dir is not None:
        write_json(summary_file(config, out_dir), summary.to_dict())
        if keeps_record(config):
            run_record.finish(out_dir)
    print_summary(summary, config.display_all_summary, out_dir)
    return summary


def _run_session(config: InferConfig, manifest: ConvertManifest, artifact: Path, target, out_dir: Path | None,
                 mismatch: dict, barrier: StartBarrier | None = None):
    before_loop = barrier.wait if barrier is not None else None
    opening = time.perf_counter()
    with target.open(artifact, manifest, config.device, batch_hint=requested_batch(config, manifest)) as session:
        opened = time.perf_counter()
        mark("session open", opened)
        batch_size = pick_batch_size(config, manifest, session)
        if config.input is not None:
            files, calibration = split_calibration(list_bin_files(config.input, session.inputs()[0]), manifest,
                                                   config.score_calibration_images)
            if calibration.get("calibration_left_out"):
                print(f"infer: {len(calibration['calibration_left_out'])} inputs calibrated the int8 model and are "
                      "left out of this run (--score-calibration-images keeps them)", flush=True)
            done: list[Path] = []
            if out_dir is not None and keeps_record(config):
                identity = run_record.run_identity(manifest, artifact, config.input, files, config.outfmt,
                                                   session.outputs(), batch_size, target.resolved_options().record())
                todo, _ = resume_or_replace(files, out_dir, summary_file(config, out_dir), config.outfmt,
                                            session.outputs(), identity)
                done, files = [f for f in files if f not in set(todo)], todo
            result = run_dataset(session, files, batch_size, out_dir, config.outfmt, config.warmup_count,
                                 _shard(config.shard), config.progress, config.io, config.loop,
                                 config.io_workers, before_loop)
        else:
            result = run_pure(session, batch_size, config.loop, config.warmup_count,
                              config.time_limit, config.stable_ci, before_loop)
        mark("first timed batch", result.started_at)
        summary = build_summary(config, manifest, artifact, session, batch_size, result)
        summary.extra["startup"] = {"session_open_s": round(opened - opening, 2),
                                    "process_age_at_first_timed_batch_s": age_at(result.started_at)}
        if config.input is not None:
            summary.extra.update(calibration)
        add_run_labels(summary, manifest, mismatch)
        if config.input is not None and done:
            # the summary describes the directory: every input's outputs; its timings, the inputs this process ran
            summary.extra["resumed_after"] = len(done)
            summary.files = output_entries(done, config.outfmt, len(summary.outputs)) + summary.files
    return summary


def keeps_record(config: InferConfig) -> bool:
    """A dataset run keeps the record of its result directory (infer/run_record.py); the workers of a
    `--device 0,1` run leave it to the parent that holds the directory."""
    return config.input is not None and config.shard is None


def preprocess_mismatch(config: InferConfig, manifest: ConvertManifest) -> dict:
    """The recipe of the preprocess.json that describes --input (a directory, or the one beside the listed
    files) against the model's data config: refused, or accepted and returned."""
    directory = preprocess_dir(config.input) if config.input is not None else None
    if directory is None:
        return {}
    recipe = PreprocessManifest.read(directory).recipe
    return check_recipe(directory, recipe, manifest.model, manifest.data_config, config.accept_preprocess_mismatch)


def split_calibration(files: list[Path], manifest: ConvertManifest, keep: bool) -> tuple[list[Path], dict]:
    """Leave out the inputs an int8 model was calibrated on (by stem), or keep them and say which they are."""
    stems = set((manifest.target_info.get("precision_onnx") or {}).get("calibration_stems") or [])
    calibrated = sorted(stem_of(path) for path in files if stem_of(path) in stems)
    if not calibrated:
        return files, {}
    if keep:
        return files, {"calibration_overlap": calibrated}
    if len(calibrated) == len(files):
        raise InputError("every input calibrated the int8 model, so none is left to score; pass other images "
                         "with --input, or --score-calibration-images to score them anyway")
    left_out = set(calibrated)
    return [path for path in files if stem_of(path) not in left_out], {"calibration_left_out": calibrated}


def add_run_labels(summary: InferSummary, manifest: ConvertManifest, mismatch: dict) -> None:
    """What the numbers of this run do not mean, said in the summary the report and postprocess read."""
    labels = []
    if is_random_weights(manifest.source):
        summary.extra["random_weights"] = True
        labels.append(RANDOM_WEIGHTS_NOTE)
    if mismatch:
        summary.extra["preprocess_mismatch"] = mismatch
        labels.append(f"preprocess mismatch ({', '.join(mismatch)})")
    overlap = summary.extra.get("calibration_overlap") or []
    if overlap:
        labels.append(f"calibration overlap: {len(overlap)} of {summary.num_inputs} scored images calibrated "
                      "the int8 model")
    labels += (manifest.target_info.get("precision_onnx") or {}).get("labels") or []  # convert's, e.g. calibration
    if labels:
        summary.extra["labels"] = labels
        for label in labels:
            print(f"[WARN] {label}")


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
    from harness.perf import fps_stats, host_peak_rss_mib, host_time_in_compute, host_time_warning, stability

    engine = session.info()
    # float32 CHW, or uint8 HWC normalised by the model's first op (convert/input_form.py): the report labels it
    engine.setdefault("input_form", (manifest.data_config.get("input_form") or {}).get("form", InputForm.FLOAT32))
    host_in_compute = host_time_in_compute(timings)
    median_ci = result.median_ci95
    warnings = [w for w in (stability(stats["compute"], target=manifest.target),
                            resolution_warning(engine, stats["compute"]), host_time_warning(host_in_compute),
                            padding_warning(result, batch_size), median_ci_warning(median_ci),
                            unwarmed_warning(config)) if w]
    extra = {"fps": fps_stats(phases["compute"], batch_size), "host_peak_rss_mib": host_peak_rss_mib(),
             "warning": "; ".join(warnings)}
    if median_ci:
        extra["median_ci95"] = median_ci
    if result.runs_per_input > 1:
        extra["runs_per_input"] = result.runs_per_input
    extra["timed_loop"] = result.clock_record()
    if host_in_compute is not None:
        extra["host_in_compute"] = host_in_compute
    if result.io:
        extra["io"] = result.io
        if result.io == "processes":
            extra["io_workers"] = io_workers(config.io_workers)
    if result.phases:
        extra["loop_seconds"] = result.phases
    precision = (engine.get("effective_precision") or manifest.target_info.get("effective_precision")
                 or manifest.precision)
    return InferSummary(
        target=manifest.target, device=config.device, artifact=str(artifact), model=manifest.model,
        precision=precision, requested_precision=manifest.precision, batch_size=batch_size,
        mode=RunMode.DATASET if config.input is not None else RunMode.PURE, outfmt=config.outfmt,
        device_name=str(engine.get("device_name") or ""),
        outputs=[{"name": o.name, "shape": list(o.sample_shape), "dtype": o.dtype}
                 for o in session.outputs()],
        num_inputs=result.images, num_batches=result.batches, padded_slots=result.padded_slots,
        timings=stats,
        throughput={"compute_only": compute_only_throughput(batch_size, compute_mean),
                    "end_to_end": end_to_end_throughput(result.timed_images, result.wall_s),
                    "wall_s": result.wall_s},
        engine=engine, environment=_environment(), files=result.files,
        compute_ms=phases["compute"], energy=summarize_energy(result.energy, result.timed_images).to_dict(),
        extra=extra)


def padding_warning(result: LoopResult, batch_size: int) -> str:
    """Compute-only divides batch rows by compute time (ais_bench's formula), padded rows included: say so
    where they are more than a trace of the rows."""
    share = padded_share(result.padded_slots, result.batches, batch_size)
    if share <= PADDED_SHARE_SHOWN:
        return ""
    real = result.batches * batch_size - result.padded_slots
    return (f"compute-only counts padded rows, as ais_bench's formula does: {result.padded_slots} of "
            f"{result.batches * batch_size} rows ({share * 100:.1f}%) were padding of a last partial batch, so "
            f"real images went through at {real / (result.batches * batch_size) * 100:.1f}% of that rate")


def unwarmed_warning(config: InferConfig) -> str:
    """--warmup_count 0: the first timed batches pay for the engine's first run. A --device 0,1 worker leaves it to
    the parent, which says it once for all devices (infer/multi.py)."""
    if config.warmup_count > 0 or config.shard is not None or config.summary_name:
        return ""
    return ("--warmup_count 0: no untimed batch ran first, so the timed batches include the engine's first-run "
            "preparation (memory allocation, tuning, lazy compilation); keep at least 1 warm-up batch to time the "
            "steady state")


def median_ci_warning(median_ci: dict | None) -> str:
    """Pure mode with --stable_ci: the time limit ended the loop before the median was as stable as asked."""
    from harness.summary_views import half_width_text

    if not median_ci or median_ci["stable"]:
        return ""
    if median_ci["reached"] is None:
        seen = f"could not be measured ({median_ci['batches']} timed batches; it takes 6)"
    else:
        seen = f"is {half_width_text(median_ci['reached'])} after {median_ci['batches']} batches"
    return (f"the median compute time did not become stable: its 95% confidence interval {seen}, --stable_ci "
            f"asked for {half_width_text(median_ci['asked'])}; raise --time_limit")


def resolution_warning(engine: dict, compute: dict) -> str:
    """Runtimes whose timestamps are coarse (float32 ms since session creation) say so when it matters."""
    resolution, median = engine.get("timestamp_resolution_ms") or 0.0, compute.get("median") or 0.0
    if median > 0 and resolution > 0.01 * median:
        return (f"the runtime's timestamps had a resolution of {resolution:.4g} ms, more than 1% of the median "
                f"compute time ({median:.4g} ms): per-batch times are that coarse")
    return ""


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
    if summary.percentile_label:
        print(f"[INFO] percentile(99%): {summary.percentile_label}")
    if show_transfers:
        line("D2H_latency", "d2h")
    mean = summary.timings.get("compute", {}).get("mean", 0.0)
    # Same wording as ais_bench so log scrapers that take the last token keep working.
    print(f"[INFO] throughput 1000*batchsize({summary.batch_size})/compute_time.mean({mean:.4f}): "
          f"{summary.throughput['compute_only']:.2f}")
    print(f"[INFO] compute-only throughput: {summary.throughput['compute_only']:.2f} img/s "
          f"({summary.device_name or summary.target})")
    runs = summary.extra.get("runs_per_input", 1)
    print(f"[INFO] end-to-end throughput: {summary.throughput['end_to_end']:.2f} img/s over "
          f"{summary.num_inputs} inputs{f' run {runs} times each (--loop)' if runs > 1 else ''} in "
          f"{summary.throughput['wall_s']:.3f} s (host walltime)")
    print(energy_line(summary.energy))
    if summary.extra.get("warning"):
        print(f"[WARN] {summary.extra['warning']}")
    print("[INFO] ------------------------------------------------------")
    if out_dir is not None:
        print(f"[INFO] results: {out_dir}")

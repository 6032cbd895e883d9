"""What happens around a run: one run per result directory, a finished run not redone, no empty
result directory left by a failed one."""
from __future__ import annotations

import json
import time

from harness.contracts import InferSummary, infer_in_progress
from harness.errors import HarnessError
from harness.locks import claimed_output_dir
from infer.ais_bench_flags import given_target_options
from infer.cli import InferConfig
from infer.dataset import list_bin_files
from infer.resume import finished_run
from infer.model_source import load_model
from infer.run import run, split_calibration, summary_file
from targets import target_for_artifact


def already_done(config: InferConfig) -> InferSummary | None:
    """The summary of an unchanged finished dataset run in the result directory (unless --force)."""
    out_dir = config.output / config.output_dirname
    path = summary_file(config, out_dir)
    if config.force or config.input is None or not path.exists() or infer_in_progress(out_dir):
        return None
    try:
        manifest, artifact = load_model(config.model, config.dym_batch)
        inputs, _ = split_calibration(list_bin_files(config.input, manifest.input, quiet=True), manifest,
                                      config.score_calibration_images)
        options = target_options(config, manifest)
    except HarnessError:  # the run itself says what is wrong, in its own words
        return None
    summary = finished_run(out_dir, path, inputs, artifact, config.outfmt, config.dym_batch or config.batchsize,
                           config.device, options, config.loop)
    if summary is not None:
        print(f"[INFO] {out_dir}: these {len(inputs)} inputs already have their outputs from this model "
              f"({path.name}); nothing to do, pass --force to run again")
    return summary


def target_options(config: InferConfig, manifest) -> dict:
    """The target options this run would record (summary.json extra.target_options), as read back from JSON."""
    given = given_target_options(config.ais_bench_flags, manifest.target, config.options)
    target = target_for_artifact(manifest.target, manifest.target_info.get("options", {}), given)
    return json.loads(json.dumps(target.resolved_options().record(), default=str))


def device_worker(config: InferConfig) -> bool:
    """One of the processes a `--device 0,1` run starts (infer/multi.py gives each its own summary name,
    and a shard of the inputs): the parent run holds their directory."""
    return config.shard is not None or bool(config.summary_name)


def guarded_run(config: InferConfig) -> InferSummary:
    if config.output is None or device_worker(config):
        return run(config)
    config.output_dirname = config.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    with claimed_output_dir(config.output / config.output_dirname, "infer"):
        return already_done(config) or run(config)

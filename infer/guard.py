"""What happens around a run: one run per result directory, a finished run not redone, no empty
result directory left by a failed one."""
from __future__ import annotations

import time

from harness.contracts import InferSummary
from harness.errors import HarnessError
from harness.locks import claimed_output_dir
from infer.cli import InferConfig
from infer.dataset import list_bin_files
from infer.resume import finished_run, summary_path
from infer.run import load_model_dir, run


def already_done(config: InferConfig) -> InferSummary | None:
    """The summary of an unchanged finished dataset run in the result directory (unless --force)."""
    out_dir = config.output / config.output_dirname
    if config.force or config.input is None or not summary_path(out_dir, config.summary_name).exists():
        return None
    try:
        manifest, artifact = load_model_dir(config.model)
        inputs = list_bin_files(config.input, manifest.input)
    except HarnessError:  # the run itself says what is wrong, in its own words
        return None
    summary = finished_run(out_dir, config.summary_name, inputs, artifact, config.outfmt, config.batchsize)
    if summary is not None:
        print(f"[INFO] {out_dir}: these {summary.num_inputs} inputs already have their outputs from this model "
              f"({summary_path(out_dir, config.summary_name).name}); nothing to do, pass --force to run again")
    return summary


def guarded_run(config: InferConfig) -> InferSummary:
    if config.output is None or config.shard is not None:  # a shard's directory is held by its parent run
        return run(config)
    config.output_dirname = config.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    with claimed_output_dir(config.output / config.output_dirname, "infer"):
        return already_done(config) or run(config)

"""A result directory holds the outputs of one run: a rerun resumes only what the same run wrote, a replacing
run removes the previous run's summary and results first, and postprocess scores finished runs only.

Interrupted runs are made deterministically: a disk full at one output stops the run there, leaving what a
kill leaves (some outputs and the run's record, no summary)."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import numpy as np
import pytest

import tests.conftest as conftest
from harness.contracts import run_summary_path
from harness.outputs import read_outputs
from harness.contracts import INFER_RECORD_NAME
from tests.conftest import make_convert_dir, write_bins
from tests.faults.helpers import assert_clean_failure, fault_cli, full_disk_cli

COUNT = 12
ORIGINAL_ONNX = conftest.tiny_classifier_onnx


def shifted_bias_onnx(path: Path, size: int = 8, classes: int = 10, seed: int = 0):
    """The tiny classifier with its class-0 bias raised so far that it predicts class 0 for every input."""
    import onnx
    from onnx import numpy_helper

    weight, bias = ORIGINAL_ONNX(path, size, classes, seed)
    model = onnx.load(path)
    for index, init in enumerate(model.graph.initializer):
        if init.name == "B":
            shifted = (bias + np.eye(classes)[0] * 1e4).astype(np.float32)
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(shifted, "B"))
    onnx.save(model, path)
    return weight, bias


def infer_args(work: Path, model: str, dirname: str = "run", *extra: str) -> list[str]:
    return ["-m", "infer", "--model", str(work / model), "--input", str(work / "bins"), "--output",
            str(work / "res"), "--output_dirname", dirname, "--outfmt", "TXT", "--io", "threads", "--no-progress",
            *extra]


def postprocess(work: Path, dirname: str = "run", *extra: str):
    return fault_cli(f"postprocess: {dirname}", "-m", "postprocess", "--result", str(work / "res" / dirname),
                     "--labels", str(work / "labels.txt"), *extra, base=work)


def top1(work: Path, dirname: str = "run") -> str:
    proc = postprocess(work, dirname)
    assert proc.returncode == 0, proc.stderr
    table = json.loads((work / "res" / dirname / "result.json").read_text())
    return next(item["value"] for item in table["value"] if item["key"] == "Top1 accuracy")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Model A, model B (predicts class 0 only), their inputs, labels that are A's predictions, and each
    model's top-1 when it runs alone."""
    work = tmp_path_factory.mktemp("models")
    make_convert_dir(work / "A", batch=2)
    conftest.tiny_classifier_onnx = shifted_bias_onnx
    try:
        make_convert_dir(work / "B", batch=2)
    finally:
        conftest.tiny_classifier_onnx = ORIGINAL_ONNX
    write_bins(work / "bins", COUNT)
    for model in ("A", "B"):
        assert fault_cli("infer: one model alone", *infer_args(work, model, f"solo{model}")).returncode == 0
    predicted = {stem: int(np.argmax(v)) for stem, v in read_outputs(work / "res" / "soloA").items()}
    (work / "labels.txt").write_text("".join(f"{stem}.JPEG {cls}\n" for stem, cls in predicted.items()))
    solo = {model: top1(work, f"solo{model}") for model in ("A", "B")}
    assert solo["A"] == "100.0%" and solo["B"] != solo["A"], solo
    (work / "solo.json").write_text(json.dumps(solo))
    return work


@pytest.fixture
def work(models, tmp_path) -> Path:
    for name in ("A", "B", "bins"):
        (tmp_path / name).symlink_to(models / name)
    (tmp_path / "labels.txt").write_text((models / "labels.txt").read_text())
    (tmp_path / "solo.json").write_text((models / "solo.json").read_text())
    return tmp_path


def solo(work: Path, model: str) -> str:
    return json.loads((work / "solo.json").read_text())[model]


def interrupted(work: Path, model: str, case: str) -> None:
    """A run of `model` into res/run stopped part way, as a kill stops it."""
    proc = full_disk_cli(case, "img_5_0.txt", *infer_args(work, model), base=work)
    assert proc.returncode == 9, proc.stderr
    run = work / "res" / "run"
    assert (run / INFER_RECORD_NAME).is_file() and not run_summary_path(run).exists()
    assert 0 < len(list(run.glob("*_0.txt"))) < COUNT


def test_a_run_of_another_model_replaces_the_outputs_an_interrupted_one_left(work):
    interrupted(work, "A", "infer: model A interrupted")
    proc = fault_cli("infer: model B into the directory model A was interrupted in", *infer_args(work, "B"),
                     base=work)
    assert proc.returncode == 0, proc.stderr
    assert "resuming" not in proc.stdout
    line = next(line for line in proc.stdout.splitlines() if "replacing" in line)
    assert line.startswith("[WARN]") and "from another run (other artifact" in line and INFER_RECORD_NAME in line
    assert json.loads(run_summary_path(work / "res" / "run").read_text())["num_inputs"] == COUNT
    assert not (work / "res" / "run" / INFER_RECORD_NAME).exists()
    assert top1(work) == solo(work, "B")


def test_the_same_run_resumes_where_it_stopped(work):
    interrupted(work, "B", "infer: model B interrupted")
    done = len(list((work / "res" / "run").glob("*_0.txt")))
    proc = fault_cli("infer: model B again", *infer_args(work, "B"), base=work)
    assert proc.returncode == 0, proc.stderr
    assert f"resuming an interrupted run: {done} of {COUNT}" in proc.stdout
    assert top1(work) == solo(work, "B")


def test_outputs_without_a_run_record_are_run_again(work):
    assert fault_cli("infer: model A", *infer_args(work, "A"), base=work).returncode == 0
    run = work / "res" / "run"
    run_summary_path(run).unlink()  # what a run killed under an older harness leaves: outputs, nothing else
    (run / "img_7_0.txt").unlink()
    proc = fault_cli("infer: outputs without a run record", *infer_args(work, "B"), base=work)
    assert proc.returncode == 0, proc.stderr
    assert "resuming" not in proc.stdout
    assert f"[WARN] {run}: no {INFER_RECORD_NAME} says which run wrote the outputs there" in proc.stdout
    assert json.loads(run_summary_path(run).read_text())["num_inputs"] == COUNT
    assert top1(work) == solo(work, "B")


def test_an_interrupted_rerun_leaves_no_finished_summary_over_mixed_outputs(work):
    assert fault_cli("infer: model A", *infer_args(work, "A"), base=work).returncode == 0
    assert top1(work) == solo(work, "A")
    run = work / "res" / "run"
    interrupted(work, "B", "infer: model B interrupted over model A's finished run")
    assert not run_summary_path(run).exists()
    assert not list(run.glob("result*.json"))
    assert len(list(run.glob("*_0.txt"))) < COUNT  # model A's outputs went before model B wrote its own
    refused = postprocess(work)
    assert_clean_failure(refused, 3, str(run), "has not finished", "rerun the same infer command")
    assert not (run / "result.json").exists()
    resumed = fault_cli("infer: model B again", *infer_args(work, "B"), base=work)
    assert resumed.returncode == 0 and "resuming an interrupted run" in resumed.stdout, resumed.stderr
    assert top1(work) == solo(work, "B")


def test_a_finished_run_replaced_on_purpose_says_so(work):
    assert fault_cli("infer: model A", *infer_args(work, "A"), base=work).returncode == 0
    proc = fault_cli("infer: model B over model A's finished run", *infer_args(work, "B"), base=work)
    assert proc.returncode == 0, proc.stderr
    assert f"[INFO] {work / 'res' / 'run'}: holds a finished run (run_summary.json); replacing its {COUNT} " \
           "output files" in proc.stdout
    assert top1(work) == solo(work, "B")


def test_postprocess_refuses_a_directory_a_live_run_writes(work):
    assert fault_cli("infer: model A", *infer_args(work, "A"), base=work).returncode == 0
    run = work / "res" / "run"
    with open(run / ".harness.lock", "w") as held:
        held.write(f"{os.getpid()}\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = postprocess(work)
    assert_clean_failure(proc, 10, str(run), f"pid {os.getpid()}", "still writing", "wait for it to finish")
    assert not (run / "result.json").exists()


def test_postprocess_scores_outputs_without_harness_records(work):
    """As ais_bench leaves them: outputs only (and a lock file no live process holds: a killed run's)."""
    assert fault_cli("infer: model A", *infer_args(work, "A"), base=work).returncode == 0
    run = work / "res" / "run"
    run_summary_path(run).unlink()
    (run / ".harness.lock").write_text("999999\n")
    assert top1(work) == solo(work, "A")
    assert (run / ".harness.lock").read_text() == "999999\n"


def test_postprocess_output_that_is_a_directory_or_under_a_file(work):
    assert fault_cli("infer: model A", *infer_args(work, "A"), base=work).returncode == 0
    (work / "adir").mkdir()
    proc = postprocess(work, "run", "--output", str(work / "adir"))
    assert_clean_failure(proc, 3, str(work / "adir"), "is a directory", "--output")
    (work / "afile").write_text("a file")
    proc = postprocess(work, "run", "--output", str(work / "afile" / "o.json"))
    assert_clean_failure(proc, 3, str(work / "afile"), "not a directory", "--output")
    proc = postprocess(work, "run", "--details", str(work / "afile" / "d.json"))
    assert_clean_failure(proc, 3, str(work / "afile"), "not a directory", "--details")
    assert (work / "afile").read_text() == "a file" and not list((work / "adir").iterdir())


def test_the_details_name_the_run_they_scored_and_the_report_pairs_by_it(work):
    from harness.files import sha256_file
    from report.collect import collect

    assert fault_cli("infer: model B", *infer_args(work, "B"), base=work).returncode == 0
    assert top1(work) == solo(work, "B")
    summary = run_summary_path(work / "res" / "run")
    scored = json.loads((work / "res" / "run" / "result_details.json").read_text())["run_summary"]
    assert scored == {"file": summary.name, "sha256": sha256_file(summary)}
    (row,) = [r for r in collect([work / "res"]).accuracy if r.source.endswith("run/result.json")]
    assert (row.images, row.labels) == (COUNT, "")
    summary.write_text(summary.read_text().replace('"num_batches"', '"num_batches" ', 1))  # another run's summary
    (row,) = [r for r in collect([work / "res"]).accuracy if r.source.endswith("run/result.json")]
    assert row.top1 is None and "scored another run" in row.labels

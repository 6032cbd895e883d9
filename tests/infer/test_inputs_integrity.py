"""infer runs exactly the inputs preprocess described: listed files are held to the preprocess.json beside
them, a stem is one input, files preprocess.json does not list are left out, and numeric flags that would
make a loop never stop (or never start) are refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.contracts import ConvertManifest, PreprocessManifest, run_summary_path
from infer.cli import parse_args
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, write_bins

MODEL_CONFIG = {"input_size": 8, "resize": 9, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}
OTHER_RECIPE = {**MODEL_CONFIG, "resize": 10, "interpolation": "bicubic"}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    directory = make_convert_dir(tmp_path_factory.mktemp("model") / "model", batch=2)
    manifest = ConvertManifest.read(directory)
    manifest.data_config = dict(MODEL_CONFIG)
    manifest.write(directory)
    return directory


def preprocessed(directory: Path, count: int, recipe: dict) -> Path:
    write_bins(directory, count)
    files = [{"stem": f"img_{i}", "source": f"/images/img_{i}.JPEG"} for i in range(count)]
    PreprocessManifest(shape=[3, 8, 8], dtype="float32", layout="CHW", recipe=recipe, files=files).write(directory)
    return directory


def infer(model: Path, inputs: str, out: Path, *extra: str):
    return run_cli("-m", "infer", "--model", str(model), "--input", inputs, "--output", str(out),
                   "--output_dirname", "run", "--outfmt", "TXT", "--io", "threads", "--no-progress", *extra)


def listed(directory: Path) -> str:
    return ",".join(str(p) for p in sorted(directory.glob("*.bin")))


def outputs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "run").glob("*_0.txt"))


def test_listed_files_are_held_to_the_recipe_beside_them(model, tmp_path):
    bins = preprocessed(tmp_path / "bins", 4, OTHER_RECIPE)
    as_directory = infer(model, str(bins), tmp_path / "res_dir")
    as_list = infer(model, listed(bins), tmp_path / "res_list")
    for proc in (as_directory, as_list):
        assert_one_line_error(proc, str(bins), "resize 10 (model: 9)", "interpolation bicubic",
                              "--accept-preprocess-mismatch")
        assert proc.returncode == 4
    accepted = infer(model, listed(bins), tmp_path / "res_list", "--accept-preprocess-mismatch")
    assert accepted.returncode == 0, accepted.stderr
    summary = json.loads(run_summary_path(tmp_path / "res_list" / "run").read_text())
    assert set(summary["extra"]["preprocess_mismatch"]) == {"resize", "interpolation"}
    assert "preprocess mismatch (resize, interpolation)" in summary["extra"]["labels"]


def test_listed_files_from_two_directories_are_refused_when_one_has_a_recipe(model, tmp_path):
    bins = preprocessed(tmp_path / "bins", 3, MODEL_CONFIG)
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(bins / "img_2.bin", plain / "other.bin")
    proc = infer(model, f"{bins / 'img_0.bin'},{plain / 'other.bin'}", tmp_path / "res")
    assert_one_line_error(proc, str(bins / "preprocess.json"), "2 directories", "one preprocess output directory")
    assert proc.returncode == 3 and not (tmp_path / "res" / "run").exists()


def test_listed_plain_files_without_a_recipe_run_on_size_alone(model, tmp_path):
    write_bins(tmp_path / "a", 2)
    write_bins(tmp_path / "b", 3, seed=4)
    (tmp_path / "b" / "img_0.bin").rename(tmp_path / "b" / "other.bin")
    proc = infer(model, f"{tmp_path / 'a' / 'img_0.bin'},{tmp_path / 'b' / 'other.bin'}", tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    assert outputs(tmp_path / "res") == ["img_0_0.txt", "other_0.txt"]


def test_two_inputs_of_one_stem_are_refused_naming_both(model, tmp_path):
    bins = preprocessed(tmp_path / "bins", 3, MODEL_CONFIG)
    np.save(bins / "img_1.npy", np.fromfile(bins / "img_1.bin", dtype=np.float32).reshape(3, 8, 8))
    proc = infer(model, str(bins), tmp_path / "res")
    assert_one_line_error(proc, str(bins / "img_1.npy"), str(bins / "img_1.bin"), "same stem 'img_1'",
                          "rename one of them")
    assert proc.returncode == 3 and not (tmp_path / "res" / "run").exists()
    listed_twice = infer(model, f"{bins / 'img_0.bin'},{bins / 'img_0.bin'}", tmp_path / "res")
    assert_one_line_error(listed_twice, "same stem 'img_0'")


def test_files_preprocess_json_does_not_list_are_left_out_with_one_warning(model, tmp_path):
    bins = preprocessed(tmp_path / "bins", 4, MODEL_CONFIG)
    shutil.copy(bins / "img_0.bin", bins / "removed_image.bin")  # the .bin of an image since deleted
    proc = infer(model, str(bins), tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if "does not list" in line]
    assert warnings == [f"[WARN] {bins}: 1 input files that preprocess.json does not list are left out "
                        "(e.g. removed_image.bin, left from an earlier preprocess?)"]
    assert outputs(tmp_path / "res") == [f"img_{i}_0.txt" for i in range(4)]
    summary = json.loads(run_summary_path(tmp_path / "res" / "run").read_text())
    assert summary["num_inputs"] == 4


def test_a_directory_preprocess_has_not_finished_is_refused(model, tmp_path):
    bins = preprocessed(tmp_path / "bins", 4, MODEL_CONFIG)
    (bins / ".preprocess.progress").write_text(json.dumps({"recipe": MODEL_CONFIG}) + "\n")  # a stopped run's
    proc = infer(model, str(bins), tmp_path / "res")
    assert_one_line_error(proc, f"{bins}: preprocess has not finished here (.preprocess.progress is there); rerun "
                                "the same preprocess command to finish it, then infer")
    assert proc.returncode == 3 and not (tmp_path / "res" / "run").exists()


def test_a_file_preprocess_json_lists_but_missing_is_refused(model, tmp_path):
    bins = preprocessed(tmp_path / "bins", 4, MODEL_CONFIG)
    (bins / "img_2.bin").unlink()
    proc = infer(model, str(bins), tmp_path / "res")
    assert_one_line_error(proc, str(bins / "img_2.bin"), "listed in", "preprocess.json", "rerun preprocess")
    assert proc.returncode == 4 and not (tmp_path / "res" / "run").exists()


@pytest.mark.parametrize("flags, needle", [
    (["--time_limit", "nan"], "--time_limit must be a finite number of 0 or more, got nan"),
    (["--time_limit", "inf"], "--time_limit must be a finite number"),
    (["--time_limit", "-1"], "--time_limit must be a finite number"),
    (["--stable_ci", "nan"], "--stable_ci must be a finite number"),
    (["--stable_ci", "-0.1"], "--stable_ci must be a finite number"),
    (["--warmup_count", "-1"], "--warmup_count must be 0 or more, got -1"),
    (["--io_workers", "-2"], "--io_workers must be 0 or more"),
    (["--loop", "0"], "--loop must be at least 1"),
    (["--batchsize", "0"], "--batchsize must be at least 1"),
    (["--dymBatch", "-1"], "--dymBatch must be a positive batch size"),
])
def test_numeric_flags_that_never_stop_or_never_start_are_refused(flags, needle, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(["--model", "m", *flags])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: python -m infer: ") and needle in err and "\n" not in err


def test_a_nan_time_limit_is_one_line_from_the_command(model):
    proc = run_cli("-m", "infer", "--model", str(model), "--time_limit", "nan", timeout=60)  # else it never ends
    assert_one_line_error(proc, "--time_limit", "nan")
    assert proc.returncode == 2

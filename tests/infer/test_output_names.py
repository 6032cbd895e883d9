"""Output names of inputs with odd names: every output infer writes is one that postprocess, resume and the
run record recognise as an output."""
from __future__ import annotations

import json

import numpy as np

from harness.contracts import run_summary_path
from harness.output_formats import parse_output_name
from infer.run_record import output_files
from tests.conftest import make_convert_dir, run_cli, write_bins


def test_an_input_whose_name_starts_with_a_dot_is_scored_like_the_others(tmp_path):
    # ais_bench names outputs by the file name up to its first dot: '.hid.bin' -> '_0.txt' (an empty stem)
    model = make_convert_dir(tmp_path / "model")
    bins = tmp_path / "bins"
    bins.mkdir()
    rng = np.random.default_rng(3)
    for name in (".hid.bin", "a b.bin", "x.y.bin"):
        rng.standard_normal((3, 8, 8)).astype(np.float32).tofile(bins / name)
    proc = run_cli("-m", "infer", "--model", str(model), "--input", str(bins), "--output", str(tmp_path / "res"),
                   "--output_dirname", "r", "--outfmt", "TXT", "--no-progress", "--io", "threads")
    assert proc.returncode == 0, proc.stderr
    written = sorted(f for entry in json.loads(run_summary_path(tmp_path / "res" / "r").read_text())["files"]
                     for f in entry["outfiles"])
    assert written == ["_0.txt", "a b_0.txt", "x_0.txt"]
    assert parse_output_name("_0.txt")[:2] == ("", 0)
    assert sorted(p.name for p in output_files(tmp_path / "res" / "r")) == written

    labels = tmp_path / "labels.txt"
    labels.write_text(".hid.JPEG 1\na b.JPEG 2\nx.y.JPEG 3\n", encoding="utf-8")
    post = run_cli("-m", "postprocess", "--result", str(tmp_path / "res" / "r"), "--labels", str(labels))
    assert post.returncode == 0, post.stderr
    assert "not results" not in post.stdout + post.stderr
    assert "postprocess: 3 images" in post.stdout


def test_a_damaged_txt_output_of_a_finished_run_is_run_again(tmp_path):
    # 'garbage\n' has the one line a whole 10-class TXT output has: a rerun took it as whole ("nothing to do")
    # while postprocess refused it and said to rerun infer
    model = make_convert_dir(tmp_path / "model")
    write_bins(tmp_path / "bins", 6)
    args = ["-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"),
            "--output_dirname", "r", "--outfmt", "TXT", "--no-progress", "--io", "threads"]
    assert run_cli(*args).returncode == 0
    damaged = tmp_path / "res" / "r" / "img_4_0.txt"
    whole = damaged.read_bytes()
    damaged.write_bytes(b"garbage\n")
    rerun = run_cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert "nothing to do" not in rerun.stdout
    assert damaged.read_bytes() == whole

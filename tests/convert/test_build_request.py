"""What convert hands the target: the BuildRequest (options, batch, I/O, model loader, preprocess)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harness.contracts import PreprocessManifest
from harness.errors import ContractError, InputError
from harness.parity import relative_error
from targets.base import BuildResult, Target
from targets.options import BUILD, RUN, TargetOptions, option


@dataclass(frozen=True)
class RecordingOptions(TargetOptions):
    target = "recording"
    engine: str = option("onnx", "what builds", BUILD, choices=("onnx", "torch"))
    threads: int | None = option(None, "threads when run", RUN, minimum=1)


class RecordingTarget(Target):
    """Builds by copying the ONNX and keeps the request it was given."""

    name = "recording"
    opset = 13
    precisions = ("fp32",)
    options_class = RecordingOptions
    created: list["RecordingTarget"] = []

    def __init__(self, **options):
        super().__init__(**options)
        self.requests = []
        RecordingTarget.created.append(self)

    def build(self, request):
        self.requests.append(request)
        artifact = Path(request.out_dir) / f"{request.model}.rec"
        shutil.copyfile(request.onnx, artifact)
        return BuildResult(artifact=artifact, info={"engine": "recording"})

    def open(self, artifact, manifest, device="0"):
        raise NotImplementedError

    def versions(self):
        return {"recorder": "1.0"}


@pytest.fixture
def recording(monkeypatch):
    import convert.plan

    RecordingTarget.created.clear()
    monkeypatch.setattr(convert.plan, "get_target", lambda name, **options: RecordingTarget(**options))
    return RecordingTarget.created


def preprocess_dir(path: Path, size: int) -> Path:
    path.mkdir()
    PreprocessManifest(shape=[3, size, size], dtype="float32", layout="CHW", recipe={"input_size": size}).write(path)
    return path


def test_request_carries_options_batches_io_loader_and_preprocess(tmp_path, recording):
    from convert import parse_args, run

    prep = preprocess_dir(tmp_path / "prep", 160)
    manifest = run(parse_args(["--model", "test_resnet", "--target", "recording", "--batches", "2 8",
                               "--option", "engine=torch", "--preprocess", str(prep),
                               "--output", str(tmp_path / "out")]))
    target = recording[-1]
    request = target.requests[-1]
    assert target.options == RecordingOptions(engine="torch") == target.build_options(request)
    assert manifest.target_info["options"] == {"engine": "torch"}  # every build option, resolved
    assert (request.batch_sizes, request.dynamic_batch) == ([2, 8], True)
    assert (request.input.name, request.input.shape, request.output.shape) == ("image", [-1, 3, 160, 160], [-1, 1000])
    assert request.onnx == tmp_path / "out" / "test_resnet.sim.onnx"
    assert request.preprocess["shape"] == [3, 160, 160]
    assert manifest.opset == 13 and manifest.versions["recorder"] == "1.0"
    assert manifest.target_info["engine"] == "recording" and manifest.artifact == "test_resnet.rec"

    module = request.load_model()
    assert not module.training
    batch = np.random.default_rng(0).standard_normal((2, 3, 160, 160)).astype(np.float32)
    import onnxruntime
    import torch

    with torch.no_grad():
        expected = module(torch.from_numpy(batch)).numpy()
    session = onnxruntime.InferenceSession(str(request.onnx), providers=["CPUExecutionProvider"])
    assert relative_error(session.run(None, {"image": batch})[0], expected) < 1e-4


def test_preprocessed_size_must_match_the_model(tmp_path, recording):
    from convert import parse_args, run

    prep = preprocess_dir(tmp_path / "prep", 224)
    with pytest.raises(ContractError, match="preprocessed images are 224x224, the model takes 160x160"):
        run(parse_args(["--model", "test_resnet", "--target", "recording", "--preprocess", str(prep),
                        "--output", str(tmp_path / "out")]))
    assert not (tmp_path / "out" / "convert.json").exists()


def test_target_that_applies_precision_itself_gets_the_fp32_onnx(tmp_path, recording, monkeypatch):
    from convert import parse_args, run

    monkeypatch.setattr(RecordingTarget, "precisions", ("fp32", "fp16", "int8"))
    monkeypatch.setattr(RecordingTarget, "precision_in_onnx", False, raising=False)
    manifest = run(parse_args(["--model", "test_resnet", "--target", "recording", "--precision", "int8",
                               "--output", str(tmp_path / "out")]))  # no --calib: the target calibrates
    request = recording[-1].requests[-1]
    assert request.precision == "int8" and request.onnx == tmp_path / "out" / "test_resnet.sim.onnx"
    assert manifest.target_info["built_from"] == "test_resnet.sim.onnx"
    assert not list((tmp_path / "out").glob("*.int8.onnx"))


def test_build_options_rebuild_and_run_options_do_not(tmp_path, recording, capsys):
    from convert import parse_args, run

    args = ["--model", "test_resnet", "--target", "recording", "--batchsize", "2", "--output", str(tmp_path / "out")]
    first = run(parse_args(args))
    explicit_default = run(parse_args([*args, "--option", "engine=onnx"]))
    assert explicit_default.build_key == first.build_key and len(recording[-1].requests) == 0
    with_threads = run(parse_args([*args, "--option", "threads=3"]))
    assert with_threads.build_key == first.build_key and len(recording[-1].requests) == 0
    assert "threads: run-time option(s) of target recording, applied by infer only" in capsys.readouterr().out
    assert with_threads.target_info["options"] == {"engine": "onnx"}
    rebuilt = run(parse_args([*args, "--option", "engine=torch"]))
    assert rebuilt.build_key != first.build_key and len(recording[-1].requests) == 1
    assert rebuilt.hashes["target"] != first.hashes["target"] and rebuilt.target_info["options"] == {"engine": "torch"}


def test_a_bad_option_is_refused_before_any_work(tmp_path, recording):
    from convert import parse_args, run

    with pytest.raises(InputError, match="recording target option threads=0: give a whole number >= 1"):
        run(parse_args(["--model", "test_resnet", "--target", "recording", "--option", "threads=0",
                        "--output", str(tmp_path / "out")]))
    assert not (tmp_path / "out" / "convert.json").exists()

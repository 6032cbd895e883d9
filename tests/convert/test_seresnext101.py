"""SE-ResNeXt101_32x4d from each of its checkpoint layouts (mmcls, timm, Ascend ModelZoo): random weights
saved by an independent model, converted, and ONNX Runtime compared with that model.

The heavy part (export, onnxsim, onnxruntime on a 49M-parameter model) runs once per layout.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.parity import relative_error
from tests.convert.references import ZooSEResNeXt, calibrate_batchnorm_, inputs, randomize_, run_torch

MMCLS_CONFIG = Path("configs/_base_/models/seresnext101_32x4d.py")
TOLERANCE = 1e-4


def mmcls_reference():
    """mmcls 0.25 builds the model from the config shipped inside the mmcls package itself."""
    from convert.frameworks import import_mmcls

    mmcls = import_mmcls()
    import mmcv
    from mmcls.models import build_classifier

    config = mmcv.Config.fromfile(str(Path(mmcls.__file__).parent / ".mim" / MMCLS_CONFIG))
    classifier = build_classifier(config.model)

    def logits(x):
        return classifier.head.fc(classifier.head.pre_logits(classifier.extract_feat(x)))

    return classifier, logits


def timm_reference():
    from convert.frameworks import import_timm

    model = import_timm().create_model("seresnext101_32x4d", pretrained=False)
    return model, model


def modelzoo_reference():
    model = ZooSEResNeXt()
    return model, model


REFERENCES = {"mmcls": mmcls_reference, "timm": timm_reference, "modelzoo": modelzoo_reference}


def save_checkpoint(layout: str, model: torch.nn.Module, path: Path) -> None:
    state = model.state_dict()
    if layout == "mmcls":  # what mmcls training writes: meta + state_dict
        torch.save({"meta": {"mmcls_version": "0.25.0", "epoch": 100}, "state_dict": state}, path)
    else:
        torch.save(state, path)


def convert_keeping_the_module(args: list[str]):
    """Run convert; the target asks for the PyTorch module as a torch engine does, and it is kept."""
    import convert.plan
    from convert import parse_args, run
    from targets import get_target

    kept = {}

    def recording_target(name, **options):
        target = get_target(name, **options)
        build = target.build

        def build_and_keep(request):
            kept["module"] = request.load_model()
            return build(request)

        target.build = build_and_keep
        return target

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(convert.plan, "get_target", recording_target)
        manifest = run(parse_args(args))
    return manifest, kept["module"]


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def converted(request, tmp_path_factory):
    """One conversion per layout: layout, reference logits, inputs, manifest, output dir, loaded module."""
    layout = request.param
    work = tmp_path_factory.mktemp(f"seresnext101-{layout}")
    model, forward = REFERENCES[layout]()
    randomize_(model, seed=11)
    calibrate_batchnorm_(model, forward)
    batch = inputs(2)
    with torch.no_grad():
        expected = forward(torch.from_numpy(batch)).numpy()
    checkpoint = work / f"{layout}.pth"
    save_checkpoint(layout, model, checkpoint)
    del model
    target = "cpu" if layout == "mmcls" else "null"  # the reference workload goes through the real CPU target
    manifest, module = convert_keeping_the_module([
        "--model", "seresnext101_32x4d", "--checkpoint", str(checkpoint), "--target", target, "--batches", "1 2",
        "--output", str(work / "out")])
    yield layout, expected, batch, manifest, work / "out", module
    shutil.rmtree(work, ignore_errors=True)  # about 1 GB of checkpoint, ONNX and artifact files


def onnxruntime_logits(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["class"], {"image": batch})[0]


def test_layout_is_detected_and_recorded(converted):
    layout, _, _, manifest, _, _ = converted
    assert manifest.source["layout"] == layout
    assert manifest.source["weights"] == "checkpoint"


def test_onnxruntime_matches_the_source_model(converted):
    _, expected, batch, manifest, out, _ = converted
    assert expected.std() > 0.1 and relative_error(expected[0], expected[1]) > 1e-3  # not a degenerate model
    for name in (manifest.onnx, manifest.sim_onnx, manifest.artifact):
        assert relative_error(onnxruntime_logits(out / name, batch), expected) < TOLERANCE, name


def test_sidecar_records_the_verification(converted):
    _, _, _, manifest, out, _ = converted
    check = manifest.verification
    assert check["passed"] and check["max_relative_error"] < TOLERANCE and check["input_shape"][0] == 2
    assert (manifest.input.name, manifest.input.shape) == ("image", [-1, 3, 224, 224])
    assert (manifest.output.name, manifest.output.shape) == ("class", [-1, 1000])
    assert manifest.opset == 17


def test_onnx_is_dynamic_batch_with_the_contract_names(converted):
    import onnx

    _, _, _, manifest, out, _ = converted
    graph = onnx.load(str(out / manifest.sim_onnx), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["class"]
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value")


def test_pytorch_module_given_to_the_target_equals_the_source_model(converted):
    _, expected, batch, _, _, module = converted
    assert not module.training
    assert relative_error(run_torch(module, batch), expected) < TOLERANCE

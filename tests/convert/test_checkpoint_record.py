"""Which weights of a checkpoint a conversion ran: the container key, the other weight sets it left unused (a
timm training checkpoint's EMA weights), the wrapper prefix and the tensors' dtype, in convert.json and said."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import SHARED_SAMPLE, run_cli

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second
IMAGE = SHARED_SAMPLE / "n01440764_tench.JPEG"


def timm_weights(seed: int) -> dict:
    from convert.frameworks import import_timm

    torch.manual_seed(seed)
    return import_timm().create_model(MODEL, pretrained=False).state_dict()


def reference_logits(state: dict) -> np.ndarray:
    """PyTorch float32 logits of the real image under `state`, preprocessed as timm's own eval transform does."""
    from convert.frameworks import import_timm

    timm = import_timm()
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    model = timm.create_model(MODEL, pretrained=False)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    transform = create_transform(**resolve_data_config({}, model=model))
    with torch.no_grad():
        return model.eval()(transform(Image.open(IMAGE).convert("RGB"))[None]).numpy()


def artifact_logits(model_dir) -> np.ndarray:
    import onnxruntime

    from tasks.classification.presets import resolve_recipe
    from tasks.classification.transform import preprocess_image

    manifest = json.loads((model_dir / "convert.json").read_text())
    session = onnxruntime.InferenceSession(str(model_dir / manifest["artifact"]), providers=["CPUExecutionProvider"])
    image = preprocess_image(IMAGE, resolve_recipe(MODEL))[None]
    return session.run(None, {session.get_inputs()[0].name: image})[0]


def convert(tmp_path, checkpoint):
    proc = run_cli("-m", "convert", "--model", MODEL, "--checkpoint", str(checkpoint), "--batchsize", "1",
                   "--output", str(tmp_path / "out"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((tmp_path / "out" / "convert.json").read_text())["source"]


def test_a_training_checkpoint_records_the_weights_it_ran_and_the_ema_it_left(tmp_path):
    weights, ema = timm_weights(1), timm_weights(2)
    torch.save({"epoch": 9, "state_dict": weights, "state_dict_ema": ema}, tmp_path / "train.pth")
    proc, source = convert(tmp_path, tmp_path / "train.pth")
    assert source["checkpoint_key"] == "state_dict"
    assert source["checkpoint_unused"] == ["state_dict_ema"]
    assert "state_dict_ema" in proc.stdout and "not used" in proc.stdout
    ran = artifact_logits(tmp_path / "out")
    assert np.allclose(ran, reference_logits(weights), rtol=1e-4, atol=1e-4)  # the record says what ran
    assert not np.allclose(ran, reference_logits(ema), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_data_parallel_checkpoint_records_its_dtype_and_prefix(tmp_path, dtype):
    weights = {f"module.{k}": v.to(dtype) if v.is_floating_point() else v for k, v in timm_weights(1).items()}
    torch.save({"model": weights}, tmp_path / "half.pth")
    proc, source = convert(tmp_path, tmp_path / "half.pth")
    assert source["checkpoint_key"] == "model" and source["checkpoint_unused"] == []
    assert source["checkpoint_prefix_removed"] == "module."
    assert source["checkpoint_dtypes"] == [str(dtype).removeprefix("torch.")]
    assert f"{str(dtype).removeprefix('torch.')} weights" in proc.stdout
    reference = reference_logits({k.removeprefix("module."): v for k, v in weights.items()})
    assert np.allclose(artifact_logits(tmp_path / "out"), reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form, key, unused", [
    ({"model": "weights", "model_ema": "ema", "optimizer": {"state": {}, "param_groups": []}}, "model", ["model_ema"]),
    ({"state_dict": {"module": "weights"}}, "state_dict.module", []),
])
def test_the_record_follows_the_containers_the_weights_were_read_from(tmp_path, form, key, unused):
    from convert.checkpoints import read_checkpoint

    weights, ema = timm_weights(1), timm_weights(2)

    def filled(value):
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        return {"weights": weights, "ema": ema}[value] if isinstance(value, str) else value

    torch.save(filled(form), tmp_path / "c.pth")
    record: dict = {}
    read = read_checkpoint(tmp_path / "c.pth", record=record)
    assert all(torch.equal(read[k], weights[k]) for k in weights)  # what the loader takes is what the record names
    assert (record["checkpoint_key"], record["checkpoint_unused"]) == (key, unused)


def test_a_safetensors_checkpoint_is_recorded(tmp_path):
    from safetensors.torch import save_file

    from convert.checkpoints import read_checkpoint

    save_file({f"module.{k}": v.to(torch.bfloat16) if v.is_floating_point() else v
               for k, v in timm_weights(1).items()}, str(tmp_path / "w.safetensors"))
    record: dict = {}
    read_checkpoint(tmp_path / "w.safetensors", record=record)
    assert record == {"checkpoint_key": None, "checkpoint_unused": [], "checkpoint_prefix_removed": "module.",
                      "checkpoint_dtypes": ["bfloat16"]}


def test_a_checkpoint_of_ema_weights_only_runs_them_and_says_so(tmp_path):
    ema = timm_weights(2)
    torch.save({"epoch": 9, "model_ema": ema}, tmp_path / "ema.pth")
    _, source = convert(tmp_path, tmp_path / "ema.pth")
    assert source["checkpoint_key"] == "model_ema" and source["checkpoint_unused"] == []
    assert np.allclose(artifact_logits(tmp_path / "out"), reference_logits(ema), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prefix", ["_orig_mod.", "module._orig_mod."])
def test_a_compiled_module_state_dict_loads_without_its_wrapper_prefixes(tmp_path, prefix):
    weights = timm_weights(1)
    torch.save({f"{prefix}{k}": v for k, v in weights.items()}, tmp_path / "compiled.pth")
    _, source = convert(tmp_path, tmp_path / "compiled.pth")
    assert source["checkpoint_prefix_removed"] == prefix
    assert np.allclose(artifact_logits(tmp_path / "out"), reference_logits(weights), rtol=1e-4, atol=1e-4)

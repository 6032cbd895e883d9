"""TensorFlow sources (Keras file, SavedModel, frozen graph) through convert -> infer -> postprocess on the CPU.

The models (random weights) are built by TensorFlow in its own environment, which also computes the
reference logits of the preprocessed images in Keras, independently of the converter's loading code.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.contracts import run_summary_path
from tests.conftest import REPO_SAMPLE, ROOT, assert_one_line_error, run_cli

SIZE = 32
BUILD_MODELS = r"""
import json, sys
from pathlib import Path
import numpy as np, keras, tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

out, bins = Path(sys.argv[1]), Path(sys.argv[2])
stems = sorted(p.stem for p in bins.glob("*.bin"))
images = np.stack([np.fromfile(bins / f"{s}.bin", np.float32).reshape(3, 32, 32) for s in stems])
nhwc = images.transpose(0, 2, 3, 1)

def classifier(classes, seed):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(classes)(x))

names = {}
model = classifier(1000, 0)
model.save(out / "net.keras")
model.export(str(out / "net_saved_model"), verbose=False)
function = tf.function(lambda x: model(x, training=False)).get_concrete_function(
    tf.TensorSpec([None, 32, 32, 3], tf.float32, name="images"))
frozen = convert_variables_to_constants_v2(function)
tf.io.write_graph(frozen.graph.as_graph_def(), str(out), "net_frozen.pb", as_text=False)
names = {"inputs": frozen.inputs[0].name, "outputs": frozen.outputs[0].name}
np.save(out / "logits_1000.npy", model(nhwc, training=False).numpy())


class QuantizationAware(tf.Module):  # what quantization-aware training leaves: fake quantization throughout

    def __init__(self):
        rng = np.random.default_rng(2)
        self.w = tf.Variable(rng.standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.2)
        self.b = tf.Variable(rng.standard_normal(8).astype(np.float32) * 0.1)
        self.d = tf.Variable(rng.standard_normal((8, 1000)).astype(np.float32) * 0.3)

    @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32, name="images")])
    def __call__(self, x):
        fq = tf.quantization.fake_quant_with_min_max_vars
        x = fq(x, -4.0, 4.0, num_bits=8)
        w = fq(self.w, -1.0, 1.0, num_bits=8, narrow_range=True)
        y = fq(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + self.b), 0.0, 6.0, num_bits=8)
        d = fq(self.d, -1.0, 1.0, num_bits=8, narrow_range=True)
        return {"logits": tf.matmul(tf.reduce_mean(y, axis=[1, 2]), d)}


qat = QuantizationAware()
tf.saved_model.save(qat, str(out / "qat_saved_model"), signatures={"serving_default": qat.__call__})
np.save(out / "logits_qat.npy", qat(tf.constant(nhwc))["logits"].numpy())
background = classifier(1001, 1)
background.export(str(out / "bg1001_saved_model"), verbose=False)
np.save(out / "logits_1001.npy", background(nhwc, training=False).numpy())
(out / "names.json").write_text(json.dumps({"stems": stems, **names}))
"""


def tf_python() -> Path:
    """The TensorFlow interpreter; `make test` names it, so there a missing one fails instead of skipping."""
    named = os.environ.get("HARNESS_TF_PYTHON")
    path = Path(named) if named else ROOT / ".venv-tf" / "bin" / "python"
    if not path.is_file():
        if named:
            pytest.fail(f"HARNESS_TF_PYTHON={named} does not exist; run make tf-setup")
        pytest.skip("no TensorFlow environment (make tf-setup)")
    return path


@pytest.fixture(scope="module")
def tf_models(tmp_path_factory):
    python = tf_python()
    work = tmp_path_factory.mktemp("tf")
    prep = work / "prep"
    proc = run_cli("-m", "preprocess", "--input", str(REPO_SAMPLE), "--output", str(prep), "--preset", "resnet",
                   "--resize", "36", "--input-size", str(SIZE), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(python), "-c", BUILD_MODELS, str(work), str(prep)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, prep, python, json.loads((work / "names.json").read_text())


def pipeline(work: Path, prep: Path, python: Path, name: str, *source: str) -> tuple[dict, Path]:
    model_dir, results = work / "models" / name, work / "results"
    steps = [("-m", "convert", *source, "--model", name, "--tf-python", str(python), "--preprocess", str(prep),
              "--batches", "1 4", "--output", str(model_dir)),
             ("-m", "infer", "--model", str(model_dir), "--input", str(prep), "--output", str(results),
              "--output_dirname", name, "--outfmt", "NPY", "--batchsize", "4", "--no-progress"),
             ("-m", "postprocess", "--result", str(results / name), "--labels", str(REPO_SAMPLE / "val_label.txt"))]
    for step in steps:
        proc = run_cli(*step)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((model_dir / "convert.json").read_text()), results / name


def infer_logits(result_dir: Path, stems: list[str]) -> np.ndarray:
    from harness.outputs import read_outputs

    outputs = read_outputs(result_dir)
    return np.stack([outputs[s].reshape(-1) for s in stems])


def labels_of(stems: list[str]) -> np.ndarray:
    pairs = dict(line.split() for line in (REPO_SAMPLE / "val_label.txt").read_text().splitlines() if line.strip())
    by_stem = {name.rsplit(".", 1)[0]: int(label) for name, label in pairs.items()}
    return np.array([by_stem[s] for s in stems])


def top1_percent(result_dir: Path) -> float:
    table = {v["key"]: v["value"] for v in json.loads((result_dir / "result.json").read_text())["value"]}
    return float(table["Top1 accuracy"].rstrip("%"))


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "graphdef"])
def test_tensorflow_model_runs_the_whole_pipeline_as_tensorflow_does(tf_models, fmt):
    work, prep, python, names = tf_models
    source = {"keras": ["--tensorflow", str(work / "net.keras")],
              "saved_model": ["--tensorflow", str(work / "net_saved_model")],
              "graphdef": ["--tensorflow", str(work / "net_frozen.pb"), "--tf-inputs", names["inputs"],
                           "--tf-outputs", names["outputs"]]}[fmt]
    manifest, result_dir = pipeline(work, prep, python, f"net_{fmt}", *source)
    assert manifest["verification"]["against"].startswith("TensorFlow 2.")
    assert manifest["verification"]["max_abs_error"] < 1e-5
    tensorflow = manifest["source"]["tensorflow"]
    assert (tensorflow["format"], tensorflow["model_layout"], tensorflow["transpose_inserted"]) == (fmt, "NHWC", True)
    assert manifest["input"]["shape"] == [-1, 3, SIZE, SIZE] and manifest["layout"] == "CHW"
    reference = np.load(work / "logits_1000.npy")
    got = infer_logits(result_dir, names["stems"])
    assert np.abs(got - reference).max() < 1e-5
    expected = 100 * np.mean(reference.argmax(1) == labels_of(names["stems"]))
    assert top1_percent(result_dir) == pytest.approx(round(expected, 2))


def test_a_1001_class_model_is_scored_without_its_background_class(tf_models):
    work, prep, python, names = tf_models
    _, result_dir = pipeline(work, prep, python, "bg1001", "--tensorflow", str(work / "bg1001_saved_model"))
    reference = np.load(work / "logits_1001.npy")
    assert np.abs(infer_logits(result_dir, names["stems"]) - reference).max() < 1e-5
    details = json.loads((result_dir / "result_details.json").read_text())
    expected_top5 = np.argsort(-reference, axis=1, kind="stable")[:, :5] - 1  # index 0 is the background
    assert [[c["class"] for c in image["top5"]] for image in details["images"]] == expected_top5.tolist()
    expected = 100 * np.mean(reference.argmax(1) - 1 == labels_of(names["stems"]))
    assert top1_percent(result_dir) == pytest.approx(round(expected, 2))


def test_a_frozen_graph_without_tensor_names_is_refused_in_one_line(tf_models):
    work, _, python, _ = tf_models
    proc = run_cli("-m", "convert", "--tensorflow", str(work / "net_frozen.pb"), "--tf-python", str(python),
                   "--output", str(work / "refused"))
    assert_one_line_error(proc, "net_frozen.pb", "--tf-inputs")


def test_a_missing_tensorflow_environment_says_how_to_set_it_up(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"not read")
    proc = run_cli("-m", "convert", "--tensorflow", str(model), "--output", str(tmp_path / "out"),
                   env={"HARNESS_TF_PYTHON": str(tmp_path / "no-python")})
    assert_one_line_error(proc, "TensorFlow", "make tf-setup", "no-python")


def test_a_quantization_aware_saved_model_becomes_a_qdq_onnx_and_runs_as_int8(tf_models):
    work, prep, python, names = tf_models
    manifest, result_dir = pipeline(work, prep, python, "qat", "--tensorflow", str(work / "qat_saved_model"),
                                    "--precision", "int8")
    import onnx

    assert manifest["precision"] == "int8"
    assert manifest["target_info"]["precision_onnx"]["tool"] == "supplied Q/DQ ONNX"  # no calibration
    # tf2onnx folds the weight fake-quant into float constants: int8 activations, float weights, said so
    assert manifest["target_info"]["effective_precision"] == "int8-activations-only"
    summary = json.loads(run_summary_path(result_dir).read_text())
    assert (summary["precision"], summary["requested_precision"]) == ("int8-activations-only", "int8")
    built = onnx.load(str(work / "models" / "qat" / manifest["target_info"]["built_from"]))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in built.graph.node}
    reference = np.load(work / "logits_qat.npy")
    got = infer_logits(result_dir, names["stems"])
    # TensorFlow's fake quantization and ONNX Runtime's int8 kernels may put an activation one step
    # (6/255) apart; through the mean and the 8 weights (|w| <= 1) of each logit that is at most 8 steps
    assert np.abs(got - reference).max() <= 8 * 6 / 255
    assert np.mean(got.argmax(1) == reference.argmax(1)) >= 0.9


def test_int8_without_calibration_is_refused_for_a_float_tensorflow_model(tf_models):
    work, _, python, _ = tf_models
    proc = run_cli("-m", "convert", "--tensorflow", str(work / "net.keras"), "--tf-python", str(python),
                   "--precision", "int8", "--output", str(work / "float-int8"))
    assert_one_line_error(proc, "no quantize/dequantize nodes", "--calib DIR")

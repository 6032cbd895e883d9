"""Calibration set selection, its checks and fingerprint, and int8 / fp16 of a tiny model whose exact
output numpy computes independently."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from harness.errors import InputError, TargetError
from harness.parity import relative_error
from tests.convert.precision.references import tiny_conv_onnx, tiny_conv_reference, write_bin_dir

SIZE = 8
INT8_TOLERANCE = 0.03  # max error / max |reference|; measured about 0.007
FP16_TOLERANCE = 1e-3  # measured about 1e-4


def random_images(count: int, seed: int = 0, size: int = SIZE) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"img_{i:03d}": rng.standard_normal((3, size, size)).astype(np.float32) for i in range(count)}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.onnx"
    return path, tiny_conv_onnx(path)


@pytest.fixture
def calib_dir(tmp_path):
    return write_bin_dir(random_images(40), tmp_path / "calib")


def run_onnx(path, images: np.ndarray) -> np.ndarray:
    import onnxruntime

    from targets.cpu.target import session_options

    session = onnxruntime.InferenceSession(str(path), sess_options=session_options(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})[0]


# ---- choosing and checking the calibration set ------------------------------------------------------------

def test_takes_the_first_files_in_sorted_stem_order(tmp_path):
    from convert.calibration import select_calibration_files

    images = {stem: np.zeros((3, SIZE, SIZE), np.float32) for stem in ("delta", "alpha", "charlie", "bravo")}
    directory = write_bin_dir(images, tmp_path / "bins")
    chosen = select_calibration_files(directory, 3)
    assert [p.name for p in chosen.files] == ["alpha.bin", "bravo.bin", "charlie.bin"]


def test_fewer_files_than_count_is_refused(calib_dir):
    from convert.calibration import select_calibration_files

    with pytest.raises(InputError, match=r"40 \.bin files .* needs 41"):
        select_calibration_files(calib_dir, 41)


def test_listed_file_missing_on_disk_counts_as_missing(calib_dir):
    from convert.calibration import select_calibration_files

    (calib_dir / "img_003.bin").unlink()
    with pytest.raises(InputError, match="39 .bin files"):
        select_calibration_files(calib_dir, 40)


def test_bin_of_the_wrong_size_is_refused(calib_dir):
    from convert.calibration import select_calibration_files

    (calib_dir / "img_002.bin").write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match=r"img_002\.bin: 100 bytes, expected 768"):
        select_calibration_files(calib_dir, 5)


def test_missing_manifest_is_refused(calib_dir):
    from convert.calibration import select_calibration_files

    (calib_dir / "preprocess.json").unlink()
    with pytest.raises(InputError, match="no preprocess.json"):
        select_calibration_files(calib_dir, 5)


def test_count_below_one_and_unknown_method_are_refused(tiny, calib_dir, tmp_path):
    from convert.precision import make_int8_onnx

    with pytest.raises(InputError, match="at least 1"):
        make_int8_onnx(tiny[0], tmp_path / "q.onnx", calib_dir, 0, "minmax", "image")
    with pytest.raises(InputError, match="unknown calibration method 'kl'"):
        make_int8_onnx(tiny[0], tmp_path / "q.onnx", calib_dir, 8, "kl", "image")


def test_calibration_shape_must_match_the_model_input(tiny, tmp_path):
    from convert.precision import make_int8_onnx

    bigger = write_bin_dir(random_images(8, size=16), tmp_path / "big")
    with pytest.raises(InputError, match=r"calibration data is 3x16x16 float32 .* 'image' takes 3x8x8 float32"):
        make_int8_onnx(tiny[0], tmp_path / "q.onnx", bigger, 8, "minmax", "image")
    assert not (tmp_path / "q.onnx").exists()


def test_calibration_dtype_must_match_the_model_input(tiny, tmp_path):
    from convert.precision import make_int8_onnx
    from harness.contracts import PreprocessManifest

    directory = tmp_path / "uint8"
    directory.mkdir()
    for i in range(4):
        np.zeros((SIZE, SIZE, 3), np.uint8).tofile(directory / f"u{i}.bin")
    PreprocessManifest(shape=[SIZE, SIZE, 3], dtype="uint8", layout="HWC", recipe={},
                       files=[{"stem": f"u{i}", "source": ""} for i in range(4)]).write(directory)
    with pytest.raises(InputError, match="8x8x3 uint8"):
        make_int8_onnx(tiny[0], tmp_path / "q.onnx", directory, 4, "minmax", "image")


def test_unknown_input_name_is_refused(tiny, calib_dir, tmp_path):
    from convert.precision import make_int8_onnx

    with pytest.raises(InputError, match="no input 'input'; its inputs are 'image'"):
        make_int8_onnx(tiny[0], tmp_path / "q.onnx", calib_dir, 8, "minmax", "input")


# ---- fingerprint -------------------------------------------------------------------------------------------

def test_fingerprint_covers_count_method_and_the_chosen_contents(calib_dir):
    from convert.precision import calibration_fingerprint

    base = calibration_fingerprint(calib_dir, 10, "entropy")
    assert base == calibration_fingerprint(calib_dir, 10, "entropy")
    assert base != calibration_fingerprint(calib_dir, 11, "entropy")
    assert base != calibration_fingerprint(calib_dir, 10, "minmax")
    np.ones((3, SIZE, SIZE), np.float32).tofile(calib_dir / "img_030.bin")  # not among the first 10
    assert base == calibration_fingerprint(calib_dir, 10, "entropy")
    np.ones((3, SIZE, SIZE), np.float32).tofile(calib_dir / "img_004.bin")  # among them
    assert base != calibration_fingerprint(calib_dir, 10, "entropy")


def test_fingerprint_refuses_what_calibration_refuses(calib_dir):
    from convert.precision import calibration_fingerprint

    with pytest.raises(InputError):
        calibration_fingerprint(calib_dir, 41, "entropy")
    with pytest.raises(InputError):
        calibration_fingerprint(calib_dir, 10, "max")


# ---- int8 --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_int8_matches_the_numpy_reference(tiny, calib_dir, tmp_path, method):
    from convert.precision import make_int8_onnx
    from harness.onnx_meta import is_qdq_onnx

    path, params = tiny
    images = np.stack(list(random_images(16, seed=5).values()))
    expected = tiny_conv_reference(params, images)
    assert relative_error(run_onnx(path, images), expected) < 1e-5  # the reference is the model
    info = make_int8_onnx(path, tmp_path / "q.onnx", calib_dir, 37, method, "image")
    assert is_qdq_onnx(tmp_path / "q.onnx") and not is_qdq_onnx(path)
    assert relative_error(run_onnx(tmp_path / "q.onnx", images), expected) < INT8_TOLERANCE
    assert (info["method"], info["count"]) == (method, 37)


@pytest.mark.parametrize("batch_dim, count", [("N", 1), ("N", 37), ("N", 200), ("N", 500), (4, 8), (8, 200), (16, 32)])
def test_calibration_runs_cover_the_set_once_within_the_memory_bound(batch_dim, count):
    from convert.precision import CHUNK_IMAGES, calibration_batches

    batches, per_chunk = calibration_batches(batch_dim, count)
    covered = [i for start, stop in batches for i in range(start, stop)]
    assert covered == list(range(count))
    assert len(batches) % per_chunk == 0  # ORT's strided calibration needs whole chunks
    largest_batch = max(stop - start for start, stop in batches)
    for first in range(0, len(batches), per_chunk):
        sizes = [stop - start for start, stop in batches[first:first + per_chunk]]
        assert sum(sizes) <= max(CHUNK_IMAGES, largest_batch)
        assert len(set(sizes)) == 1  # equal batches within a chunk
    if isinstance(batch_dim, int):
        assert all(stop - start == batch_dim for start, stop in batches)


@pytest.mark.parametrize("count", [10, 12, 40])
def test_histogram_methods_take_counts_that_are_no_multiple_of_the_batch(tiny, calib_dir, tmp_path, count):
    from convert.precision import make_int8_onnx

    path, params = tiny
    make_int8_onnx(path, tmp_path / "q.onnx", calib_dir, count, "entropy", "image")
    images = np.stack(list(random_images(8, seed=4).values()))
    assert relative_error(run_onnx(tmp_path / "q.onnx", images), tiny_conv_reference(params, images)) < INT8_TOLERANCE


def test_fixed_batch_model_calibrates_in_its_batch(tmp_path):
    from convert.precision import make_int8_onnx

    path = tmp_path / "fixed.onnx"
    params = tiny_conv_onnx(path, batch=4)
    calib = write_bin_dir(random_images(12), tmp_path / "calib")
    make_int8_onnx(path, tmp_path / "q.onnx", calib, 8, "minmax", "image")
    images = np.stack(list(random_images(4, seed=9).values()))
    assert relative_error(run_onnx(tmp_path / "q.onnx", images), tiny_conv_reference(params, images)) < INT8_TOLERANCE
    with pytest.raises(InputError, match="fixed batch of 4"):
        make_int8_onnx(path, tmp_path / "q6.onnx", calib, 6, "minmax", "image")


def test_supplied_qdq_model_is_kept_as_is(tiny, calib_dir, tmp_path):
    from convert.precision import make_int8_onnx

    make_int8_onnx(tiny[0], tmp_path / "q.onnx", calib_dir, 8, "minmax", "image")
    info = make_int8_onnx(tmp_path / "q.onnx", tmp_path / "again.onnx", tmp_path / "no-such-dir", 8, "minmax", "image")
    assert (tmp_path / "again.onnx").read_bytes() == (tmp_path / "q.onnx").read_bytes()
    assert info["calibration"] is None


# ---- fp16 and the CPU target ------------------------------------------------------------------------------

def test_fp16_keeps_float32_io_and_matches_the_reference(tiny, tmp_path):
    import onnx
    from onnx import TensorProto

    from convert.precision import make_fp16_onnx

    path, params = tiny
    make_fp16_onnx(path, tmp_path / "half.onnx")
    model = onnx.load(str(tmp_path / "half.onnx"))
    assert [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)] == [TensorProto.FLOAT] * 2
    assert {init.data_type for init in model.graph.initializer} == {TensorProto.FLOAT16}
    images = np.stack(list(random_images(8, seed=3).values()))
    result = run_onnx(tmp_path / "half.onnx", images)
    assert result.dtype == np.float32
    assert relative_error(result, tiny_conv_reference(params, images)) < FP16_TOLERANCE


def test_fp16_refuses_a_quantized_model(tiny, calib_dir, tmp_path):
    from convert.precision import make_fp16_onnx, make_int8_onnx

    make_int8_onnx(tiny[0], tmp_path / "q.onnx", calib_dir, 8, "minmax", "image")
    with pytest.raises(InputError, match="QuantizeLinear/DequantizeLinear"):
        make_fp16_onnx(tmp_path / "q.onnx", tmp_path / "half.onnx")


def test_cpu_target_refuses_fp16_and_says_why():
    from targets import get_target

    target = get_target("cpu")
    with pytest.raises(TargetError, match="slower than fp32"):
        target.check_precision("fp16")
    target.check_precision("int8")


def test_int8_runs_through_the_cpu_target(tiny, calib_dir, tmp_path):
    from convert.precision import make_int8_onnx
    from harness.contracts import TensorSpec
    from targets import get_target
    from targets.base import BuildRequest

    path, params = tiny
    make_int8_onnx(path, tmp_path / "tiny.int8.onnx", calib_dir, 16, "entropy", "image")
    out = tmp_path / "out"
    out.mkdir()
    target = get_target("cpu")
    built = target.build(BuildRequest(onnx=tmp_path / "tiny.int8.onnx", out_dir=out, model="tiny", precision="int8",
                                      batch_sizes=[4], dynamic_batch=True, input=TensorSpec("image", [-1, 3, 8, 8]),
                                      output=TensorSpec("class", [-1, 5])))
    shutil.rmtree(tmp_path / "calib")  # the artifact needs nothing of the calibration set
    images = np.stack(list(random_images(4, seed=11).values()))
    with target.open(built.artifact, manifest=None) as session:
        result = session.run(images)[0]
    assert relative_error(result, tiny_conv_reference(params, images)) < INT8_TOLERANCE


def test_a_qdq_model_with_float_weights_is_labelled_activations_only(tiny, tmp_path):
    """Only a weight behind a DequantizeLinear lets a runtime use int8 kernels; otherwise the label says so."""
    import onnx
    from onnx import TensorProto, helper

    from convert.precision import make_int8_onnx, weights_quantized

    path, _ = tiny
    model = onnx.load(str(path))
    first = model.graph.node[0]
    source = first.input[0]
    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.05])
    zero = helper.make_tensor("z", TensorProto.INT8, [], [0])
    model.graph.initializer.extend([scale, zero])
    qdq = [helper.make_node("QuantizeLinear", [source, "s", "z"], ["q"]),
           helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])]
    first.input[0] = "dq"
    nodes = qdq + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(tmp_path / "act_only.onnx"))
    assert not weights_quantized(model)
    info = make_int8_onnx(tmp_path / "act_only.onnx", tmp_path / "out.onnx", tmp_path, 1, "minmax", "image")
    assert (info["precision"], info["weights_quantized"]) == ("int8-activations-only", False)

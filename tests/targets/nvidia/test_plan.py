"""Batch profiles, precision plans per TensorRT version and file names: pure rules, no GPU needed."""
from __future__ import annotations

import pytest

from harness.errors import ContractError, TargetError
from targets.nvidia.plan import (BatchProfile, OnnxFacts, batch_profile, engine_filename, precision_plan,
                                 timing_cache_filename, torch_artifact_filename, trt_dtype_name)

FP32_ONNX = OnnxFacts(has_qdq=False, has_fp16=False)
FP16_ONNX = OnnxFacts(has_qdq=False, has_fp16=True)
QDQ_ONNX = OnnxFacts(has_qdq=True, has_fp16=False)


def test_static_profile_is_one_size_everywhere():
    profile = batch_profile([64], dynamic=False)
    assert (profile.min, profile.opt, profile.max) == (64, 64, 64)
    assert profile.static and profile.tag == "bs64"
    assert profile.shapes((3, 224, 224)) == ((64, 3, 224, 224),) * 3


def test_dynamic_profile_spans_the_batches_and_tunes_for_the_largest():
    profile = batch_profile([8, 1, 64, 4], dynamic=True)
    assert (profile.min, profile.opt, profile.max) == (1, 64, 64)
    assert not profile.static and profile.tag == "bs1-64"
    assert profile.shapes((3, 8, 8)) == ((1, 3, 8, 8), (64, 3, 8, 8), (64, 3, 8, 8))


def test_dynamic_profile_with_explicit_opt_and_single_max():
    assert batch_profile([4, 32], dynamic=True, opt=16) == BatchProfile(4, 16, 32)
    assert batch_profile([32], dynamic=True) == BatchProfile(1, 32, 32)
    with pytest.raises(TargetError, match="outside the batch range 4..32"):
        batch_profile([4, 32], dynamic=True, opt=64)


def test_profile_refuses_bad_requests_and_batches():
    with pytest.raises(TargetError, match="one batch size"):
        batch_profile([1, 8], dynamic=False)
    with pytest.raises(TargetError, match="positive"):
        batch_profile([0], dynamic=False)
    with pytest.raises(ContractError, match="batch size 8 given, the engine takes only batch size 4"):
        BatchProfile(4, 4, 4).check(8)
    with pytest.raises(ContractError, match="batch sizes 1..64"):
        BatchProfile(1, 64, 64).check(65)
    BatchProfile(1, 64, 64).check(64)
    assert BatchProfile.from_dict(BatchProfile(2, 3, 4).to_dict()) == BatchProfile(2, 3, 4)


@pytest.mark.parametrize("version", ["10.3.0", "10.16.1"])
def test_tensorrt10_fp16_from_fp32_onnx_uses_the_builder_flag_on_a_weak_network(version):
    plan = precision_plan(version, "fp16", FP32_ONNX)
    assert plan.strongly_typed is False and plan.builder_flags == ("FP16",)


@pytest.mark.parametrize("version", ["10.16.0", "11.0.0", "11.1.2"])
def test_fp16_onnx_builds_strongly_typed_without_flags(version):
    plan = precision_plan(version, "fp16", FP16_ONNX)
    assert plan.strongly_typed is True and plan.builder_flags == ()


def test_tensorrt11_refuses_fp16_from_an_fp32_onnx_in_one_line():
    with pytest.raises(TargetError) as caught:
        precision_plan("11.1.0", "fp16", FP32_ONNX)
    message = str(caught.value)
    assert "no FP16 builder flag" in message and "modelopt.onnx.autocast" in message and "\n" not in message


@pytest.mark.parametrize("version", ["10.8.0", "11.0.0"])
def test_int8_only_from_qdq_onnx_strongly_typed(version):
    plan = precision_plan(version, "int8", QDQ_ONNX)
    assert plan.strongly_typed is True and plan.builder_flags == ()
    with pytest.raises(TargetError, match="Q/DQ"):
        precision_plan(version, "int8", FP32_ONNX)


def test_fp32_plans_and_mismatched_onnx():
    assert precision_plan("10.16.0", "fp32", FP32_ONNX).builder_flags == ()
    assert precision_plan("10.16.0", "fp32", FP32_ONNX).strongly_typed is False
    assert precision_plan("11.0.0", "fp32", FP32_ONNX).strongly_typed is True
    with pytest.raises(TargetError, match="PRECISION=int8"):
        precision_plan("10.16.0", "fp32", QDQ_ONNX)
    with pytest.raises(TargetError, match="PRECISION=fp16"):
        precision_plan("11.0.0", "fp32", FP16_ONNX)


def test_old_tensorrt_and_unknown_precision_are_refused():
    with pytest.raises(TargetError, match="too old"):
        precision_plan("8.6.1", "fp32", FP32_ONNX)
    with pytest.raises(TargetError, match="not one of"):
        precision_plan("10.16.0", "bf16", FP32_ONNX)


def test_file_names_carry_what_the_artifact_is_tied_to():
    profile = BatchProfile(1, 64, 64)
    assert engine_filename("seresnext", "fp16", profile, "10.16.0", "9.0") == "seresnext.fp16.bs1-64.trt10.16.0.sm90.plan"
    assert timing_cache_filename("seresnext", "10.16.0", "8.9") == "seresnext.trt10.16.0.sm89.timing.cache"
    assert torch_artifact_filename("m", "fp32", BatchProfile(8, 8, 8)) == "m.fp32.bs8.pt2"


def test_engine_dtypes_map_to_torch_names():
    assert trt_dtype_name("HALF") == "float16" and trt_dtype_name("FLOAT") == "float32"
    with pytest.raises(TargetError):
        trt_dtype_name("FP4")

"""The atc command lines the target generates, against the ModelZoo commands in ref-ascend.md."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError, TargetError
from targets.ascend import atc


def _config(**overrides) -> atc.AtcConfig:
    values = dict(onnx=Path("se-resnext101-sim.onnx"), output=Path("se-resnext_bs16"), input_name="image",
                  sample_shape=(3, 224, 224), batch_sizes=[16], soc_version="Ascend310P3",
                  precision_args=["--precision_mode=force_fp16"], log="error")
    values.update(overrides)
    return atc.AtcConfig(**values)


def test_static_fp16_is_the_modelzoo_command_plus_the_precision():
    assert atc.build_atc_argv(_config()) == [
        "atc", "--framework=5", "--model=se-resnext101-sim.onnx", "--output=se-resnext_bs16",
        "--input_format=NCHW", "--input_shape=image:16,3,224,224", "--soc_version=Ascend310P3",
        "--precision_mode=force_fp16", "--log=error"]


def test_dynamic_batch_puts_minus_one_in_n_and_lists_the_gears():
    argv = atc.build_atc_argv(_config(batch_sizes=[1, 4, 8, 16], output=Path("m_bs1-4-8-16")))
    assert "--input_shape=image:-1,3,224,224" in argv
    assert argv[argv.index("--input_shape=image:-1,3,224,224") + 1] == "--dynamic_batch_size=1,4,8,16"


def test_aipp_adds_insert_op_conf_and_small_channel():
    argv = atc.build_atc_argv(_config(input_name="actual_input_1", batch_sizes=[64],
                                      aipp_config=Path("aipp_resnet50.aippconfig")))
    assert argv[-3:] == ["--insert_op_conf=aipp_resnet50.aippconfig", "--enable_small_channel=1", "--log=error"]
    assert "--input_shape=actual_input_1:64,3,224,224" in argv
    assert "--input_format=NCHW" in argv


@pytest.mark.parametrize("precision, supports_v2, expected", [
    ("fp16", False, ["--precision_mode=force_fp16"]),
    ("fp16", True, ["--precision_mode=force_fp16"]),
    ("fp32", False, ["--precision_mode=must_keep_origin_dtype"]),
    ("fp32", True, ["--precision_mode_v2=origin"]),
])
def test_precision_rule(precision, supports_v2, expected):
    assert atc.precision_args(precision, supports_v2) == expected


def test_precision_override_and_its_checks():
    assert atc.precision_args("fp32", False, "must_keep_origin_dtype") == ["--precision_mode=must_keep_origin_dtype"]
    assert atc.precision_args("fp16", True, "v2:mixed_float16") == ["--precision_mode_v2=mixed_float16"]
    with pytest.raises(InputError, match="needs an atc with --precision_mode_v2"):
        atc.precision_args("fp16", False, "v2:fp16")
    with pytest.raises(InputError, match="unknown precision_mode 'fp8'"):
        atc.precision_args("fp16", True, "fp8")
    with pytest.raises(TargetError, match="int8"):
        atc.precision_args("int8", True)


def test_log_level_is_checked():
    assert atc.build_atc_argv(_config(log="debug"))[-1] == "--log=debug"
    with pytest.raises(InputError, match="unknown atc log level 'loud'"):
        atc.build_atc_argv(_config(log="loud"))


def test_gears():
    assert atc.gears_for([16], dynamic=False) == [16]
    assert atc.gears_for([16, 1, 8, 4, 4], dynamic=True) == [1, 4, 8, 16]
    assert atc.gears_for([16], dynamic=True) == [1, 2, 4, 8, 16]
    assert atc.gears_for([12], dynamic=True) == [1, 2, 4, 8, 12]
    assert atc.gears_for([1], dynamic=True) == [1]
    with pytest.raises(InputError, match="at most 2048"):
        atc.gears_for([1, 4096], dynamic=True)
    with pytest.raises(InputError, match="positive"):
        atc.gears_for([0], dynamic=False)


def test_output_names_use_only_characters_atc_allows():
    assert atc.output_base_name("seresnext101_32x4d", "fp16", [16]) == "seresnext101_32x4d_fp16_bs16"
    assert atc.output_base_name("tf/efficientnet lite0", "fp32", [1, 8]) == "tf_efficientnet_lite0_fp32_bs1-8"


def test_om_candidates_do_not_mix_up_batch_sizes(tmp_path):
    for name in ("m_fp16_bs1.om", "m_fp16_bs16.om", "m_fp16_bs1_linux_aarch64.om", "m_fp16_bs1.onnx"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(p.name for p in atc.om_candidates(tmp_path, "m_fp16_bs1")) == [
        "m_fp16_bs1.om", "m_fp16_bs1_linux_aarch64.om"]


def test_error_summary_prefers_error_lines():
    output = ("ATC start working now, please wait for a moment.\n[INFO] parsing\n"
              "E10001: Value [Ascend999] for parameter [--soc_version] is invalid.\n"
              "ATC run failed, Please check the detail log, Try 'atc --help' for more information\n")
    assert atc.error_summary(output) == ("E10001: Value [Ascend999] for parameter [--soc_version] is invalid. | "
                                         "ATC run failed, Please check the detail log, Try 'atc --help' for more "
                                         "information")
    assert atc.error_summary("one\ntwo\nthree\n", limit=2) == "two | three"


@pytest.mark.parametrize("flags, effective", [
    (["--precision_mode=force_fp16"], "fp16"),
    (["--precision_mode=must_keep_origin_dtype"], "fp32"),
    (["--precision_mode_v2=origin"], "fp32"),
    (["--precision_mode=force_fp32"], "fp32-cube-fp16in"),  # documented as equal to cube_fp16in_fp32out
    (["--precision_mode=cube_fp16in_fp32out"], "fp32-cube-fp16in"),
    (["--precision_mode_v2=cube_fp16in_fp32out"], "fp32-cube-fp16in"),
    (["--precision_mode=allow_mix_precision"], "mixed-fp16"),
    (["--precision_mode_v2=mixed_bfloat16"], "mixed-bf16"),
    ([], "fp16"),  # atc's default for inference
])
def test_effective_precision_of_each_mode(flags, effective):
    assert atc.effective_precision(flags) == effective


def test_fp32_never_asks_for_a_mode_that_feeds_cube_ops_fp16():
    for supports_v2 in (False, True):
        assert atc.effective_precision(atc.precision_args("fp32", supports_v2)) == "fp32"

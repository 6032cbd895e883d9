"""The vocabulary's members are the plain strings the sidecars hold, and every precision label a target
or convert writes is one of them."""
from __future__ import annotations

import json

from harness.vocabulary import INPUT_FORM_LAYOUT, PRECISIONS, InputForm, Precision, PrecisionLabel, RunMode


def test_members_are_written_and_compared_as_plain_strings():
    assert json.dumps({"precision": Precision.FP16, "mode": RunMode.PURE}) == '{"precision": "fp16", "mode": "pure"}'
    assert Precision("int8") is Precision.INT8 and "fp32" in PRECISIONS
    assert f"{PrecisionLabel.FP32_TF32}" == "fp32 (TF32 matmul/conv)"


def test_input_forms_name_the_dtype_of_their_files():
    assert INPUT_FORM_LAYOUT == {InputForm.FLOAT32: ("float32", "CHW"), InputForm.UINT8: ("uint8", "HWC")}


def test_every_label_a_target_writes_is_in_the_vocabulary():
    from targets.ascend.atc import EFFECTIVE_PRECISION, EFFECTIVE_PRECISION_V2
    from targets.nvidia.options import effective_precision

    known = set(Precision) | set(PrecisionLabel)
    assert set(EFFECTIVE_PRECISION.values()) | set(EFFECTIVE_PRECISION_V2.values()) <= known
    assert effective_precision("fp32", True, (9, 0)) in known


def test_every_target_takes_a_subset_of_the_precisions():
    from targets import get_target

    for name in ("cpu", "nvidia", "ascend", "null"):
        assert set(get_target(name).precisions) <= set(PRECISIONS), name

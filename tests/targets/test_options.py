"""Target options: declared once per target, parsed and checked once, split by the stage they act in."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import InputError
from targets import TARGETS, get_target, target_class, target_for_artifact
from targets.options import BUILD, RUN, TargetOptions, option, options_for_infer, options_table, run_time_keys
from tests.conftest import ROOT, assert_one_line_error, run_cli

DOCS = {"cpu": "docs/cpu.md", "nvidia": "docs/nvidia.md", "ascend": "docs/ascend.md", "null": "docs/null.md"}


@dataclass(frozen=True)
class SampleOptions(TargetOptions):
    target = "sample"
    engine: str = option("fast", "which engine builds", BUILD, choices=("fast", "small"))
    width: int | None = option(None, "a build width", BUILD, minimum=1)
    exact: bool = option(False, "strict arithmetic", RUN)
    delay_ms: float = option(0.0, "a delay in milliseconds", RUN, minimum=0)


def test_text_is_converted_to_the_declared_types():
    parsed = SampleOptions.parse({"engine": "small", "width": "16", "exact": "yes", "delay_ms": "2.5"})
    assert parsed == SampleOptions(engine="small", width=16, exact=True, delay_ms=2.5)
    assert SampleOptions.parse({"exact": "off", "width": "none"}) == SampleOptions(exact=False, width=None)
    assert SampleOptions.parse({}) == SampleOptions()


def test_values_recorded_in_json_parse_back_to_the_same_options():
    parsed = SampleOptions.parse({"engine": "small", "width": 16, "exact": True, "delay_ms": 3})
    assert parsed == SampleOptions(engine="small", width=16, exact=True, delay_ms=3.0)
    assert SampleOptions.parse(parsed.values(BUILD) | parsed.values(RUN)) == parsed


@pytest.mark.parametrize("given, needles", [
    ({"width": "wide"}, ["sample target option width=wide", "a whole number >= 1", "a build width"]),
    ({"width": "0"}, ["width=0", "a whole number >= 1"]),
    ({"width": "1.5"}, ["width=1.5", "whole number"]),
    ({"exact": "maybe"}, ["exact=maybe", "1 or 0"]),
    ({"engine": "slow"}, ["engine=slow", "choose one of fast, small", "default fast"]),
    ({"delay_ms": "-1"}, ["delay_ms=-1", "a number >= 0", "milliseconds"]),
    ({"delay_ms": "soon"}, ["delay_ms=soon", "a number"]),
    ({"engine": "none"}, ["engine=none", "choose one of"]),
])
def test_bad_values_are_refused_in_one_line_naming_what_to_give(given, needles):
    with pytest.raises(InputError) as error:
        SampleOptions.parse(given)
    message = str(error.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_unknown_options_are_refused_naming_the_target_and_its_options():
    with pytest.raises(InputError) as error:
        SampleOptions.parse({"threads": "2"})
    assert str(error.value).startswith("unknown sample target option 'threads'; its options: delay_ms, engine, "
                                       "exact, width (python -m convert --list-options sample)")


def test_build_key_holds_only_build_options_that_differ_from_their_defaults():
    parsed = SampleOptions.parse({"engine": "fast", "width": "8", "exact": "1", "delay_ms": "4"})
    assert parsed.changed(BUILD) == {"width": 8}
    assert parsed.values(BUILD) == {"engine": "fast", "width": 8}
    assert parsed.record() == {"build": {"engine": "fast", "width": 8}, "run": {"exact": True, "delay_ms": 4.0}}
    assert run_time_keys(SampleOptions, {"engine": "fast", "exact": "1", "delay_ms": "4"}) == ["exact", "delay_ms"]


def test_a_request_overrides_only_what_it_gives():
    base = SampleOptions.parse({"width": "8", "exact": "1"})
    assert base.updated({"engine": "small"}) == SampleOptions(engine="small", width=8, exact=True)
    assert base.updated({}) is base


def test_infer_takes_build_options_from_the_artifact_and_refuses_another_value():
    recorded = {"engine": "small", "width": 8, "exact": True, "retired": 1}  # run-time / unknown keys: old records
    assert options_for_infer(SampleOptions, recorded, {"delay_ms": "2"}) == {"engine": "small", "width": 8,
                                                                              "delay_ms": "2"}
    assert options_for_infer(SampleOptions, recorded, {"width": "8"})["width"] == "8"  # the same value: fine
    with pytest.raises(InputError) as error:
        options_for_infer(SampleOptions, recorded, {"engine": "fast"})
    assert str(error.value) == ("sample target option engine=fast acts when the artifact is built, and this one was "
                                "built with engine=small; convert again with engine=fast, or leave the option out "
                                "of infer")
    assert options_for_infer(SampleOptions, {}, {"engine": "fast"}) == {"engine": "fast"}  # nothing recorded


def test_an_artifacts_target_opens_with_its_recorded_options():
    target = target_for_artifact("null", {"compute_ms": 9}, {"memory_mib": "64"})
    assert (target.options.compute_ms, target.options.memory_mib) == (0.0, 64.0)  # compute_ms is run-time


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_target_declares_options_that_parse_from_their_documented_defaults(name):
    options = target_class(name).options_class
    specs = options.specs()
    assert specs and options.target == name
    for spec in specs.values():
        assert spec.stage in (BUILD, RUN) and spec.help
    documented = {spec.name: spec.shown_default() for spec in specs.values() if spec.default is not None}
    assert options.parse(documented) == options()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_each_targets_doc_holds_its_options_table(name):
    table = options_table(target_class(name).options_class)
    assert table in (ROOT / DOCS[name]).read_text(), f"{DOCS[name]}: paste `python -m convert --list-options {name}`"
    for key in target_class(name).options_class.specs():
        assert f"| `{key}` |" in table


def test_targets_parse_their_options_once_into_typed_fields():
    assert get_target("cpu", threads="2").options.threads == 2
    assert get_target("null", compute_ms="7.5").options.compute_ms == 7.5
    assert get_target("ascend", aipp="0", npu_id="3").options == target_class("ascend").options_class(aipp=False,
                                                                                                      npu_id=3)
    with pytest.raises(InputError, match="unknown cpu target option 'workspace'"):
        get_target("cpu", workspace="1")


def test_list_options_prints_the_table_and_refuses_an_unknown_target():
    proc = run_cli("-m", "convert", "--list-options", "null")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == options_table(target_class("null").options_class)
    assert_one_line_error(run_cli("-m", "convert", "--list-options", "tpu"), "unknown target 'tpu'")


def test_the_cli_refuses_an_unknown_option_in_one_line(tmp_path: Path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    proc = run_cli("-m", "convert", "--onnx", str(onnx), "--target", "null", "--option", "workspace=1",
                   "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "unknown null target option 'workspace'", "compute_ms, memory_mib")


@dataclass(frozen=True)
class MeteredOptions(TargetOptions):
    target = "metered"
    sensor: int | None = option(None, "the sensor whose power is read", RUN, minimum=0, one_device=True)
    exact: bool = option(False, "strict arithmetic", RUN)


def test_an_option_declared_one_device_is_named_among_the_given_ones():
    """A run over several devices asks the target which given options name one device (infer/multi.py)."""
    assert MeteredOptions.one_device_keys({"exact": "1", "sensor": "2", "undeclared": "x"}) == ["sensor"]
    assert MeteredOptions.one_device_keys({"exact": "1"}) == []
    assert MeteredOptions.one_device_keys({"sensor": "none"}) == []  # none named: each device looks up its own
    assert SampleOptions.one_device_keys({"width": "16", "exact": "1"}) == []
    ascend = target_class("ascend").options_class
    assert ascend.one_device_keys({"pipeline": "0", "npu_id": "1"}) == ["npu_id"]

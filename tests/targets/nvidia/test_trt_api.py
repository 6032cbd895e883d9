"""The TensorRT code against TensorRT's real Python API, without TensorRT: mypy with the 10.x stubs, and every
name, call, keyword and enum member against the 11.x bindings (tests/targets/nvidia/trt_api*.py, docs/nvidia.md)."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.errors import TargetError
from targets.nvidia.plan import TRT_DTYPE_NAMES, OnnxFacts, precision_plan
from tests.targets.nvidia import trt_api, trt_typecheck
from tests.targets.nvidia.trt_api_check import Report, check_source

ROOT = trt_typecheck.ROOT
TRT_BUILD = ROOT / "targets" / "nvidia" / "trt_build.py"
TRT_RUNTIME = ROOT / "targets" / "nvidia" / "trt_runtime.py"
# Calls the code must keep making; if the checker stopped resolving them, it would check nothing.
CORE_CALLS = {"Builder.__init__", "Builder.create_network", "OnnxParser.parse_from_file", "Dims.__init__",
              "IOptimizationProfile.set_shape", "IBuilderConfig.set_memory_pool_limit", "MemoryPoolType.WORKSPACE",
              "IBuilderConfig.set_timing_cache", "Builder.build_serialized_network", "ITimingCache.serialize",
              "Runtime.deserialize_cuda_engine", "ICudaEngine.get_tensor_profile_shape", "TensorIOMode.INPUT",
              "ICudaEngine.get_tensor_dtype", "DataType.name", "IExecutionContext.set_input_shape",
              "IExecutionContext.set_tensor_address", "IExecutionContext.execute_async_v3", "ILogger.log",
              "ILogger.Severity.INFO"}


@pytest.fixture(scope="module")
def api_11(tmp_path_factory) -> dict:
    return trt_api.load_api_11(tmp_path_factory.mktemp("trt11"))


@pytest.fixture(scope="module")
def names_10(tmp_path_factory) -> dict[str, set[str]]:
    stubs = tmp_path_factory.mktemp("trt10")
    trt_typecheck.prepare_stubs(stubs)
    return trt_api.load_names_10(stubs)


def check(path: Path, api_11: dict, names_10: dict, source: str | None = None) -> Report:
    text = path.read_text() if source is None else source
    return check_source(text, str(path.relative_to(ROOT)), api_11, names_10)


def check_all(api_11: dict, names_10: dict) -> Report:
    report = Report()
    for path in trt_typecheck.tensorrt_modules():
        report.merge(check(path, api_11, names_10))
    return report


def test_the_tensorrt_modules_are_found():
    assert {TRT_BUILD, TRT_RUNTIME, ROOT / "targets" / "nvidia" / "options.py"} <= set(trt_typecheck.tensorrt_modules())


def test_mypy_passes_with_the_tensorrt_10_stubs_and_reports_a_misspelled_call(tmp_path):
    """One mypy run: the real modules must be clean, a copy of trt_build.py with a misspelled call must not."""
    source = TRT_BUILD.read_text()
    misspelled = tmp_path / "trt_build_misspelled.py"
    misspelled.write_text(source.replace("config.set_memory_pool_limit(", "config.set_memory_pool_limt("))
    proc = trt_typecheck.run_mypy([*trt_typecheck.tensorrt_modules(), misspelled], tmp_path)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if ": error:" in line]
    assert [line for line in errors if not line.startswith(str(misspelled))] == []
    assert "config.set_memory_pool_limit(" in source, "trt_build.py changed: update this case"
    assert len(errors) == 1 and '"IBuilderConfig" has no attribute "set_memory_pool_limt"' in errors[0], proc.stdout


def test_stub_repairs_are_only_the_known_unparsable_lines(tmp_path):
    notes = trt_typecheck.prepare_stubs(tmp_path)
    assert notes and all("tensorrt_bindings/tensorrt.pyi" in note for note in notes)
    assert all(note.split(": ", 2)[2].startswith("def ") for note in notes)
    with pytest.raises(SyntaxError):
        trt_typecheck.repair_stub("x = (\n", "broken.pyi")


def test_the_11x_api_is_read_from_the_installed_bindings(api_11):
    assert api_11["version"].startswith("11.")
    assert "build_serialized_network" in api_11["classes"]["Builder"]["methods"]
    assert "FP16" not in api_11["classes"]["BuilderFlag"]["members"]  # precision flags are gone in 11.x
    assert "TF32" in api_11["classes"]["BuilderFlag"]["members"]


def test_every_tensorrt_name_and_call_exists_in_11x(api_11, names_10):
    report = check_all(api_11, names_10)
    assert report.findings == []
    assert CORE_CALLS <= report.uses, sorted(CORE_CALLS - report.uses)
    assert report.only_10 == []  # 10.x-only names are reached through the precision plan (below)


def test_probed_and_dynamic_names(api_11, names_10):
    report = check_all(api_11, names_10)
    assert sorted(report.probes) == ["ICudaEngine.device_memory_size", "ICudaEngine.device_memory_size_v2"]
    assert "device_memory_size" not in api_11["classes"]["ICudaEngine"]["properties"]
    assert [entry.split(": ", 1)[1] for entry in report.dynamic] == ["getattr(BuilderFlag, flag)"]


@pytest.mark.parametrize("major", [10, 11])
def test_precision_plans_use_only_builder_flags_of_their_version(api_11, names_10, major):
    """The getattr(BuilderFlag, flag) above: every flag a plan can name exists in that version's enum."""
    version = api_11["version"] if major == 11 else "10.13.0"
    flags_here = set(api_11["classes"]["BuilderFlag"]["members"]) if major == 11 else names_10["BuilderFlag"]
    named = set()
    for precision, qdq, fp16 in itertools.product(("fp32", "fp16", "int8"), (False, True), (False, True)):
        try:
            named.update(precision_plan(version, precision, OnnxFacts(qdq, fp16)).builder_flags)
        except TargetError:
            continue
    assert named <= flags_here
    assert ("FP16" in named) == (major == 10)


def test_engine_dtype_names_are_tensorrt_data_types(api_11, names_10):
    assert set(TRT_DTYPE_NAMES) <= set(api_11["classes"]["DataType"]["members"])
    assert set(TRT_DTYPE_NAMES) <= names_10["DataType"]


MISTAKES = [  # (file, what the code says, a mistake, what the report must say)
    (TRT_BUILD, "config.set_memory_pool_limit(", "config.set_memory_pool_limt(", "IBuilderConfig.set_memory_pool_limt"),
    (TRT_BUILD, "ignore_mismatch=True", "ignore_missmatch=True", "IBuilderConfig.set_timing_cache called"),
    (TRT_BUILD, "MemoryPoolType.WORKSPACE", "MemoryPoolType.WORK_SPACE", "MemoryPoolType.WORK_SPACE does not exist"),
    (TRT_BUILD, "trt.OnnxParser(network, logger)", "trt.OnnxParser(network)", "OnnxParser.__init__ called with 1"),
    (TRT_BUILD, "def log(self", "def lgo(self", "ILogger.lgo does not exist"),
    (TRT_BUILD, "plan.builder_flags:\n", "plan.builder_flags:\n        config.set_flag(trt.BuilderFlag.FP16)\n",
     "BuilderFlag.FP16 exists only in TensorRT 10.x"),
    (TRT_BUILD, "tensor.shape[0]", "tensor.dims[0]", "ITensor.dims does not exist"),
    (TRT_RUNTIME, "execute_async_v3(self", "execute_async_v2(self", "IExecutionContext.execute_async_v2"),
    (TRT_RUNTIME, "get_tensor_profile_shape(self._input_name, 0)", "get_tensor_profile_shape(self._input_name)",
     "ICudaEngine.get_tensor_profile_shape called with 1"),
    (TRT_RUNTIME, "trt.TensorIOMode.INPUT", "trt.TensorIOMode.INPUTS", "TensorIOMode.INPUTS does not exist"),
    (TRT_RUNTIME, '"device_memory_size", 0', '"device_memory_bytes", 0', "device_memory_bytes is probed but"),
]


@pytest.mark.parametrize("path,good,bad,reported", MISTAKES, ids=[m[3].split()[0] for m in MISTAKES])
def test_a_wrong_name_argument_or_enum_is_reported(api_11, names_10, path, good, bad, reported):
    source = path.read_text()
    assert good in source, f"{path.name} no longer says {good!r}: update this case"
    mutated = source.replace(good, bad, 1)
    report = check(path, api_11, names_10, mutated)
    assert len(report.findings) == 1 and reported in report.findings[0], report.findings
    line = next(i for i, (a, b) in enumerate(zip(source.splitlines(), mutated.splitlines()), 1) if a != b)
    assert report.findings[0].startswith(f"{path.relative_to(ROOT)}:{line}:"), report.findings


def test_a_10x_name_on_the_10x_path_is_allowed_and_listed(api_11, names_10):
    source = TRT_BUILD.read_text()
    guarded = "        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)\n"
    assert guarded in source
    report = check(TRT_BUILD, api_11, names_10,
                   source.replace(guarded, guarded.replace("return 1 <<", "trt.BuilderFlag.FP16\n        return 1 <<")))
    assert report.findings == [] and report.only_10 == ["BuilderFlag.FP16"]


SNIPPET = '''
import tensorrt as trt


def run(engine: trt.ICudaEngine, logger: trt.ILogger) -> None:
    trt.init_libnvinfer_plugins(logger, "")
    trt.init_libnvinfer_plugins(logger)
    engine.create_execution_context(strategy=trt.ExecutionContextAllocationStrategy.STATIC)
    engine.create_execution_context(stratgy=trt.ExecutionContextAllocationStrategy.STATIC)
    context = engine.create_execution_context()
    context.set_input_shape("x", (1, 3))
    context.set_input_shape("x")
    trt.ICudaEngine.get_tensor_name(engine, 0)
    trt.ICudaEngine.get_tensor_name(0)
'''


def test_module_functions_keywords_and_unbound_calls(api_11, names_10):
    report = check_source(SNIPPET, "snippet.py", api_11, names_10)
    lines = [int(finding.split(":")[1]) for finding in report.findings]
    bad = [i for i, text in enumerate(SNIPPET.splitlines(), 1)
           if text.strip().startswith(("trt.init_libnvinfer_plugins(logger)", "engine.create_execution_context(stratgy",
                                       'context.set_input_shape("x")', "trt.ICudaEngine.get_tensor_name(0)"))]
    assert lines == bad and len(bad) == 4, report.findings

"""engine=ort-cann: the ONNX in ONNX Runtime's CANN execution provider (stubbed: no NPU here)."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from harness.errors import MissingDependencyError, TargetError
from targets import get_target
from targets.ascend import ort_cann
from tests.targets.ascend.models import IMAGE, build_request, cpu_reference, manifest_for, tiny_classifier

# Keys in every onnxruntime-cann version's option parser (ref-ascend.md section 7).
COMMON_KEYS = {"device_id", "npu_mem_limit", "arena_extend_strategy", "enable_cann_graph"}


@pytest.fixture
def onnx_path(tmp_path):
    return tiny_classifier(tmp_path / "tiny.onnx")


@pytest.fixture
def cann_ort(monkeypatch):
    """onnxruntime with a CANN provider that checks its options, computing on the real CPU provider."""
    import onnxruntime as real

    seen = {}

    class InferenceSession(real.InferenceSession):
        def __init__(self, path, sess_options=None, providers=None):
            if providers == ["CPUExecutionProvider"]:  # the CPU reference in the same test
                super().__init__(path, sess_options=sess_options, providers=providers)
                return
            (name, options), = providers
            assert name == "CANNExecutionProvider"
            unknown = set(options) - COMMON_KEYS
            if unknown:
                raise RuntimeError(f'Unknown provider option: "{sorted(unknown)[0]}"')
            seen.update(options)
            super().__init__(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

        def get_providers(self):
            return ["CANNExecutionProvider", "CPUExecutionProvider"]

    stub = types.ModuleType("onnxruntime")
    stub.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    stub.__version__ = real.__version__
    stub.InferenceSession = InferenceSession
    stub.get_available_providers = lambda: ["CANNExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setitem(sys.modules, "onnxruntime", stub)
    return seen


def test_only_common_provider_options():
    assert set(ort_cann.provider_options(3)) <= COMMON_KEYS
    assert ort_cann.provider_options(3)["device_id"] == "3"


def test_build_copies_the_onnx_and_runs_it(cann_ort, onnx_path, tmp_path):
    request = build_request(onnx_path, tmp_path / "out", precision="fp16", engine="ort-cann")
    target = get_target("ascend")
    result = target.build(request)
    assert result.artifact.name == "tiny.fp16.cann.onnx" and result.info["engine"] == "ort-cann"
    batch = np.random.default_rng(0).standard_normal((2, 3, IMAGE, IMAGE)).astype(np.float32)
    with target.open(result.artifact, manifest_for(request, result), "1") as session:
        out = session.run(batch)[0]
        assert session.info()["provider"] == "CANNExecutionProvider"
    np.testing.assert_array_equal(out, cpu_reference(onnx_path, batch))
    assert cann_ort["device_id"] == "1"


def test_fp32_is_refused_with_the_reason(onnx_path, tmp_path):
    with pytest.raises(TargetError, match="default precision .force_fp16. and cannot build 'fp32'"):
        get_target("ascend").build(build_request(onnx_path, tmp_path / "out", engine="ort-cann"))


def test_plain_onnxruntime_has_no_cann_provider(onnx_path, tmp_path):
    request = build_request(onnx_path, tmp_path / "out", precision="fp16", engine="ort-cann")
    target = get_target("ascend")
    result = target.build(request)
    with pytest.raises(MissingDependencyError, match="onnxruntime-cann is not available .this onnxruntime"):
        target.open(result.artifact, manifest_for(request, result))

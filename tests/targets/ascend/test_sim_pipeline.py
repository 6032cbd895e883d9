"""The simulated `InferenceSession.run_pipeline` (2025 generation only), driven by Huawei's real
`InferSession.infer_pipeline`, against the same batches run one by one and ONNX Runtime on the CPU."""
from __future__ import annotations

import numpy as np
import pytest

from targets import get_target
from tests.targets.ascend.models import IMAGE, build_request, cpu_reference, tiny_classifier

BATCHES = 5


@pytest.fixture
def built(ascend_sim, tmp_path):
    onnx = tiny_classifier(tmp_path / "tiny.onnx")
    om = get_target("ascend").build(build_request(onnx, tmp_path / "om", batch_sizes=[1, 2, 4], dynamic=True))
    return onnx, om.artifact


def _batches(rows: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal((rows, 3, IMAGE, IMAGE)).astype(np.float32) for _ in range(BATCHES)]


def test_infer_pipeline_equals_the_batches_one_by_one(built):
    import aclruntime
    from ais_bench.infer.interface import InferSession

    onnx, om = built
    session = InferSession(0, str(om))
    batches = _batches()
    one_by_one = [session.infer([batch], mode="dymbatch")[0] for batch in batches]
    session.reset_summaryinfo()
    aclruntime.MemorySummary().reset()
    piped = session.infer_pipeline([[batch] for batch in batches], mode="dymbatch")
    assert len(piped) == BATCHES and all(len(outputs) == 1 for outputs in piped)
    for got, alone, batch in zip(piped, one_by_one, batches):
        assert got[0].tobytes() == alone.tobytes()
        np.testing.assert_array_equal(got[0], cpu_reference(onnx, batch))
    pairs = session.summary().exec_time_list
    assert len(pairs) == BATCHES and all(end >= start for start, end in pairs)
    assert [start for start, _ in pairs] == sorted(start for start, _ in pairs)  # one execution after another
    memory = aclruntime.MemorySummary()
    assert len(memory.H2D_time_list) == BATCHES and len(memory.D2H_time_list) == BATCHES
    session.free_resource()


def test_the_binding_returns_host_tensors_per_feeds_list(built):
    import aclruntime

    _, om = built
    options = aclruntime.session_options()
    session = aclruntime.InferenceSession(str(om), 0, options)
    session.set_dynamic_batchsize(2)
    batches = _batches(rows=2)
    feeds = [[aclruntime.BaseTensor(b.__array_interface__["data"][0], b.nbytes)] for b in batches]
    outputs = session.run_pipeline(["class"], feeds, [[list(b.shape)] for b in batches], False, False)
    assert [len(o) for o in outputs] == [1] * BATCHES
    assert all(t.type == aclruntime.memory_host for o in outputs for t in o)
    alone = session.run(["class"], feeds[3])[0]
    alone.to_host()
    assert np.array(outputs[3][0]).tobytes() == np.array(alone).tobytes()


def test_the_binding_refuses_what_the_cpp_refuses(built):
    import aclruntime

    _, om = built
    session = aclruntime.InferenceSession(str(om), 0, aclruntime.session_options())
    session.set_dynamic_batchsize(4)
    batch = _batches()[0]
    feed = [aclruntime.BaseTensor(batch.__array_interface__["data"][0], batch.nbytes)]
    with pytest.raises(RuntimeError, match="input list len not equal to shapes list len"):
        session.run_pipeline(["class"], [feed, feed], [[list(batch.shape)]], False, False)
    with pytest.raises(RuntimeError, match="in size:49152 needsize:24576 not match"):
        session.set_dynamic_batchsize(2)
        session.run_pipeline(["class"], [feed], [[list(batch.shape)]], False, False)
    with pytest.raises(TypeError, match="incompatible function arguments"):
        session.run_pipeline([["a.bin"]], aclruntime.session_options(), [])  # the file overload
    with pytest.raises(TypeError, match="incompatible function arguments"):
        session.run_pipeline(["class"], [feed], [[[-1, 3, IMAGE, IMAGE]]], False, False)  # size_t dims


def test_the_2023_generation_has_no_pipeline(ascend_sim, built):
    ascend_sim.api("2023")
    import aclruntime
    from ais_bench.infer.interface import InferSession

    assert not hasattr(aclruntime.InferenceSession, "run_pipeline")
    assert not hasattr(InferSession, "infer_pipeline")

"""An OM with dynamic dims besides the batch (atc --dynamic_image_size / --dynamic_dims / --input_shape_range),
given as a bare OM: the runtime reports -1 in those dims (aclmdlGetInputDims) and the largest size
(aclmdlGetInputSizeByIndex); the session must say what the OM is, not blame convert.json."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.errors import ContractError
from targets.ascend import runtime


class _Backend:
    pipeline_problem = "no pipeline here"

    def __init__(self, shape, size):
        self._input = SimpleNamespace(name="image", shape=shape, datatype=0, size=size, realsize=size)

    def input_descs(self):
        return [self._input]

    def output_descs(self):
        return [SimpleNamespace(name="class", shape=[1, 1000], datatype=0, size=4000, realsize=4000)]

    def release(self):
        pass


@pytest.mark.parametrize("shape", [[1, 3, -1, -1], [-1, 3, -1, -1]])
def test_dynamic_hw_om_is_refused_for_what_it_is(tmp_path, monkeypatch, shape):
    om = tmp_path / "resnet_dymhw.om"
    om.write_bytes(b"om")
    monkeypatch.setattr(runtime, "open_backend", lambda *args: _Backend(shape, 3 * 448 * 448 * 4))
    with pytest.raises(ContractError) as info:
        runtime.AscendSession(om, gears=[1, 2] if shape[0] == -1 else None)
    message = str(info.value)
    assert message.startswith(f"{om}: input 'image' has dynamic dims {shape} besides the batch")
    assert "--dynamic_image_size" in message and "convert.json" not in message


def test_static_om_still_opens(tmp_path, monkeypatch):
    om = tmp_path / "resnet_bs1.om"
    om.write_bytes(b"om")
    monkeypatch.setattr(runtime, "open_backend", lambda *args: _Backend([1, 3, 224, 224], 3 * 224 * 224 * 4))
    session = runtime.AscendSession(om)
    assert session.inputs()[0].shape == [1, 3, 224, 224] and session.max_batch() == 1

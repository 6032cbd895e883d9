"""TensorRT engine run: deserialize, one execution context, execute_async_v3 on the current torch stream.

Device memory is torch's (tensor.data_ptr() as tensor addresses); the session's pipeline provides the
streams, events and CUDA graphs (trtexec's pattern: one enqueue before capture, plain launches when
capture fails). Annotated with TensorRT's classes for the API check in CI; tensorrt is imported at run time only.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import TargetError
from targets.nvidia.device import import_torch
from targets.nvidia.pipeline import DeviceRunner, host_random
from targets.nvidia.plan import trt_dtype_name
from targets.nvidia.trt_build import capturing_logger, import_tensorrt

if TYPE_CHECKING:
    import tensorrt as trt


class TrtRunner(DeviceRunner):
    warmup_runs = 1  # trtexec: enqueue once before capture so lazy initialisation stays out of the graph

    def __init__(self, artifact: Path, device: Any, sample_shape: tuple[int, ...]) -> None:
        import_tensorrt()  # one line naming the missing package, not an ImportError
        import tensorrt as trt

        self._torch = import_torch()
        self._device = device
        self._sample_shape = tuple(sample_shape)
        self._log: list[str] = []
        self._runtime = trt.Runtime(capturing_logger(self._log))
        engine = self._runtime.deserialize_cuda_engine(Path(artifact).read_bytes())
        if engine is None:
            raise TargetError(f"{artifact}: TensorRT could not deserialize it "
                              f"({(self._log or ['no log'])[-1]}); rerun convert on this machine")
        self._engine: trt.ICudaEngine = engine
        self._context: trt.IExecutionContext = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise TargetError(f"{artifact}: the engine has {len(inputs)} inputs; the harness feeds one")
        self._input_name = inputs[0]
        self._output_names = [n for n in names if n != self._input_name]
        self._dtypes = {n: getattr(self._torch, trt_dtype_name(engine.get_tensor_dtype(n).name)) for n in names}
        self._outputs: dict[int, list] = {}

    def profile_range(self) -> tuple[int, int, int]:
        low, opt, high = self._engine.get_tensor_profile_shape(self._input_name, 0)
        return low[0], opt[0], high[0]

    def make_input(self, batch: int) -> Any:
        return host_random(self._torch, (batch, *self._sample_shape), self._dtypes[self._input_name], self._device)

    def _output_buffers(self, batch: int) -> list:
        if batch not in self._outputs:
            torch = self._torch
            self._outputs[batch] = [torch.empty(_shape(self._context.get_tensor_shape(n)), dtype=self._dtypes[n],
                                                device=self._device) for n in self._output_names]
        return self._outputs[batch]

    def forward(self, static_input: Any) -> list:
        context = self._context
        if not context.set_input_shape(self._input_name, tuple(static_input.shape)):
            raise TargetError(f"the engine refused input shape {tuple(static_input.shape)}")
        context.set_tensor_address(self._input_name, static_input.data_ptr())
        outputs = self._output_buffers(int(static_input.shape[0]))
        for name, tensor in zip(self._output_names, outputs):
            context.set_tensor_address(name, tensor.data_ptr())
        if not context.execute_async_v3(self._torch.cuda.current_stream().cuda_stream):
            raise TargetError(f"TensorRT execute_async_v3 failed: {(self._log or ['no log'])[-1]}")
        return outputs

    def info(self) -> dict:
        engine = self._engine
        size = int(getattr(engine, "device_memory_size_v2", 0) or getattr(engine, "device_memory_size", 0))  # v2: 10.1+
        low, opt, high = self.profile_range()
        return {"engine": "tensorrt", "tensorrt": import_tensorrt().__version__, "input_name": self._input_name,
                "engine_profile": {"min": int(low), "opt": int(opt), "max": int(high)},
                "output_names": self._output_names, "engine_device_memory_mib": round(size / (1 << 20), 1),
                "io_dtypes": {n: str(d).replace("torch.", "") for n, d in self._dtypes.items()}}

    def close(self) -> None:
        self._outputs.clear()
        if hasattr(self, "_context"):
            del self._context, self._engine  # the context goes before its engine


def _shape(dims: trt.Dims) -> tuple[int, ...]:
    """By index: Dims has __len__ and __getitem__ but no __iter__ in the API's signatures."""
    return tuple(dims[i] for i in range(len(dims)))

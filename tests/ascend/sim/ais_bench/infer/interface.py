"""Simulated `ais_bench.infer.interface` (tests only), ref-ascend.md section 5.

ASCEND_SIM_API=2023: sumary(), reset_sumaryinfo(), instance finalize(), infer(feeds, mode, custom_sizes)
where only dymshape/dymdims would act; MemorySummary.get_H2D_time_list().
ASCEND_SIM_API=2025 (default): summary(), reset_summaryinfo(), free_resource(), static finalize(),
infer(..., out_array=True) with its checks (feeds must be a list; static calls set_staticbatch,
dymbatch sets the gear from the -1 dim); model path and device id checks; get_h2d_time_list().
"""
from __future__ import annotations

import os
import re
import stat

import aclruntime
import numpy as np

API = aclruntime.API


class _Base:
    def __init__(self, device_id: int, model_path: str, acl_json_path: str | None = None,
                 debug: bool = False, loop: int = 1) -> None:
        self.device_id, self.model_path, self.loop = device_id, model_path, loop
        options = aclruntime.session_options()
        if acl_json_path is not None:
            options.acl_json_path = acl_json_path
        options.log_level = 1 if debug else 2
        options.loop = loop
        self.session = aclruntime.InferenceSession(model_path, device_id, options)
        self.outputs_names = [meta.name for meta in self.session.get_outputs()]

    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def set_staticbatch(self):
        self.session.set_staticbatch()

    def set_dynamic_batchsize(self, batch):
        self.session.set_dynamic_batchsize(batch)

    def run(self, feeds, out_array=False):
        if len(feeds) > 0 and isinstance(feeds[0], np.ndarray):
            feeds = [aclruntime.BaseTensor(a.__array_interface__["data"][0], a.nbytes) for a in feeds]
        outputs = self.session.run(self.outputs_names, feeds)
        if out_array:
            for tensor in outputs:
                tensor.to_host()
            return [np.array(tensor) for tensor in outputs]
        return outputs

    def _arrays(self, feeds):
        arrays = []
        for feed in feeds:
            if isinstance(feed, np.ndarray):
                arrays.append(np.ascontiguousarray(feed))
            elif isinstance(feed, aclruntime.Tensor):
                arrays.append(feed)
            else:
                raise RuntimeError(f"type:{type(feed)} invalid")
        return arrays


class _InferSession2023(_Base):
    def infer(self, feeds, mode="static", custom_sizes=100000):
        arrays = self._arrays(feeds)
        if mode in ("dymshape", "dymdims"):
            raise RuntimeError(f"mode {mode} is not part of the simulation")
        return self.run(arrays, out_array=True)

    def sumary(self):
        return self.session.sumary()

    def reset_sumaryinfo(self):
        self.session.reset_sumaryinfo()

    def finalize(self):
        if hasattr(self.session, "finalize"):
            self.session.finalize()


def _check_model_path(path: str) -> None:
    real = os.path.abspath(path)
    if not re.fullmatch(r"[_A-Za-z0-9/.\-]+", real):
        raise ValueError(f"path:{real} contains invalid characters")
    if not os.path.isfile(real) or os.path.islink(path):
        raise ValueError(f"model path:{real} is not a regular file")
    if not real.endswith(".om"):
        raise ValueError(f"model path:{real} is not an .om file")
    mode = os.stat(real).st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ValueError(f"model path:{real} permission should not be over 0o755")


class _InferSession2025(_Base):
    def __init__(self, device_id: int, model_path: str, acl_json_path: str | None = None,
                 debug: bool = False, loop: int = 1) -> None:
        _check_model_path(model_path)
        if not isinstance(device_id, int) or isinstance(device_id, bool):
            raise TypeError(f"device_id:{device_id} type {type(device_id)} is not int")
        if not 0 <= device_id <= 255:
            raise ValueError(f"device_id:{device_id} is out of range [0, 255]")
        if not isinstance(loop, int) or not 1 <= loop <= 100000:
            raise ValueError(f"loop:{loop} is out of range [1, 100000]")
        super().__init__(device_id, model_path, acl_json_path, debug, loop)

    def infer(self, feeds, mode="static", custom_sizes=100000, out_array=True):
        if not isinstance(feeds, list) or not feeds or len(feeds) > 1024:
            raise ValueError(f"feeds must be a non-empty list of at most 1024 items, got {type(feeds).__name__}")
        if not isinstance(out_array, bool):
            raise ValueError("out_array must be a bool")
        arrays = self._arrays(feeds)
        if mode == "static":
            self.set_staticbatch()
        elif mode == "dymbatch":
            self._dymbatch_prepare([list(np.shape(a)) if isinstance(a, np.ndarray) else a.shape for a in arrays])
        elif mode in ("dymhw", "dymdims", "dymshape"):
            raise RuntimeError(f"mode {mode} is not part of the simulation")
        else:
            raise RuntimeError(f'wrong infer_mode:{mode}, only support '
                               '"static","dymbatch","dymhw","dymdims","dymshape"')
        return self.run(arrays, out_array)

    def _dymbatch_prepare(self, shapes):
        descs = self.get_inputs()
        if len(shapes) != len(descs):
            raise RuntimeError("input datas and intensors nums not matched!")
        for desc, shape in zip(descs, shapes):
            for j, dim in enumerate(shape):
                if desc.shape[j] < 0:
                    self.set_dynamic_batchsize(dim)
                    return
                if desc.shape[j] != dim:
                    raise RuntimeError("input datas and intensors dim not matched!")
        raise RuntimeError("not a dymbatch model!")

    def summary(self):
        return self.session.sumary()

    def reset_summaryinfo(self):
        self.session.reset_sumaryinfo()

    def free_resource(self):
        if hasattr(self.session, "free_resource"):
            self.session.free_resource()

    def get_max_dym_batchsize(self):
        return self.session.get_max_dym_batchsize()

    @staticmethod
    def finalize():
        if hasattr(aclruntime.InferenceSession, "finalize"):
            aclruntime.InferenceSession.finalize()


class _MemorySummary2023:
    @staticmethod
    def get_H2D_time_list():  # noqa: N802
        return aclruntime.MemorySummary().H2D_time_list

    @staticmethod
    def get_D2H_time_list():  # noqa: N802
        return aclruntime.MemorySummary().D2H_time_list

    @staticmethod
    def reset():
        aclruntime.MemorySummary().reset()


class _MemorySummary2025:
    @staticmethod
    def get_h2d_time_list():
        return aclruntime.MemorySummary().H2D_time_list

    @staticmethod
    def get_d2h_time_list():
        return aclruntime.MemorySummary().D2H_time_list

    @staticmethod
    def reset():
        aclruntime.MemorySummary().reset()


InferSession = _InferSession2023 if API == "2023" else _InferSession2025
MemorySummary = _MemorySummary2023 if API == "2023" else _MemorySummary2025

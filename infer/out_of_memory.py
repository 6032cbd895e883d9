"""The record a run leaves when its batch does not fit in device memory, where its summary would go.

A sweep (`make bench`) goes on to the next batch size; the report shows the row as out of memory.
"""
from __future__ import annotations

from pathlib import Path

from harness.contracts import ConvertManifest, OutOfMemoryRecord
from harness.errors import DeviceOutOfMemory
from harness.files import write_json


def out_of_memory_record(error: DeviceOutOfMemory, manifest: ConvertManifest, artifact: Path,
                         device: str) -> OutOfMemoryRecord:
    return OutOfMemoryRecord(model=manifest.model, target=manifest.target, precision=manifest.precision,
                             device=device, artifact=str(artifact), **error.record())


def write_out_of_memory(path: Path, error: DeviceOutOfMemory, manifest: ConvertManifest, artifact: Path,
                        device: str) -> None:
    write_json(path, out_of_memory_record(error, manifest, artifact, device).to_dict())

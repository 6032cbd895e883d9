"""Stands in for targets.nvidia.precompile_child when the batch does not fit: what that child prints and exits with."""
import json
import sys

from harness.errors import DeviceOutOfMemory

print(json.dumps(DeviceOutOfMemory(2, None, 7_594_000_000).record()))
sys.exit(DeviceOutOfMemory.exit_code)

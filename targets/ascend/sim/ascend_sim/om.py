"""The simulated OM file: magic, an 8-byte header length, a JSON header, then the ONNX bytes.

The header records what atc was asked for: input name/shape/dtype, dynamic-batch gears, the
compute precision the precision flags imply, the AIPP config, output descriptions.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

MAGIC = b"ASCEND-SIM-OM\x00"


def write_om(path: Path, header: dict, onnx_bytes: bytes, mode: int = 0o640) -> None:
    blob = json.dumps(header, sort_keys=True).encode("utf-8")
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(MAGIC + struct.pack("<Q", len(blob)) + blob + onnx_bytes)
    os.chmod(tmp, mode)
    tmp.replace(path)


def read_om(path: Path) -> tuple[dict, bytes]:
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not an OM file (bad magic)")
    start = len(MAGIC) + 8
    (length,) = struct.unpack("<Q", data[len(MAGIC):start])
    header = json.loads(data[start:start + length].decode("utf-8"))
    return header, data[start + length:]


def parse_aipp_config(text: str) -> dict:
    """`key : value` lines of one aipp_op { ... } block into a dict (numbers and booleans converted)."""
    body = text.split("{", 1)[1].rsplit("}", 1)[0] if "{" in text else ""
    if "aipp_op" not in text.split("{", 1)[0]:
        raise ValueError("no aipp_op block")
    config: dict = {}
    for line in body.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad AIPP line {line!r}")
        value = value.strip()
        if value in ("true", "false"):
            config[key.strip()] = value == "true"
        else:
            try:
                config[key.strip()] = int(value)
            except ValueError:
                try:
                    config[key.strip()] = float(value)
                except ValueError:
                    config[key.strip()] = value
    return config

"""The paths atc takes, and a staging directory for the paths it refuses.

atc checks its path arguments against one pattern (graphengine `CheckInputPathValid` / `CheckOutputPathValid`):
`^[\u4e00-\u9fa5A-Za-z0-9./_-]+$`, on the real path of an input (--model, --insert_op_conf) and on --output as
given; anything else fails with E10001 "The path can only contain 'a-z' 'A-Z' '0-9' '-' '.' '_' and Chinese
characters". A convert directory under `/data/my models/` or `/home/jürgen/` is therefore refused before atc
converts anything. Such a build runs in a fresh directory of the system temp dir instead, holding copies of the
ONNX (with its external data files) and the AIPP config, and the OM atc writes there is moved into the convert
directory. The check here is ASCII only: whether atc's regcomp also takes non-Chinese UTF-8 depends on its locale.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError

ATC_SAFE_PATH = re.compile(r"^[A-Za-z0-9./_\-]+$")
HOW_TO_FIX_TMP = "set TMPDIR to a directory whose path has only letters, digits and . _ - /"


def atc_takes(path: Path, resolve: bool = True) -> bool:
    """Whether atc takes this path: inputs are checked on their real path, --output as given."""
    text = os.path.realpath(path) if resolve else str(path)
    return ATC_SAFE_PATH.match(text) is not None


@dataclass
class AtcPaths:
    """The paths one atc run is given; `staged` names the directory that stands in for the convert directory."""

    onnx: Path
    aipp_config: Path | None
    out_dir: Path
    staged: Path | None = None

    def release(self) -> None:
        if self.staged is not None:
            shutil.rmtree(self.staged, ignore_errors=True)


def atc_paths(onnx: Path, aipp_config: Path | None, out_dir: Path, base: str) -> AtcPaths:
    """The paths as they are where atc takes them all, else copies in a staging directory atc takes."""
    onnx, out_dir = Path(onnx).resolve(), Path(out_dir).resolve()
    inputs_ok = atc_takes(onnx) and (aipp_config is None or atc_takes(aipp_config))
    if inputs_ok and atc_takes(out_dir / base, resolve=False):
        return AtcPaths(onnx, Path(aipp_config).resolve() if aipp_config else None, out_dir)
    staging = Path(tempfile.mkdtemp(prefix="atc_"))
    paths = AtcPaths(staging / "model.onnx", None, staging, staged=staging)
    try:
        if not atc_takes(staging):
            raise InputError(f"{out_dir}: atc refuses paths with characters other than letters, digits and "
                             f". _ - /, and the temp directory it would run in ({staging}) has them too; "
                             f"{HOW_TO_FIX_TMP}, or convert into such a directory")
        _copy_onnx(onnx, paths.onnx)
        if aipp_config is not None:
            paths.aipp_config = staging / Path(aipp_config).name
            shutil.copyfile(aipp_config, paths.aipp_config)
    except BaseException:
        paths.release()
        raise
    return paths


def _copy_onnx(onnx: Path, target: Path) -> None:
    from convert.external_data import external_data_locations

    shutil.copyfile(onnx, target)
    for location in external_data_locations(onnx):
        source = (onnx.parent / location).resolve()
        if onnx.parent.resolve() not in source.parents:
            raise InputError(f"{onnx}: its external data {location!r} lies outside its directory; "
                             "convert into a directory whose path has only letters, digits and . _ - /")
        destination = target.parent / location
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)

"""Target registry: names map to module paths, imported only when that target is used."""
from __future__ import annotations

import importlib

from harness.errors import InputError

# name -> "module:attribute"; the module is imported lazily by get_target().
TARGETS = {
    "cpu": "targets.cpu:CpuTarget",
    "nvidia": "targets.nvidia:NvidiaTarget",
    "ascend": "targets.ascend:AscendTarget",
    "null": "targets.null:NullTarget",
}


def get_target(name: str, **options):
    """Instantiate a registered target; options are target-specific (engine=, soc_version=, ...)."""
    try:
        module_name, attr = TARGETS[name].split(":")
    except KeyError:
        raise InputError(f"unknown target {name!r}; choose one of {', '.join(sorted(TARGETS))}") from None
    module = importlib.import_module(module_name)
    return getattr(module, attr)(**options)

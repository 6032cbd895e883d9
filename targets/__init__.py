"""Target registry: names map to module paths, imported only when that target is used."""
from __future__ import annotations

import importlib

from harness.errors import InputError
from targets.options import options_for_infer

# name -> "module:attribute"; the module is imported lazily by get_target().
TARGETS = {
    "cpu": "targets.cpu:CpuTarget",
    "nvidia": "targets.nvidia:NvidiaTarget",
    "ascend": "targets.ascend:AscendTarget",
    "null": "targets.null:NullTarget",
}


def target_class(name: str):
    """A registered target's class (its module imported, no vendor package)."""
    try:
        module_name, attr = TARGETS[name].split(":")
    except KeyError:
        raise InputError(f"unknown target {name!r}; choose one of {', '.join(sorted(TARGETS))}") from None
    return getattr(importlib.import_module(module_name), attr)


def get_target(name: str, **options):
    """Instantiate a registered target; options are `key=value` settings its options class declares."""
    return target_class(name)(**options)


def target_for_artifact(name: str, recorded: dict, given: dict | None = None):
    """The target that opens a converted artifact: the build options convert recorded, then the given ones
    (a build option given with another value than the artifact was built with is refused)."""
    cls = target_class(name)
    return cls(**options_for_infer(cls.options_class, recorded, given or {}))

"""Optional Python packages, imported where they are first needed (vendor and heavy modules stay lazy)."""
from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import MissingDependencyError

REQUIREMENTS = "pip install -r requirements.txt"


def require(module: str, how: str = REQUIREMENTS) -> ModuleType:
    """Import `module`, or raise the one-line MissingDependencyError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, how) from None

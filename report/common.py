"""Small helpers shared by the report modules: JSON-safe values and number formatting."""
from __future__ import annotations

import math
from typing import Any

COMPUTE_ONLY = "compute-only"


def json_safe(value: Any) -> Any:
    """Replace inf/nan (not valid JSON) by the strings "inf", "-inf", "nan", recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers with fixed decimals and thousands separators, blanks for missing."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.{digits}f}"
    return str(value)


def fmt_sig(value: Any) -> str:
    """Small error figures: 4 significant digits."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return fmt(value)

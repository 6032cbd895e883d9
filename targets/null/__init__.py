"""The null target: returns zeros at once, so a run measures the harness loop's own overhead."""
from targets.null.target import NullTarget

__all__ = ["NullTarget"]

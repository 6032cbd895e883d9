"""Label and class-name files in the ImageNet / ModelZoo text formats."""
from __future__ import annotations

from pathlib import Path

from harness.errors import InputError


def read_labels(path: Path) -> dict[str, int]:
    """`<file name> <class index>` per line -> {stem: index}; the stem drops everything after the first dot.
    The index is the last field, so a file name may hold spaces (or be separated by a tab)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: label file not found; pass val_label.txt with --labels") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: label file cannot be read ({exc}); pass a text val_label.txt") from None
    labels: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        parts = line.rsplit(maxsplit=1)
        if not parts:
            continue
        if len(parts) < 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(f"{path}:{number}: expected '<file name> <class index>', found {line.strip()!r}")
        labels[parts[0].split(".")[0]] = int(parts[1])
    if not labels:
        raise InputError(f"{path}: no labels in the file; pass val_label.txt with --labels")
    return labels


def read_class_names(path: Path | None) -> dict[int, str]:
    """`<index> <wnid> <name>` (or `<index> <name>`) per line -> {index: name}."""
    if path is None:
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: classes file cannot be read ({exc.strerror}); check --classes") from None
    names: dict[int, str] = {}
    for line in lines:
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[-1]
    return names

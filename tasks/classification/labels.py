"""Label and class-name files in the ImageNet / ModelZoo text formats."""
from __future__ import annotations

import re
from pathlib import Path

from harness.errors import InputError
from harness.files import stem_of

INTEGER = re.compile(r"-?[0-9]+")


def read_labels(path: Path) -> dict[str, int]:
    """`<file name> <class index>` per line -> {stem: index}; the stem is named as preprocess names its outputs:
    the base name (a folder before it, `val/` or `./`, is dropped) up to its first dot. The index is the last
    field, so a file name may hold spaces (or be separated by a tab). A second line for the same image must give
    the same index, and an index is never negative."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a BOM is no part of the first name
    except FileNotFoundError:
        raise InputError(f"{path}: label file not found; pass val_label.txt with --labels") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: label file cannot be read ({exc}); pass a text val_label.txt") from None
    labels: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        parsed = _label_line(path, number, line)
        if parsed is None:
            continue
        stem, index = parsed
        if stem in labels and labels[stem] != index:
            raise InputError(f"{path}: lines {first_line[stem]} and {number} give {stem} different classes "
                             f"({labels[stem]} and {index}); keep one line per image")
        labels[stem] = index
        first_line.setdefault(stem, number)
    if not labels:
        raise InputError(f"{path}: no labels in the file; pass val_label.txt with --labels")
    return labels


def _label_line(path: Path, number: int, line: str) -> tuple[str, int] | None:
    """(stem, class index) of one line; None for a blank line."""
    parts = line.rsplit(maxsplit=1)
    if not parts:
        return None
    index = _integer(parts[1]) if len(parts) == 2 else None
    if index is None:
        raise InputError(f"{path}:{number}: expected '<file name> <class index>', found {line.strip()!r}")
    if index < 0:
        raise InputError(f"{path}:{number}: class index {index} is negative; class indices start at 0: fix or "
                         "remove the line")
    return stem_of(parts[0]), index


def _integer(text: str) -> int | None:
    return int(text) if INTEGER.fullmatch(text) else None


def read_class_names(path: Path | None) -> dict[int, str]:
    """`<index> <wnid> <name>` (or `<index> <name>`) per line -> {index: name}."""
    if path is None:
        return {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: classes file cannot be read ({exc.strerror}); check --classes") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: classes file is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
                         "UTF-8 or check --classes") from None
    names: dict[int, str] = {}
    for line in lines:
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[-1]
    return names

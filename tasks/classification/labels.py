"""Label and class-name files in the ImageNet / ModelZoo text formats."""
from __future__ import annotations

import codecs
import re
from pathlib import Path

from harness.errors import InputError
from harness.files import stem_of

INTEGER = re.compile(r"-?[0-9]+")
SYNSET = re.compile(r"n[0-9]{8}")  # a WordNet id, as ImageNet names its classes (n01440764)


def text_lines(path: Path) -> list[str]:
    """The lines of a text file in UTF-8, or in UTF-16 when it starts with a UTF-16 BOM (Windows Notepad's
    "Unicode"); a BOM is no part of the first line."""
    data = path.read_bytes()
    encoding = "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    return data.decode(encoding).splitlines()


def read_labels(path: Path, synsets: dict[str, int] | None = None) -> dict[str, int]:
    """`<file name> <class index>` per line -> {stem: index}; the stem is named as preprocess names its outputs:
    the base name (a folder before it, `val/` or `./`, is dropped) up to its first dot. The index is the last
    field, so a file name may hold spaces (or be separated by a tab). A second line for the same image must give
    the same index, and an index is never negative. A label given as a synset (`<file name> n01440764`) is
    the index the classes file gives it (`synsets`, from read_class_synsets); without one it is refused, since
    synsets have no one order."""
    try:
        lines = text_lines(path)
    except FileNotFoundError:
        raise InputError(f"{path}: label file not found; pass val_label.txt with --labels") from None
    except OSError as exc:
        raise InputError(f"{path}: label file cannot be read ({exc}); pass a text val_label.txt") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: label file is not UTF-8 (or UTF-16 with a BOM) text (byte {exc.start}: "
                         f"{exc.reason}); save it as UTF-8 or check --labels") from None
    labels: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        parsed = _label_line(path, number, line, synsets)
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


def _label_line(path: Path, number: int, line: str, synsets: dict[str, int] | None) -> tuple[str, int] | None:
    """(stem, class index) of one line; None for a blank line."""
    parts = line.rsplit(maxsplit=1)
    if not parts:
        return None
    if len(parts) == 2 and SYNSET.fullmatch(parts[1]):
        return stem_of(parts[0]), _synset_index(path, number, parts[1], synsets)
    index = _integer(parts[1]) if len(parts) == 2 else None
    if index is None:
        raise InputError(f"{path}:{number}: expected '<file name> <class index>', found {line.strip()!r}")
    if index < 0:
        raise InputError(f"{path}:{number}: class index {index} is negative; class indices start at 0: fix or "
                         "remove the line")
    return stem_of(parts[0]), index


def _synset_index(path: Path, number: int, synset: str, synsets: dict[str, int] | None) -> int:
    if not synsets:
        raise InputError(f"{path}:{number}: the label {synset} is a synset, not a class index; pass the model's "
                         "classes file ('<index> <synset> <name>' lines) with --classes to map synsets to indices")
    if synset not in synsets:
        raise InputError(f"{path}:{number}: synset {synset} is not in the classes file; check --labels and --classes "
                         "name the same class set")
    return synsets[synset]


def _integer(text: str) -> int | None:
    return int(text) if INTEGER.fullmatch(text) else None


def read_class_names(path: Path | None) -> dict[int, str]:
    """`<index> <wnid> <name>` (or `<index> <name>`) per line -> {index: name}."""
    names: dict[int, str] = {}
    for parts in _class_lines(path):
        if len(parts) >= 2 and parts[0].isdigit():
            names[int(parts[0])] = parts[-1]
    return names


def read_class_synsets(path: Path | None) -> dict[str, int]:
    """{synset: index} of the `<index> <synset> <name>` lines of a classes file; a synset listed twice is refused
    (its labels would have two classes)."""
    synsets: dict[str, int] = {}
    for parts in _class_lines(path):
        if len(parts) >= 2 and parts[0].isdigit() and SYNSET.fullmatch(parts[1]):
            index = int(parts[0])
            if synsets.setdefault(parts[1], index) != index:
                raise InputError(f"{path}: synset {parts[1]} is listed as class {synsets[parts[1]]} and class "
                                 f"{index}; keep one line per synset")
    return synsets


def _class_lines(path: Path | None) -> list[list[str]]:
    if path is None:
        return []
    try:
        lines = text_lines(path)
    except OSError as exc:
        raise InputError(f"{path}: classes file cannot be read ({exc.strerror}); check --classes") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: classes file is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
                         "UTF-8 or check --classes") from None
    return [line.split(maxsplit=2) for line in lines]

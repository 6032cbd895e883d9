"""Find the images under --input, and say what was left out and why.

Symlinked directories are followed (a data set is often assembled from links); one whose real
directory was already walked (a loop, or a second link to the same place) is walked once. Files
with other suffixes are listed as ignored, so a folder of GIFs is not silently half a data set.
Hidden entries (a name starting with a dot) are listed as ignored and not read: macOS leaves a `._<name>`
metadata file beside each image it copies (and in `__MACOSX/` of its zip archives), editors and notebooks leave
hidden copies (`.ipynb_checkpoints/`), and a hidden name has no stem to name its output by.
An --output directory inside --input is not walked (nor, when it is --input itself, its .bin files and
preprocess.json): they are this stage's own outputs, not input left out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.contracts import PreprocessManifest
from harness.errors import InputError
from harness.files import claim_stem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
HIDDEN_REASON = "hidden (its name starts with a dot: macOS ._ metadata, a notebook checkpoint and the like)"
SHOWN = 3  # examples named in the warning line


@dataclass
class Discovery:
    images: dict[str, Path]  # stem -> path, sorted by path
    ignored: list[dict] = field(default_factory=list)  # {"path", "reason"}


def _walk(root: Path, ignored: list[dict], output: Path | None) -> list[Path]:
    seen: dict[str, Path] = {}
    files: list[Path] = []
    output_real = os.path.realpath(output) if output is not None else None
    for directory, subdirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real == output_real:
            if Path(directory) != root:
                subdirs.clear()
                continue
            names = [name for name in names if not is_own_output(name)]  # --output is --input itself
        if real in seen:
            ignored.append({"path": directory, "reason": f"same directory as {seen[real]}, walked once"})
            subdirs.clear()
            continue
        seen[real] = Path(directory)
        hidden = sorted(name for name in subdirs if is_hidden(name))
        ignored.extend({"path": str(Path(directory) / name), "reason": HIDDEN_REASON} for name in hidden)
        subdirs[:] = sorted(name for name in subdirs if not is_hidden(name))
        files.extend(Path(directory) / name for name in names)
    return sorted(files)


def is_own_output(name: str) -> bool:
    return name.endswith(".bin") or name == PreprocessManifest.FILENAME


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def find_images(root: Path, output: Path | None = None) -> Discovery:
    """The images under `root`, and the entries left out with the reason; `output` (the stage's own output
    directory) is not walked where it lies under `root`."""
    if root.is_file():
        raise InputError(f"{root}: a file, not a directory; pass the directory holding the images with --input "
                         f"(e.g. {root.parent})")
    if not root.is_dir():
        raise InputError(f"{root}: input directory not found; pass a directory of images with --input")
    ignored: list[dict] = []
    found: dict[str, Path] = {}
    for path in _walk(root, ignored, output):
        if is_hidden(path.name):
            ignored.append({"path": str(path), "reason": HIDDEN_REASON})
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            ignored.append({"path": str(path), "reason": f"suffix {path.suffix or '(none)'} is not an image "
                                                          "suffix preprocess reads"})
            continue
        if not path.is_file():
            ignored.append({"path": str(path), "reason": "not a regular file (a broken link?)"})
            continue
        claim_stem(found, path)
    if not found:
        raise InputError(f"{root}: no images ({' '.join(IMAGE_SUFFIXES)}) found; check --input")
    return Discovery(found, ignored)


def report_ignored(ignored: list[dict], root: Path) -> None:
    if not ignored:
        return
    examples = ", ".join(os.path.relpath(i["path"], root) for i in ignored[:SHOWN])
    print(f"preprocess: warning: {len(ignored)} entries under {root} ignored (e.g. {examples}); "
          "preprocess.json lists each with the reason")

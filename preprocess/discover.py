"""Find the images under --input, and say what was left out and why.

Symlinked directories are followed (a data set is often assembled from links); one whose real
directory was already walked (a loop, or a second link to the same place) is walked once. Files
with other suffixes are listed as ignored, so a folder of GIFs is not silently half a data set.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InputError
from harness.files import claim_stem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SHOWN = 3  # examples named in the warning line


@dataclass
class Discovery:
    images: dict[str, Path]  # stem -> path, sorted by path
    ignored: list[dict] = field(default_factory=list)  # {"path", "reason"}


def _walk(root: Path, ignored: list[dict]) -> list[Path]:
    seen: dict[str, Path] = {}
    files: list[Path] = []
    for directory, subdirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            ignored.append({"path": directory, "reason": f"same directory as {seen[real]}, walked once"})
            subdirs.clear()
            continue
        seen[real] = Path(directory)
        subdirs.sort()
        files.extend(Path(directory) / name for name in names)
    return sorted(files)


def find_images(root: Path) -> Discovery:
    if not root.is_dir():
        raise InputError(f"{root}: input directory not found; pass a directory of images with --input")
    ignored: list[dict] = []
    found: dict[str, Path] = {}
    for path in _walk(root, ignored):
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

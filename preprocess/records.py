"""Which .bin files of an output directory are done: written under this recipe from the image as it is now.

preprocess.json lists each image's source with the size and mtime (ns) it had when it was read. While a run
writes, a journal beside it (`.preprocess.progress`: the recipe, then one JSON line per finished file) records
what it finished, so an interrupted run resumes without trusting a .bin it cannot vouch for: one of another
recipe, of an image changed or gone since, or one left by something else.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from harness.contracts import PREPROCESS_JOURNAL_NAME, PreprocessManifest
from harness.files import atomic_write_text, raise_if_disk_full, stem_of

STAT_FIELDS = ("size", "mtime_ns")
MATCHED_FIELDS = ("source", *STAT_FIELDS)  # an entry holding these as the image has them now is done


def source_stat(path: Path) -> dict:
    """The size and mtime (ns) of an image; None for both when it cannot be stat'ed (it is read, and fails, later)."""
    try:
        stat = os.stat(path)
    except OSError:
        return dict.fromkeys(STAT_FIELDS)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def file_entry(stem: str, path: Path, stat: dict) -> dict:
    """A preprocess.json `files` entry: the stem, the resolved source and what the source was when it was read."""
    return {"stem": stem, "source": str(Path(path).resolve()), **stat}


def same_recipe(a: dict | None, b: dict | None) -> bool:
    """Equal as written to JSON (a tuple read back is a list)."""
    return a is not None and b is not None and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def has_stat(entry: dict) -> bool:
    return isinstance(entry, dict) and all(type(entry.get(name)) is int for name in STAT_FIELDS)


def is_legacy(manifest: PreprocessManifest) -> bool:
    """Written before sources were recorded with their size and mtime: no .bin of it can be matched to its image."""
    return any(not has_stat(entry) for entry in manifest.files)


def read_journal(out_dir: Path) -> tuple[dict | None, dict[str, dict]]:
    """(recipe, stem -> entry) of an unfinished run's journal; a line cut short by a kill is left out."""
    try:
        lines = (Path(out_dir) / PREPROCESS_JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None, {}
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not records or not isinstance(records[0], dict) or "recipe" not in records[0]:
        return None, {}
    entries = {r["stem"]: r for r in records[1:] if isinstance(r, dict) and isinstance(r.get("stem"), str)}
    return records[0]["recipe"], entries


def recorded_entries(out_dir: Path, previous: PreprocessManifest | None, recipe: dict) -> dict[str, dict]:
    """stem -> entry of every file preprocess.json or the journal says was written under `recipe`."""
    entries = {}
    if previous is not None and same_recipe(previous.recipe, recipe):
        entries.update({e["stem"]: e for e in previous.files if has_stat(e) and isinstance(e.get("stem"), str)})
    journal_recipe, journaled = read_journal(out_dir)
    if same_recipe(journal_recipe, recipe):
        entries.update(journaled)
    return entries


def done_entries(out_dir: Path, recorded: dict[str, dict], current: dict[str, dict], nbytes: int) -> dict[str, dict]:
    """The recorded entries that match the current one of their image (file_entry: same source, size and mtime)
    and whose .bin is whole."""
    done = {}
    for stem, now in current.items():
        entry = recorded.get(stem)
        if entry is None or not has_stat(now) or any(entry.get(k) != now[k] for k in MATCHED_FIELDS):
            continue
        out = Path(out_dir) / f"{stem}.bin"
        if out.is_file() and out.stat().st_size == nbytes:
            done[stem] = entry
    return done


def recipe_changes(old: dict, new: dict) -> list[str]:
    """The recipe keys whose values differ, as written to JSON."""
    old, new = json.loads(json.dumps(old)), json.loads(json.dumps(new))
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def remove_bins(out_dir: Path, stems: Iterable[str]) -> int:
    """Remove <stem>.bin for each stem; the number that were there."""
    removed = 0
    for stem in stems:
        try:
            os.unlink(Path(out_dir) / f"{stem}.bin")
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def bins_of_other_images(out_dir: Path, images: dict[str, Path]) -> list[str]:
    """Stems of the .bin files in `out_dir` that no image under --input makes."""
    return sorted(stem_of(p) for p in Path(out_dir).glob("*.bin") if stem_of(p) not in images)


def start_journal(out_dir: Path, recipe: dict) -> None:
    """A new journal for a run under `recipe`, recording nothing yet."""
    atomic_write_text(Path(out_dir) / PREPROCESS_JOURNAL_NAME, json.dumps({"recipe": recipe}) + "\n")


def journal_finished(out_dir: Path, entry: dict) -> None:
    """Record one finished .bin (called by the worker that wrote it, after the rename). One short write with
    O_APPEND, so the lines of several workers do not interleave; a line cut by a kill is skipped on reading."""
    path = Path(out_dir) / PREPROCESS_JOURNAL_NAME
    data = (json.dumps(entry) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # removed meanwhile: no header, not trusted
    try:
        os.write(fd, data)
    except OSError as exc:
        raise_if_disk_full(exc, path, len(data))
        raise
    finally:
        os.close(fd)


def end_journal(out_dir: Path) -> None:
    (Path(out_dir) / PREPROCESS_JOURNAL_NAME).unlink(missing_ok=True)

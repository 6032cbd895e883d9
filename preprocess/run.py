"""Preprocess a directory of images in parallel, resumably, with atomic writes."""
from __future__ import annotations

import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

from harness.contracts import PreprocessManifest
from harness.errors import DiskFullError, InputError
from harness.files import atomic_write_bytes, human_bytes, remove_leftover_temporaries, stem_of
from harness.locks import claimed_output_dir
from harness.procs import quiet_worker
from preprocess.cli import PreprocessConfig
from preprocess.discover import Discovery, find_images, report_ignored
from tasks import Task, get_task, task_for_model

CHUNK = 16


def _process_chunk(items: list[tuple[str, str]], out_dir: str, task_name: str, recipe: dict, skip_bad: bool,
                   max_pixels: int) -> list:
    """Worker: returns (stem, None) when written, (stem, reason) when skipped; raises when not skipping."""
    task = get_task(task_name)
    results = []
    for stem, source in items:
        try:
            tensor = task.transform(Path(source), recipe, max_pixels)
        except InputError as exc:
            if not skip_bad:
                raise
            results.append((stem, str(exc)))
            continue
        atomic_write_bytes(Path(out_dir) / f"{stem}.bin", tensor.tobytes())
        results.append((stem, None))
    return results


def _pending(images: dict[str, Path], out_dir: Path, nbytes: int, previous: PreprocessManifest | None,
             recipe: dict) -> dict[str, Path]:
    """Images whose .bin is missing or not complete; everything when the recipe changed."""
    if previous is None or previous.recipe != recipe:
        return dict(images)
    todo = {}
    for stem, path in images.items():
        out = out_dir / f"{stem}.bin"
        if not (out.is_file() and out.stat().st_size == nbytes):
            todo[stem] = path
    return todo


def _previous(out_dir: Path) -> PreprocessManifest | None:
    try:
        return PreprocessManifest.read(out_dir)
    except Exception:  # a missing or foreign sidecar means: redo everything
        return None


def _run_pool(todo: dict[str, Path], config: PreprocessConfig, task: Task, recipe: dict,
              nbytes: int) -> list[dict]:
    try:
        return _pool_map(todo, config, task, recipe)
    except DiskFullError as exc:
        raise DiskFullError(f"{exc}; the {len(todo)} images of this run take {human_bytes(nbytes * len(todo))} "
                            "in all") from None


def _pool_map(todo: dict[str, Path], config: PreprocessConfig, task: Task, recipe: dict) -> list[dict]:
    items = [(stem, str(path)) for stem, path in sorted(todo.items())]
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    workers = max(1, min(config.workers or os.cpu_count() or 1, len(chunks)))
    skipped: list[dict] = []
    bar = _progress(len(items), config.progress)
    with ProcessPoolExecutor(max_workers=workers, initializer=quiet_worker, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_process_chunk, c, str(config.output), task.name, recipe, config.skip_bad,
                               config.max_pixels)
                   for c in chunks}
        while futures:
            done, futures = wait(futures, return_when=FIRST_EXCEPTION)
            for fut in done:
                if fut.exception() is not None:
                    for other in futures:
                        other.cancel()
                    bar.close()
                    raise fut.exception()
                for stem, reason in fut.result():
                    if reason is not None:
                        skipped.append({"source": str(todo[stem]), "reason": reason})
                bar.update(len(fut.result()))
    bar.close()
    return skipped


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="preprocess", disable=None if enabled else True, leave=False)


def run(config: PreprocessConfig) -> PreprocessManifest:
    task = task_for_model(config.model)
    recipe = task.resolve_recipe(config.model, config.preset, config.mode, resize=config.resize,
                                 input_size=config.input_size, interpolation=config.interpolation,
                                 mean=config.mean, std=config.std)
    discovery = find_images(config.input)
    report_ignored(discovery.ignored, config.input)
    with claimed_output_dir(config.output, "preprocess") as out_dir:
        return _preprocess(config, task, recipe, discovery, out_dir)


def _preprocess(config: PreprocessConfig, task: Task, recipe: dict, discovery: Discovery,
                out_dir: Path) -> PreprocessManifest:
    images = discovery.images
    shape = task.sample_shape(recipe)
    manifest = PreprocessManifest(shape=shape, dtype=recipe["dtype"], layout=recipe["layout"], recipe=recipe)
    nbytes = manifest.sample_nbytes
    remove_leftover_temporaries(out_dir)
    previous = _previous(out_dir)
    todo = _pending(images, out_dir, nbytes, previous, recipe)
    kept_skips = [s for s in (previous.skipped if previous and previous.recipe == recipe else [])
                  if Path(s["source"]).exists() and stem_of(Path(s["source"])) not in todo]
    if previous is None or previous.recipe != recipe:
        # Written first so an interrupted run resumes against the same recipe.
        PreprocessManifest(shape=shape, dtype=manifest.dtype, layout=manifest.layout, recipe=recipe).write(out_dir)
    new_skips = _run_pool(todo, config, task, recipe, nbytes) if todo else []
    skipped = kept_skips + new_skips
    skipped_sources = {s["source"] for s in skipped}
    manifest.files = [{"stem": stem, "source": str(path.resolve())} for stem, path in sorted(images.items())
                      if str(path) not in skipped_sources]
    manifest.skipped = sorted(skipped, key=lambda s: s["source"])
    manifest.ignored = discovery.ignored
    manifest.write(out_dir)
    print(f"preprocess: {len(manifest.files)} images -> {out_dir} ({len(todo) - len(new_skips)} written, "
          f"{len(images) - len(todo) - len(kept_skips)} already done, {len(skipped)} skipped)")
    return manifest

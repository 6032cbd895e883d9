"""Preprocess a directory of images in parallel, resumably, with atomic writes."""
from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from harness.contracts import PREPROCESS_JOURNAL_NAME, PreprocessManifest
from harness.errors import DiskFullError, InputError
from harness.files import atomic_write_bytes, human_bytes, remove_leftover_temporaries
from harness.locks import claimed_output_dir
from harness.procs import quiet_worker
from preprocess.cli import PreprocessConfig
from preprocess.discover import Discovery, find_images, report_ignored
from preprocess.records import (bins_of_other_images, done_entries, end_journal, file_entry, is_legacy,
                                journal_finished, recipe_changes, recorded_entries, remove_bins, same_recipe,
                                source_stat, start_journal)
from tasks import Task, get_task, task_for_model

CHUNK = 16


def _process_chunk(items: list[tuple[str, str, dict]], out_dir: str, task_name: str, recipe: dict, skip_bad: bool,
                   max_pixels: int) -> list:
    """Worker: returns (stem, None) when written, (stem, reason) when skipped; raises when not skipping.
    Each .bin written is journaled with its image's entry at once, so a run stopped mid-chunk resumes after it."""
    task = get_task(task_name)
    results = []
    for stem, source, entry in items:
        try:
            tensor = task.transform(Path(source), recipe, max_pixels)
        except InputError as exc:
            if not skip_bad:
                raise
            results.append((stem, str(exc)))
            continue
        atomic_write_bytes(Path(out_dir) / f"{stem}.bin", tensor.tobytes())
        journal_finished(Path(out_dir), entry)
        results.append((stem, None))
    return results


def _previous(out_dir: Path) -> PreprocessManifest | None:
    try:
        return PreprocessManifest.read(out_dir)
    except Exception:  # a missing or foreign sidecar means: redo everything
        return None


def _run_pool(todo: dict[str, Path], config: PreprocessConfig, task: Task, recipe: dict, nbytes: int,
              entries: dict[str, dict]) -> dict[str, str]:
    try:
        return _pool_map(todo, config, task, recipe, entries)
    except DiskFullError as exc:
        raise DiskFullError(f"{exc}; the {len(todo)} images of this run take {human_bytes(nbytes * len(todo))} "
                            "in all") from None


def _pool_map(todo: dict[str, Path], config: PreprocessConfig, task: Task, recipe: dict,
              entries: dict[str, dict]) -> dict[str, str]:
    """Preprocess `todo` in worker processes; stem -> reason of each image skipped."""
    items = [(stem, str(path), entries[stem]) for stem, path in sorted(todo.items())]
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    workers = max(1, min(config.workers or os.cpu_count() or 1, len(chunks)))
    skipped: dict[str, str] = {}
    bar = _progress(len(items), config.progress)
    with ProcessPoolExecutor(max_workers=workers, initializer=quiet_worker, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_process_chunk, c, str(config.output), task.name, recipe, config.skip_bad,
                               config.max_pixels)
                   for c in chunks}
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut.exception() is not None:
                        raise fut.exception()
                    skipped.update((stem, reason) for stem, reason in fut.result() if reason is not None)
                    bar.update(len(fut.result()))
        except BaseException:
            _stop_workers(pool)
            raise
        finally:
            bar.close()
    return skipped


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """A failure, Ctrl-C or a SIGTERM only this process got: the workers stop now (they leave quietly on
    SIGTERM), instead of the pool's exit waiting for every chunk still queued."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14+: shuts the pool down too
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # before 3.14; shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="preprocess", disable=None if enabled else True, leave=False)


def recipe_flags(config: PreprocessConfig) -> dict:
    """The recipe flags given; an mmcls config's test pipeline fills those not given."""
    flags = {"resize": config.resize, "input_size": config.input_size, "interpolation": config.interpolation,
             "crop": config.crop, "mean": config.mean, "std": config.std}
    if config.mmcls_config is None:
        return flags
    from convert.plan import resolve_mmcls_config
    from tasks.classification.mmcls_pipeline import mmcls_config_recipe

    pipeline = mmcls_config_recipe(resolve_mmcls_config(config.mmcls_config))
    return {name: pipeline.get(name) if value is None else value for name, value in flags.items()}


def model_name(config: PreprocessConfig) -> str | None:
    """--model, else the stem of --mmcls-config, as convert names the model."""
    if config.model or config.mmcls_config is None:
        return config.model
    return Path(config.mmcls_config).name.removesuffix(".py")


def run(config: PreprocessConfig) -> PreprocessManifest:
    model = model_name(config)
    task = task_for_model(model)
    recipe = task.resolve_recipe(None if config.mmcls_config and not config.model else model, config.preset,
                                 config.mode, **recipe_flags(config))
    if config.mmcls_config and not config.model:
        # the config's stem names the model, but no registry or timm entry of that name speaks for its recipe
        recipe.update(model=model, data_source=f"test pipeline of {Path(config.mmcls_config).name}, the rest "
                                               f"{recipe['data_source']}")
    discovery = find_images(config.input, config.output)
    report_ignored(discovery.ignored, config.input)
    with claimed_output_dir(config.output, "preprocess") as out_dir:
        return _preprocess(config, task, recipe, discovery, out_dir)


def _preprocess(config: PreprocessConfig, task: Task, recipe: dict, discovery: Discovery,
                out_dir: Path) -> PreprocessManifest:
    images = discovery.images
    manifest = PreprocessManifest(shape=task.sample_shape(recipe), dtype=recipe["dtype"], layout=recipe["layout"],
                                  recipe=recipe, ignored=discovery.ignored)
    nbytes = manifest.sample_nbytes
    remove_leftover_temporaries(out_dir)
    previous = _previous(out_dir)
    entries = {stem: file_entry(stem, path, source_stat(path)) for stem, path in images.items()}
    done = done_entries(out_dir, recorded_entries(out_dir, previous, recipe), entries, nbytes)
    todo = {stem: path for stem, path in images.items() if stem not in done}
    _say_why_redone(out_dir, previous, recipe, len(todo))
    _remove_stale(out_dir, config.input, images, todo)
    skipped = _write_pending(config, task, recipe, manifest, out_dir, todo, done, entries) if todo else {}
    manifest.files = [entries[stem] for stem in sorted(images) if stem not in skipped]
    manifest.skipped = sorted(({"source": str(images[stem]), "reason": reason} for stem, reason in skipped.items()),
                              key=lambda s: s["source"])
    manifest.write(out_dir)
    end_journal(out_dir)
    remove_leftover_temporaries(out_dir)  # one a killed run's dying worker wrote after this run began
    print(f"preprocess: {len(manifest.files)} images -> {out_dir} ({len(todo) - len(skipped)} written, "
          f"{len(done)} already done, {len(skipped)} skipped)")
    return manifest


def _write_pending(config: PreprocessConfig, task: Task, recipe: dict, manifest: PreprocessManifest, out_dir: Path,
                   todo: dict[str, Path], done: dict[str, dict], entries: dict[str, dict]) -> dict[str, str]:
    """Preprocess `todo`, journaling what finishes; stem -> reason of each image skipped."""
    fresh = not _written_by_preprocess(out_dir)
    # Before any .bin is written: preprocess.json lists only what is done under this recipe, and every .bin of
    # another recipe or of a changed image is gone (_remove_stale), so the directory never holds a mix.
    manifest.files = [done[stem] for stem in sorted(done)]
    manifest.write(out_dir)
    start_journal(out_dir, recipe)
    try:
        return _run_pool(todo, config, task, recipe, manifest.sample_nbytes, entries)
    except BaseException:
        if fresh and not any(out_dir.glob("*.bin")):  # a first run that wrote nothing leaves no sidecar behind
            end_journal(out_dir)
            (out_dir / PreprocessManifest.FILENAME).unlink(missing_ok=True)
        raise


def _say_why_redone(out_dir: Path, previous: PreprocessManifest | None, recipe: dict, todo: int) -> None:
    """One line when earlier outputs are preprocessed again as a whole: another recipe, or an older record."""
    if previous is None or not todo:
        return
    path = out_dir / PreprocessManifest.FILENAME
    if not same_recipe(previous.recipe, recipe):
        print(f"[INFO] {path}: written with another recipe ({', '.join(recipe_changes(previous.recipe, recipe))}); "
              "its .bin files are replaced")
    elif is_legacy(previous):
        print(f"[INFO] {path}: written by an older harness, without each image's size and mtime, so no .bin can "
              f"be matched to its image as it is now; preprocessing the {todo} images again")


def _remove_stale(out_dir: Path, input_dir: Path, images: dict[str, Path], todo: dict[str, Path]) -> None:
    """Remove the .bin files that are not done: those about to be written again, and, in a directory preprocess
    wrote before, those of images no longer under --input."""
    remove_bins(out_dir, todo)
    others = bins_of_other_images(out_dir, images)
    if not others:
        return
    if not _written_by_preprocess(out_dir):
        print(f"preprocess: warning: {len(others)} .bin files in {out_dir} that no image under {input_dir} makes "
              f"(e.g. {others[0]}.bin); they are not outputs of this run: remove them or choose another --output")
        return
    removed = remove_bins(out_dir, others)
    print(f"[INFO] {out_dir}: removed {removed} .bin files of images no longer under {input_dir}")


def _written_by_preprocess(out_dir: Path) -> bool:
    return (out_dir / PreprocessManifest.FILENAME).exists() or (out_dir / PREPROCESS_JOURNAL_NAME).exists()

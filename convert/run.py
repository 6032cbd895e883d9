"""run(config) -> ConvertManifest: skip when nothing changed, else build and write convert.json last.

The up-to-date decision imports neither torch nor timm; only a rebuild does.
"""
from __future__ import annotations

from pathlib import Path

from convert.cli import ConvertConfig
from convert.fingerprint import compute_fingerprint, outputs_intact
from convert.plan import Plan, check_preprocess, previous_input_size, resolve_plan
from harness.contracts import ConvertManifest
from harness.errors import HarnessError
from harness.locks import claimed_output_dir
from harness.recipe_check import RANDOM_WEIGHTS_NOTE, is_random_weights


def previous_manifest(plan: Plan) -> ConvertManifest | None:
    """The conversion in the output directory: its convert.json, or the one a rebuild killed part way (kill -9)
    set aside, put back while every file it describes is unchanged."""
    if not plan.sidecar_path.exists():
        restore_previous(plan, _readable(plan.set_aside_path))
    if not plan.sidecar_path.exists():
        return None
    return _readable(plan.sidecar_path)


def _readable(path: Path) -> ConvertManifest | None:
    if not path.exists():
        return None
    try:
        return ConvertManifest.read_file(path)
    except HarnessError:  # unreadable or from another stage: rebuild and replace it
        return None


def up_to_date(previous: ConvertManifest | None, build_key: str, plan: Plan) -> bool:
    if previous is None or previous.build_key != build_key:
        return False
    return outputs_intact(previous, plan.out_dir, [previous.onnx, previous.sim_onnx, previous.artifact])


def run(config: ConvertConfig) -> ConvertManifest:
    """One convert at a time per output directory; a failed first one leaves no empty directory."""
    with claimed_output_dir(Path(config.output).expanduser(), "convert"):
        return _convert(config)


def _convert(config: ConvertConfig) -> ConvertManifest:
    plan = resolve_plan(config)
    previous = previous_manifest(plan)
    fingerprint = compute_fingerprint(plan, previous)
    if up_to_date(previous, fingerprint.build_key, plan):
        check_preprocess(plan, previous_input_size(previous), previous.data_config)
        if previous.source.get("files") != fingerprint.files:  # same content, new mtime: remember the stat
            previous.source["files"] = fingerprint.files
            previous.write(plan.out_dir)
        print(f"convert: {plan.name} for {plan.target.name} is up to date ({plan.sidecar_path})", flush=True)
        plan.set_aside_path.unlink(missing_ok=True)  # a rebuild killed after it wrote convert.json left it
        if is_random_weights(previous.source):
            print(f"convert: warning: {previous.source['weights']}; {RANDOM_WEIGHTS_NOTE}", flush=True)
        return previous
    from convert.build import say

    manifest = build_keeping_previous(plan, fingerprint, previous)
    say(f"wrote {manifest.artifact} and {plan.sidecar_path}")
    return manifest


def build_keeping_previous(plan: Plan, fingerprint, previous: ConvertManifest | None) -> ConvertManifest:
    """A rebuild sets convert.json aside before it replaces a file; one that fails (a refused input, Ctrl-C)
    while every file the previous convert.json describes is unchanged puts it back, so that conversion stays
    usable. The set-aside copy goes once the new convert.json is written."""
    from convert.build import build

    try:
        manifest = build(plan, fingerprint, previous)
    except BaseException:
        restore_previous(plan, previous)
        raise
    manifest.write(plan.out_dir)
    plan.set_aside_path.unlink(missing_ok=True)
    return manifest


def restore_previous(plan: Plan, previous: ConvertManifest | None) -> None:
    aside = plan.set_aside_path
    try:
        if previous is not None and aside.exists() and not plan.sidecar_path.exists():
            described = list(dict.fromkeys([*previous.hashes.get("files", {}), previous.artifact]))
            if outputs_intact(previous, plan.out_dir, described):
                aside.replace(plan.sidecar_path)
                return
        aside.unlink(missing_ok=True)
    except Exception:  # any: never hide the build's own error behind a failed restore
        pass

"""`python -m infer.side_by_side`: one image (or a few) through every built artifact of a model, top-5 side by side.

    python -m infer.side_by_side --models work/models/efficientnet_lite0 --image cat.jpg \\
        --preprocess work/prep/efficientnet_lite0-float32-sample --classes data/sample/classes.txt

--models takes convert output directories, or directories holding them (work/models/<model>); the
first artifact found is the reference. Each image is preprocessed with the recipe of --preprocess
(else the model's registered one), as float32 CHW, or uint8 HWC for an artifact that normalises on the
device (AIPP). A row whose top-5 differs from the reference's is marked: `top-1` when the first class
differs, `order` when the same five classes come in another order, `set` when the classes differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from harness.cli import Parser, main_wrapper
from harness.contracts import ConvertManifest, PreprocessManifest, numpy_dtype
from harness.errors import InputError
from harness.files import write_json

TOP = 5


def find_model_dirs(roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        if (root / ConvertManifest.FILENAME).is_file():
            found.append(root)
        elif root.is_dir():
            found += sorted(p.parent for p in root.glob(f"*/{ConvertManifest.FILENAME}"))
        else:
            raise InputError(f"{root}: not found; pass convert output directories (or work/models/<model>)")
    if not found:
        raise InputError(f"{', '.join(map(str, roots))}: no convert.json found; run make convert first")
    return found


def base_recipe(preprocess: Path | None, model: str) -> dict:
    if preprocess is not None:
        return dict(PreprocessManifest.read(preprocess).recipe)
    from tasks.classification.presets import resolve_recipe

    try:
        return resolve_recipe(model=model)
    except InputError:
        raise InputError(f"{model}: no registered preprocessing recipe; pass --preprocess DIR (a preprocess "
                         "output directory made for this model)") from None


def model_input(images: list[Path], recipe: dict, manifest: ConvertManifest) -> np.ndarray:
    """The images as this artifact takes them: uint8 HWC when its input is uint8 (AIPP), else float32 CHW."""
    from tasks.classification.transform import preprocess_image

    on_device = numpy_dtype(manifest.input.dtype) == np.uint8
    layout = {"dtype": "uint8", "layout": "HWC"} if on_device else {"dtype": "float32", "layout": "CHW"}
    return np.stack([preprocess_image(path, {**recipe, **layout}) for path in images])


def run_artifact(directory: Path, batch: np.ndarray, device: str) -> np.ndarray:
    """First output per image, the batch padded to a size the artifact takes."""
    from infer.model_source import load_model
    from targets import target_for_artifact

    manifest, artifact = load_model(directory)
    target = target_for_artifact(manifest.target, manifest.target_info.get("options", {}))
    rows = []
    with target.open(artifact, manifest, device) as session:
        static = session.batch_sizes()
        size = static[0] if static else (min(manifest.batch_sizes) if manifest.batch_sizes else 1)
        for start in range(0, len(batch), size):
            chunk = batch[start:start + size]
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            rows.append(np.asarray(session.run(padded)[0])[:len(chunk)].reshape(len(chunk), -1))
    return np.concatenate(rows)


def top_classes(logits: np.ndarray) -> list[list[int]]:
    """The top classes of each row; none for a row holding NaN or an infinity (its order means nothing)."""
    from tasks.classification.contract import class_offset
    from tasks.classification.scoring import finite_rows, top_k

    tops = (top_k(logits, TOP) - class_offset(logits.shape[1])).tolist()
    return [top if finite else [] for top, finite in zip(tops, finite_rows(logits))]


def difference(row: list[int], reference: list[int]) -> str:
    if row == reference:
        return ""
    if not row or not reference:
        return "NaN/inf"
    if row[0] != reference[0]:
        return "top-1"
    return "order" if sorted(row) == sorted(reference) else "set"


def table(image: str, rows: list[dict], names: dict[int, str]) -> str:
    def cell(c: int) -> str:
        return f"{c} {names[c]}" if c in names else str(c)

    width = max(len(r["artifact"]) for r in rows)
    lines = [f"{image}:"]
    for r in rows:
        mark = "(reference)" if r is rows[0] else (f"* {r['differs']}" if r["differs"] else "same")
        classes = " | ".join(cell(c) for c in r["top5"]) or "no classes: the output holds NaN or inf"
        lines.append(f"  {r['artifact']:<{width}}  {mark:<11}  " + classes)
    return "\n".join(lines)


def run(args) -> dict:
    from tasks.classification.labels import read_class_names

    directories = find_model_dirs(args.models)
    names = read_class_names(args.classes)
    missing = [str(p) for p in args.image if not p.is_file()]
    if missing:
        raise InputError(f"{missing[0]}: image not found")
    first = ConvertManifest.read(directories[0])
    recipe = base_recipe(args.preprocess, first.model)
    results = {}
    for directory in directories:
        manifest = ConvertManifest.read(directory)
        results[directory.name] = top_classes(run_artifact(directory, model_input(args.image, recipe, manifest),
                                                           args.device))
    report = {}
    for index, image in enumerate(args.image):
        reference = results[directories[0].name][index]
        rows = [{"artifact": name, "top5": tops[index], "differs": difference(tops[index], reference)}
                for name, tops in results.items()]
        report[image.name] = rows
        print(table(image.name, rows, names))
    if args.json:
        write_json(args.json, {"kind": "harness.side_by_side", "recipe": recipe, "images": report})
    return report


def build_parser() -> Parser:
    p = Parser(prog="python -m infer.side_by_side", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", type=Path, required=True,
                   help="convert output directories, or directories holding them (work/models/<model>)")
    p.add_argument("--image", nargs="+", type=Path, required=True, help="image file(s)")
    p.add_argument("--preprocess", type=Path, help="preprocess output directory whose recipe to apply")
    p.add_argument("--classes", type=Path, help="classes.txt: '<index> <wnid> <name>' for readable names")
    p.add_argument("--device", default="0")
    p.add_argument("--json", type=Path, help="also write the table here as JSON")
    return p


def main(argv=None) -> int:
    return main_wrapper(lambda a: build_parser().parse_args(list(a)), run, argv)


if __name__ == "__main__":
    sys.exit(main())

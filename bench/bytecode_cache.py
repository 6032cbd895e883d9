"""Import time of a package shipped without bytecode, in an environment that does not write it
(PYTHONDONTWRITEBYTECODE=1, as the lent GPU image), with the stages' own bytecode cache off and on
(harness/bytecode.py). Two fresh processes each, one after the other: the first of "on" compiles and keeps the
bytecode, the second reads it.

    python bench/bytecode_cache.py --package sympy

The package (pure Python, e.g. sympy, or torch on a machine with room for a copy) is copied without its
__pycache__ directories to a scratch directory that comes first on PYTHONPATH.

    python bench/bytecode_cache.py --stage-imports

measures instead how old an `infer` process is when its stage's modules are imported (numpy and the project's
own packages copied without bytecode, as on that image), with the cache set up before those imports (as the
stages' `__main__` does) and after them (as it did before), three fresh processes each.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("harness", "infer", "targets")
STAGE_IMPORTS = "import infer.cli, infer.guard"
STAGE_PROBE = {"cache set up after the stage's imports": "{imports}; from harness.bytecode import keep_bytecode; "
                                                          "keep_bytecode('numpy')",
               "cache set up first": "from harness.bytecode import keep_bytecode; keep_bytecode('numpy'); {imports}"}
PROBE = ("import time; from harness.bytecode import keep_bytecode; used = keep_bytecode({name!r}); "
         "started = time.perf_counter(); import {name}; print(time.perf_counter() - started)")


def copy_without_bytecode(package: str, scratch: Path) -> Path:
    source = Path(importlib.util.find_spec(package).origin).parent
    shutil.copytree(source, scratch / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return scratch


def import_seconds(package: str, site: Path, cache: Path | None) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cache is None:
        env["HARNESS_PYCACHE"] = "0"
    else:
        env["HARNESS_PYCACHE_DIR"] = str(cache)
    out = subprocess.run([sys.executable, "-c", PROBE.format(name=package)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return round(float(out.split()[-1]), 3)


def stage_import_ages(scratch: Path, rounds: int = 3) -> dict:
    """Process age (s, 10 ms steps) once the infer stage's modules are imported, per order and round."""
    site = copy_without_bytecode("numpy", scratch / "site")
    libs = Path(importlib.util.find_spec("numpy").origin).parents[1] / "numpy.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    for package in PROJECT_PACKAGES:
        shutil.copytree(ROOT / package, scratch / "project" / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(site), str(scratch / "project")])}
    env.pop("PYTHONPYCACHEPREFIX", None)
    ages: dict = {}
    for label, probe in STAGE_PROBE.items():
        env["HARNESS_PYCACHE_DIR"] = str(scratch / label.replace(" ", "-").replace("'", ""))
        code = (probe.format(imports=STAGE_IMPORTS) + "; import numpy; from harness.startup import process_age_s; "
                f"assert numpy.__file__.startswith({str(scratch)!r}); print(process_age_s())")
        ages[label] = [round(float(subprocess.run([sys.executable, "-c", code], env=env, cwd=scratch, check=True,
                                                  capture_output=True, text=True).stdout.split()[-1]), 2)
                       for _ in range(rounds)]
    return ages


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", default="sympy")
    p.add_argument("--json", type=Path)
    p.add_argument("--stage-imports", action="store_true", help="time the infer stage's imports instead (above)")
    args = p.parse_args(argv)
    if args.stage_imports:
        with tempfile.TemporaryDirectory() as tmp:
            ages = stage_import_ages(Path(tmp))
        for label, row in ages.items():
            print(f"{label:40s} process age after the imports, 1st / 2nd / 3rd process: "
                  + " / ".join(f"{a:.2f} s" for a in row))
        if args.json:
            args.json.write_text(json.dumps({"command": " ".join(sys.argv), "process_age_s": ages}, indent=1) + "\n")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        site = copy_without_bytecode(args.package, Path(tmp) / "site")
        cache = Path(tmp) / "pycache"
        rows = {"cache off, 1st process": import_seconds(args.package, site, None),
                "cache off, 2nd process": import_seconds(args.package, site, None),
                "cache on, 1st process": import_seconds(args.package, site, cache),
                "cache on, 2nd process": import_seconds(args.package, site, cache)}
        beside = sum(1 for _ in site.rglob("*.pyc"))
    result = {"command": " ".join(sys.argv), "package": args.package, "import_s": rows,
              "pyc_files_written_beside_the_sources": beside}
    for label, seconds in rows.items():
        print(f"{label:24s} import {args.package}: {seconds:6.2f} s")
    print(f"second process, cache on against off: {rows['cache off, 2nd process'] / rows['cache on, 2nd process']:.1f}x "
          f"faster; .pyc files written beside the sources: {beside}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

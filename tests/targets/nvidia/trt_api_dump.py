"""Child process of trt_api.py: import TensorRT's pybind11 module from a file, print its API as JSON.

Usage: python trt_api_dump.py PATH/tensorrt.so
Every class (nested ones by qualified name), each method's signatures as pybind11 generated them into the
docstrings, each property's return type and each enum's members; module-level functions likewise.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sys

SIGNATURE = re.compile(r"^(?:\d+\. )?(?P<name>\w+)\((?P<params>.*)\)(?: -> (?P<returns>.+))?$")
ANY_ARGUMENTS = "*args, **kwargs"


def signatures(name: str, doc: str | None) -> list[dict]:
    found = []
    for line in (doc or "").splitlines():
        match = SIGNATURE.match(line.strip())
        if match and match["name"] == name:
            found.append({"params": match["params"], "returns": match["returns"] or ""})
    specific = [s for s in found if s["params"] != ANY_ARGUMENTS]  # an overload set's header line
    return specific or found


def property_type(prop: property) -> str:
    doc = (prop.fget.__doc__ if prop.fget else "") or ""
    match = re.match(r"\(.*\) -> (.+)", doc.strip())
    return match[1] if match else ""


def describe_class(cls: type, classes: dict) -> None:
    entry: dict = {"bases": [b.__qualname__ for b in cls.__mro__[1:-1]], "methods": {}, "properties": {},
                   "members": list(getattr(cls, "__members__", {})), "attributes": []}
    classes[cls.__qualname__] = entry
    for name in dir(cls):
        if name.startswith("__") and name != "__init__":
            continue
        value = getattr(cls, name)
        if isinstance(value, property):
            entry["properties"][name] = property_type(value)
        elif isinstance(value, type):
            if value.__qualname__ not in classes and value.__qualname__.startswith(cls.__qualname__ + "."):
                describe_class(value, classes)
            entry["attributes"].append(name)
        elif callable(value) and not isinstance(value, cls):
            entry["methods"][name] = signatures(name, value.__doc__)
        elif name not in entry["members"]:
            entry["attributes"].append(name)


def describe(module: object) -> dict:
    api: dict = {"classes": {}, "functions": {}, "attributes": []}
    for name, value in sorted(vars(module).items()):
        if name.startswith("__"):
            continue
        if isinstance(value, type):
            describe_class(value, api["classes"])
            if value.__qualname__ != name:
                api["classes"][name] = api["classes"][value.__qualname__]
        elif callable(value):
            api["functions"][name] = signatures(name, value.__doc__)
        else:
            api["attributes"].append(name)
    return api


def main(path: str) -> None:
    sys.setdlopenflags(os.RTLD_LAZY)  # functions of the absent libraries are bound only if called
    spec = importlib.util.spec_from_file_location("tensorrt", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    json.dump(describe(module), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])

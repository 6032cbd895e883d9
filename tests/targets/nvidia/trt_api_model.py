"""The pieces of the TensorRT API check that know nothing of `ast`: value types, the report, signatures,
and lookups in the 11.x API table (trt_api.load_api_11)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class T:
    """A value's type: the module, a class, an instance, a method, a list or tuple, or an unknown C++ type."""

    kind: str  # module | class | instance | method | function | list | tuple | opaque | self (a project class)
    name: str = ""  # class qualname; "Class.method" for methods; the C++ type for opaque
    items: tuple = ()  # element type of a list (one), item types of a tuple; for self: its attributes (dict)
    bound: bool = True  # a method taken from an instance (self implicit) or from the class


MODULE = T("module")


@dataclass
class Report:
    findings: list[str] = field(default_factory=list)  # "path:line: message"
    uses: set[str] = field(default_factory=set)  # "Class.member" and "trt.Name" resolved against 11.x
    only_10: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    dynamic: list[str] = field(default_factory=list)

    def merge(self, other: Report) -> None:
        self.findings += other.findings
        self.uses |= other.uses
        self.only_10 += other.only_10
        self.probes += other.probes
        self.dynamic += other.dynamic


def parse_params(text: str) -> list[tuple[str, bool]]:
    """'self: X, n: int = 0, *args' -> [("self", False), ("n", True), ("*args", False)]: (name, has default)."""
    params, depth, start = [], 0, 0
    for i, char in enumerate(text + ","):
        depth += 1 if char in "[(<" else -1 if char in "])>" else 0
        if char == "," and depth == 0:
            part = text[start:i].strip()
            start = i + 1
            if part:
                params.append((re.split(r"[:=]", part, maxsplit=1)[0].strip(), "=" in part))
    return params


def signature_accepts(params: list[tuple[str, bool]], positional: int, keywords: list[str]) -> bool:
    """Whether a call with this many positional arguments and these keywords binds to the parameters."""
    names = [n for n, _ in params]
    takes_more = any(n.startswith("*") and not n.startswith("**") and n != "*" for n in names)
    takes_any_keyword = any(n.startswith("**") for n in names)
    cut = next((i for i, n in enumerate(names) if n.startswith("*")), len(names))
    slots = [n for n in names[:cut] if n != "/"]
    if positional > len(slots) and not takes_more:
        return False
    filled = set(slots[:positional])
    named = [n for n in names if not n.startswith("*") and n != "/"]
    if any(k in filled or (k not in named and not takes_any_keyword) for k in keywords):
        return False
    required = {n for n, default in params if not default and n in named}
    return required <= filled | set(keywords)



class Api11:
    """Lookups in the table trt_api.load_api_11 returns."""

    def __init__(self, table: dict) -> None:
        self.table = table
        self.classes: dict = table["classes"]
        self.version: str = table.get("version", "11.x")

    def overloads(self, owner: str, name: str) -> list[dict]:
        if owner == "trt":
            return self.table["functions"].get(name, [])
        return self.classes[owner]["methods"].get(name, []) if owner in self.classes else []

    def result_type(self, text: str) -> T | None:
        text = re.sub(r"^typing\.Optional\[(.*)\]$", r"\1", text.strip()).replace(" | None", "")
        if text.startswith("list[") and text.endswith("]"):
            item = self.result_type(text[5:-1])
            return T("list", items=(item,)) if item is not None else None
        name = re.sub(r"^(tensorrt\.)+", "", text)
        if name in self.classes:
            return T("instance", name)
        return T("opaque", text) if "::" in text else None  # a C++ type pybind11 could not name

    # --- expressions --------------------------------------------------------------------------------

    def lookup(self, owner: T, name: str) -> tuple[str, object] | None:
        """(kind, detail) of `name` on a module/class/instance in the 11.x API, or None when missing."""
        if owner.kind == "module":
            if name in self.classes and "." not in name:
                return "class", name
            if name in self.table["functions"]:
                return "function", name
            return ("attribute", None) if name in self.table["attributes"] else None
        entry = self.classes.get(owner.name)
        if entry is None:
            return None
        if f"{owner.name}.{name}" in self.classes:
            return "class", f"{owner.name}.{name}"
        if name in entry["members"]:
            return "member", owner.name
        if name in entry["methods"]:
            return "method", name
        if name in entry["properties"]:
            return "property", entry["properties"][name]
        return ("attribute", None) if name in entry["attributes"] else None


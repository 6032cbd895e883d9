"""Every TensorRT name, call, keyword and enum member in the project's code, checked against the 11.x API.

The API comes from the installed bindings (trt_api.load_api_11); the code is read with `ast`. Types are
followed the way the code states them: `import tensorrt as trt` binds the module, annotations such as
`trt.ICudaEngine` type parameters and attributes, a TensorRT call's result has the return type of its
11.x signature, and a local function's result its return annotation. On each TensorRT value every
attribute must exist, every call must match one of the method's signatures (count of positional
arguments, keyword names, required parameters), every enum member must exist, and a method that a
subclass of a TensorRT class defines must override one.

Inside `if ... tensorrt_major(...) == 10:` (or `< 11`) a name missing from 11.x is allowed when the 10.x
stubs have it, and is listed in `only_10`. `getattr(x, "name", default)` is a probe: the name must exist
in 10.x or 11.x. `getattr(x, variable)` cannot be checked and is listed in `dynamic`.
"""
from __future__ import annotations

import ast

from tests.targets.nvidia.trt_api_model import MODULE, Api11, Report, T, parse_params, signature_accepts

SEQUENCES = {"list", "Sequence", "Iterable", "Iterator"}


class FileChecker:
    def __init__(self, path: str, tree: ast.Module, api: dict, names_10: dict[str, set[str]]) -> None:
        self.path, self.tree, self.api, self.names_10 = path, tree, Api11(api), names_10
        self.version = self.api.version
        self.report = Report()
        self.functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        self.module_env: dict = {}

    def run(self) -> Report:
        self.block(self.tree.body, self.module_env, None)
        return self.report

    # --- statements -------------------------------------------------------------------------------
    def block(self, body: list[ast.stmt], env: dict, only: str | None) -> None:
        for node in body:
            self.statement(node, env, only)

    def statement(self, node: ast.stmt, env: dict, only: str | None) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tensorrt":
                    env[alias.asname or alias.name] = MODULE
        elif isinstance(node, ast.FunctionDef):
            self.function(node, env, only, None)
        elif isinstance(node, ast.ClassDef):
            self.class_def(node, env, only)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            value = self.infer(node.value, env, only) if node.value else None
            if isinstance(node, ast.AnnAssign):
                value = self.annotation(node.annotation, env, only) or value
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                self.bind(target, value, env, only)
        elif isinstance(node, ast.If):
            self.infer(node.test, env, only)
            self.block(node.body, env, self.guard(node.test) or only)
            self.block(node.orelse, env, only)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            iterated = self.infer(node.iter, env, only)
            self.bind(node.target, iterated.items[0] if iterated and iterated.kind == "list" else None, env, only)
            self.block(node.body + node.orelse, env, only)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.infer(item.context_expr, env, only)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, value, env, only)
            self.block(node.body, env, only)
        elif isinstance(node, ast.Try):
            for part in (node.body, *[h.body for h in node.handlers], node.orelse, node.finalbody):
                self.block(part, env, only)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.infer(child, env, only)
                elif isinstance(child, ast.stmt):
                    self.statement(child, env, only)

    def guard(self, test: ast.expr) -> str | None:
        """'10' when the test (or one of its `and` terms) is tensorrt_major(...) == 10 or < 11."""
        terms = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
        for term in terms:
            if (isinstance(term, ast.Compare) and isinstance(term.left, ast.Call)
                    and isinstance(term.left.func, ast.Name) and term.left.func.id == "tensorrt_major"
                    and len(term.ops) == 1 and isinstance(term.comparators[0], ast.Constant)):
                op, value = term.ops[0], term.comparators[0].value
                if (isinstance(op, ast.Eq) and value == 10) or (isinstance(op, ast.Lt) and value == 11):
                    return "10"
        return None

    def function(self, node: ast.FunctionDef, env: dict, only: str | None, self_type: T | None) -> None:
        local = dict(env)
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        for i, arg in enumerate(arguments):
            given = self.annotation(arg.annotation, env, only) if arg.annotation is not None else None
            local[arg.arg] = self_type if i == 0 and self_type is not None else given
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.infer(default, env, only)
        if node.returns is not None:
            self.annotation(node.returns, env, only)
        self.block(node.body, local, only)

    def class_def(self, node: ast.ClassDef, env: dict, only: str | None) -> None:
        bases = [self.infer(b, env, only) for b in node.bases]
        trt_base = next((b for b in bases if b is not None and b.kind == "class"), None)
        attrs: dict = {}
        self_type = T("self", node.name, (attrs,))
        methods = sorted((n for n in node.body if isinstance(n, ast.FunctionDef)), key=lambda n: n.name != "__init__")
        for method in methods:
            if trt_base is not None and not method.name.startswith("_"):
                self.member(trt_base, method.name, method, only)  # an override must override something
            self.function(method, env, only, self_type)
        self.block([n for n in node.body if not isinstance(n, ast.FunctionDef)], env, only)

    def bind(self, target: ast.expr, value: T | None, env: dict, only: str | None) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, element in enumerate(target.elts):
                item = None
                if value is not None and value.kind == "list":
                    item = value.items[0]
                elif value is not None and value.kind == "tuple" and i < len(value.items):
                    item = value.items[i]
                self.bind(element, item, env, only)
        elif isinstance(target, ast.Attribute):
            owner = self.infer(target.value, env, only)
            if owner is not None and owner.kind == "self":
                owner.items[0][target.attr] = value
            else:
                self.infer(target, env, only)
        else:
            self.infer(target, env, only)

    # --- types --------------------------------------------------------------------------------------
    def annotation(self, node: ast.expr, env: dict, only: str | None) -> T | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node = ast.parse(node.value, mode="eval").body
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.annotation(node.left, env, only) or self.annotation(node.right, env, only)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            types = tuple(self.annotation(i, env, only) for i in items)
            if node.value.id == "tuple":
                return T("tuple", items=types)
            return T("list", items=types[:1]) if node.value.id in SEQUENCES else None
        value = self.infer(node, env, only) if isinstance(node, ast.Attribute) else None
        return T("instance", value.name) if value is not None and value.kind == "class" else None

    def infer(self, node: ast.expr, env: dict, only: str | None) -> T | None:
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self.infer(node.value, env, only)
            if owner is not None and owner.kind == "self":
                return owner.items[0].get(node.attr)
            return self.member(owner, node.attr, node, only) if owner is not None else None
        if isinstance(node, ast.Call):
            return self.call(node, env, only)
        if isinstance(node, ast.Subscript):
            owner = self.infer(node.value, env, only)
            self.infer(node.slice, env, only)
            return owner.items[0] if owner is not None and owner.kind == "list" else None
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            local = dict(env)
            for generator in node.generators:
                iterated = self.infer(generator.iter, local, only)
                self.bind(generator.target, iterated.items[0] if iterated and iterated.kind == "list" else None,
                          local, only)
                for condition in generator.ifs:
                    self.infer(condition, local, only)
            element = self.infer(node.elt, local, only)
            return T("list", items=(element,)) if element is not None else None
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.infer(child, env, only)
            elif isinstance(child, ast.keyword):
                self.infer(child.value, env, only)
            elif isinstance(child, ast.comprehension):
                self.infer(child.iter, env, only)
        return None

    def call(self, node: ast.Call, env: dict, only: str | None) -> T | None:
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
            return self.getattr_call(node, env, only)
        callee = self.infer(node.func, env, only)
        for argument in node.args + [k.value for k in node.keywords]:
            self.infer(argument, env, only)
        if isinstance(node.func, ast.Name) and node.func.id in self.functions and callee is None:
            returns = self.functions[node.func.id].returns
            return self.annotation(returns, self.module_env, only) if returns is not None else None
        if callee is None or callee.kind not in ("class", "method", "function"):
            return None
        if callee.kind == "function":
            owner, name = "trt", callee.name
        else:
            owner, name = (callee.name, "__init__") if callee.kind == "class" else callee.name.rsplit(".", 1)
        implicit_self = callee.kind == "class" or (callee.kind == "method" and callee.bound)
        overloads = self.matching_overloads(node, owner, name, implicit_self)
        if callee.kind == "class":
            return T("instance", callee.name)
        return self.api.result_type(overloads[0]["returns"]) if overloads else None

    def matching_overloads(self, node: ast.Call, owner: str, name: str, implicit_self: bool) -> list[dict]:
        """The signatures this call binds to (all when the arguments cannot be counted); reported when none."""
        overloads = self.api.overloads(owner, name)
        if not overloads or any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            return overloads
        keywords = [str(k.arg) for k in node.keywords]
        matching = [s for s in overloads
                    if signature_accepts(parse_params(s["params"])[int(implicit_self):], len(node.args), keywords)]
        if not matching:
            shown = "; ".join(f"({s['params']})" for s in overloads)
            self.find(node, f"{owner}.{name} called with {len(node.args)} positional argument(s) and keywords "
                            f"{keywords}; TensorRT {self.version} takes {shown}")
        else:
            self.report.uses.add(f"{owner}.{name}")
        return matching

    def getattr_call(self, node: ast.Call, env: dict, only: str | None) -> T | None:
        owner = self.infer(node.args[0], env, only)
        name = node.args[1]
        for argument in node.args[1:]:
            self.infer(argument, env, only)
        if owner is None or owner.kind == "self":
            return None
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            self.report.dynamic.append(f"{self.path}:{node.lineno}: getattr({self.describe(owner)}, "
                                       f"{ast.unparse(name)})")
            has_members = owner.kind == "class" and bool(self.api.classes.get(owner.name, {}).get("members"))
            return T("instance", owner.name) if has_members else None
        if len(node.args) == 2:
            return self.member(owner, name.value, node, only)
        qualname = f"{self.describe(owner)}.{name.value}"
        if self.api.lookup(owner, name.value) is None and name.value not in self.names_10.get(owner.name, set()):
            self.find(node, f"{qualname} is probed but exists neither in TensorRT {self.version} nor in 10.x")
        self.report.probes.append(qualname)
        return None

    def describe(self, owner: T) -> str:
        return "trt" if owner.kind == "module" else owner.name

    def member(self, owner: T, name: str, node: ast.AST, only: str | None) -> T | None:
        if owner.kind not in ("module", "class", "instance"):
            if owner.kind == "opaque":
                self.find(node, f".{name} on a {owner.name}, a type the TensorRT {self.version} signatures do "
                                "not name in Python: the API check cannot follow it")
            return None
        found = self.api.lookup(owner, name)
        qualname = f"{self.describe(owner)}.{name}"
        if found is None:
            in_10 = name in self.names_10.get("" if owner.kind == "module" else owner.name, set())
            if only == "10" and in_10:
                self.report.only_10.append(qualname)
            elif in_10:
                self.find(node, f"{qualname} exists only in TensorRT 10.x: use it only where "
                                "tensorrt_major(...) == 10")
            else:
                self.find(node, f"{qualname} does not exist in TensorRT {self.version} (nor in the 10.x stubs)")
            return None
        self.report.uses.add(qualname)
        kind, detail = found
        if kind == "class":
            return T("class", str(detail))
        if kind == "member":
            return T("instance", str(detail))
        if kind == "method":
            return T("method", f"{owner.name}.{name}", bound=owner.kind == "instance")
        if kind == "property":
            return self.api.result_type(str(detail))
        return T("function", name) if kind == "function" else None

    def find(self, node: ast.AST, message: str) -> None:
        self.report.findings.append(f"{self.path}:{getattr(node, 'lineno', 0)}: {message}")


def check_source(source: str, path: str, api: dict, names_10: dict[str, set[str]]) -> Report:
    return FileChecker(path, ast.parse(source, path), api, names_10).run()

"""Target options, declared once per target as a frozen dataclass and parsed once from `key=value` text.

Each field is declared with `option(default, help, stage, ...)`. The stage says where it acts:
BUILD options shape the artifact, so convert puts them into the build key and records them in
convert.json, and infer takes them from there; RUN options act only when infer opens the artifact,
so changing one never rebuilds. An option declared `one_device` names one device's hardware (which NPU's
power to read): a run over several devices refuses it. `python -m convert --list-options TARGET` prints the
declarations.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Self

from harness.errors import InputError

BUILD = "build"
RUN = "run"
STAGES = (BUILD, RUN)
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
NONE_WORDS = ("", "none")


def option(default: Any, help: str, stage: str, choices: tuple | None = None, minimum: float | None = None,
           above: float | None = None, one_device: bool = False) -> Any:
    """One declared option: its default, a one-line help, its stage, the values it takes and whether it names
    one device (so that it cannot serve several)."""
    assert stage in STAGES, stage
    return dataclasses.field(default=default, metadata={"help": help, "stage": stage, "choices": choices,
                                                         "minimum": minimum, "above": above,
                                                         "one_device": one_device})


@dataclass(frozen=True)
class OptionSpec:
    name: str
    kind: type  # bool, int, float or str
    optional: bool  # None is a value (the default decides: "auto", "not set")
    default: Any
    help: str
    stage: str
    choices: tuple | None
    minimum: float | None
    above: float | None
    one_device: bool = False

    def describe_values(self) -> str:
        if self.choices:
            return "choose one of " + ", ".join(map(str, self.choices))
        words = "give " + {bool: "1 or 0", int: "a whole number", float: "a number", str: "text"}[self.kind]
        if self.minimum is not None:
            words += f" >= {self.minimum:g}"
        if self.above is not None:
            words += f" > {self.above:g}"
        return words

    def shown_default(self) -> str:
        if self.default is None:
            return "-"
        return str(int(self.default)) if self.kind is bool else str(self.default)


@dataclass(frozen=True)
class TargetOptions:
    """Base of every target's options; a target without options uses it as is (it takes none)."""

    target: ClassVar[str] = "this"  # the target's name, for messages

    @classmethod
    def specs(cls) -> dict[str, OptionSpec]:
        hints = typing.get_type_hints(cls)
        return {f.name: _spec(f, hints[f.name]) for f in dataclasses.fields(cls)}

    @classmethod
    def parse(cls, given: Mapping[str, Any]) -> Self:
        """`given` values as text (command line) or as recorded in JSON; refuses what is not declared."""
        return cls(**cls.typed_values(given))

    @classmethod
    def typed_values(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Each given option in its declared type, checked against its declaration."""
        specs = cls.specs()
        values = {}
        for key, raw in given.items():
            if key not in specs:
                known = ", ".join(sorted(specs)) or "none"
                raise InputError(f"unknown {cls.target} target option {key!r}; its options: {known} "
                                 f"(python -m convert --list-options {cls.target})")
            values[key] = _convert(cls.target, specs[key], raw)
        return values

    @classmethod
    def one_device_keys(cls, given: Mapping[str, Any]) -> list[str]:
        """The given options that name one device's hardware, which a run over several devices cannot share
        (`none` names none: each device's own is looked up)."""
        specs = cls.specs()
        return [key for key, value in given.items() if key in specs and specs[key].one_device
                and str(value).strip().lower() not in NONE_WORDS]

    @classmethod
    def stage_of(cls, key: str) -> str | None:
        spec = cls.specs().get(key)
        return spec.stage if spec else None

    def values(self, stage: str) -> dict[str, Any]:
        """Every option of that stage with its value (defaults included): what convert.json records."""
        return {name: getattr(self, name) for name, spec in self.specs().items() if spec.stage == stage}

    def changed(self, stage: str) -> dict[str, Any]:
        """The options of that stage that differ from their defaults: what the build key holds, so that
        naming a default explicitly, or declaring a new option, rebuilds nothing."""
        specs = self.specs()
        return {name: value for name, value in self.values(stage).items() if value != specs[name].default}

    def record(self) -> dict[str, dict[str, Any]]:
        """The resolved options by stage, for summary.json."""
        return {stage: self.values(stage) for stage in STAGES}

    def updated(self, given: Mapping[str, Any]) -> Self:
        """These options with some of them given again (a build request's own)."""
        return dataclasses.replace(self, **self.typed_values(given)) if given else self


def _spec(field: dataclasses.Field, hint: Any) -> OptionSpec:
    is_union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    args = typing.get_args(hint) if is_union else ()
    kind = next((a for a in args if a is not type(None)), hint) if args else hint
    meta = field.metadata
    return OptionSpec(field.name, kind, type(None) in args, field.default, meta.get("help", ""),
                      meta.get("stage", RUN), meta.get("choices"), meta.get("minimum"), meta.get("above"),
                      meta.get("one_device", False))


def _convert(target: str, spec: OptionSpec, raw: Any) -> Any:
    value = _typed(spec, raw)
    if value is None and spec.optional:
        return None
    if value is not None and value is not NOT_A_VALUE and _within(spec, value):
        return value
    default = f", default {spec.shown_default()}" if spec.default is not None else ""
    raise InputError(f"{target} target option {spec.name}={raw}: {spec.describe_values()} "
                     f"({spec.help}{default})")


NOT_A_VALUE = object()


def _typed(spec: OptionSpec, raw: Any) -> Any:
    """The value in the declared type; None for none/empty; NOT_A_VALUE when it is neither."""
    if raw is None:
        return None
    if isinstance(raw, spec.kind) and not (spec.kind is not bool and isinstance(raw, bool)):
        return raw
    if spec.kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    text = str(raw).strip()
    if text.lower() in NONE_WORDS:
        return None
    if spec.kind is bool:
        return True if text.lower() in TRUE_WORDS else False if text.lower() in FALSE_WORDS else NOT_A_VALUE
    try:
        return spec.kind(text)
    except ValueError:
        return NOT_A_VALUE


def _within(spec: OptionSpec, value: Any) -> bool:
    if spec.choices and value not in spec.choices:
        return False
    if spec.minimum is not None and not value >= spec.minimum:
        return False
    return spec.above is None or value > spec.above


def options_for_infer(options: type[TargetOptions], recorded: Mapping[str, Any], given: Mapping[str, Any]) -> dict:
    """What infer opens an artifact with: its build options as convert recorded them, then the given ones.
    A build option given with another value than the artifact was built with is refused, not ignored."""
    specs = options.specs()
    built = {key: value for key, value in recorded.items() if key in specs and specs[key].stage == BUILD}
    for key, value in options.typed_values(given).items():
        if key in built and value != options.typed_values({key: built[key]})[key]:
            raise InputError(f"{options.target} target option {key}={given[key]} acts when the artifact is built, "
                             f"and this one was built with {key}={built[key]}; convert again with {key}={given[key]}"
                             f", or leave the option out of infer")
    return {**built, **given}


def run_time_keys(options: type[TargetOptions], given: Mapping[str, Any]) -> list[str]:
    """The given options that act only in infer (one OPTIONS line serves every stage of the Makefile)."""
    return [key for key in given if options.stage_of(key) == RUN]


def options_table(options: type[TargetOptions]) -> str:
    """The declared options as a Markdown table: `--list-options` prints it and the target's doc holds it."""
    rows = ["| option | stage | default | values | meaning |", "|---|---|---|---|---|"]
    for spec in options.specs().values():
        values = spec.describe_values().removeprefix("give ").removeprefix("choose ")
        rows.append(f"| `{spec.name}` | {spec.stage} | {spec.shown_default()} | {values} | {spec.help} |")
    return "\n".join(rows)

"""ais_bench flags the harness does not implement: accepted at the value that changes nothing, else refused
with one line naming the flag, so an ais_bench command line either runs the same or says why it cannot.

Flags and defaults from ais_bench's own parser (2025 generation, `ais_bench/infer/utils.py` get_args).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from harness.errors import InputError

_FALSE = ("0", "false", "f", "no", "n")
_TRUE = ("1", "true", "t", "yes", "y")
# flag -> the values that mean "off" / the default behaviour, which the harness has too
NEUTRAL = {
    "--debug": _FALSE, "--profiler": _FALSE, "--dump": _FALSE, "--dump_npy": _FALSE, "--perf": _FALSE,
    "--auto_set_dymshape_mode": _FALSE,
    "--auto_set_dymdims_mode": _FALSE, "--divide_input": _FALSE, "--run_mode": ("array", "files", "full", "tensor"),
    "--output_batchsize_axis": ("0",), "--threads": ("1",), "--pure_data_type": ("zero", "random"),
    "--profiler_rename": None,
    "--energy_consumption": None,  # every run measures energy (summary.json `energy`), ais_bench's figure too
}
TARGET_OPTION_ARG = "--ais_bench_option"  # how such a flag reaches infer's own parser
# flag -> why the harness has no such run
UNSUPPORTED = {
    "--dymHW": "dynamic-HW models", "--dymDims": "dynamic-dims models", "--dymShape": "dynamic-shape models",
    "--dymShape_range": "dynamic-shape models", "--outputSize": "custom output sizes (dynamic-shape models)",
    "--acl_json_path": "profiling and dump through acl.json", "--aipp_config": "dynamic AIPP",
    "--backend": "other inference back ends (trtexec)",
}


def _npu_id(name: str, value: str) -> str:
    if not re.fullmatch(r"[0-9]+", value.strip()):  # str.isdigit() takes '²', which int() refuses
        raise InputError(f"{name} {value}: give an NPU ID, a whole number of 0 or more (npu-smi info -m)")
    return str(int(value))


def _switch(name: str, value: str) -> str:
    return "1" if _truthy(name, value) else "0"


def _truthy(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word not in _FALSE + _TRUE:
        raise InputError(f"{name} {value}: give 1 or 0")
    return word in _TRUE


@dataclass(frozen=True)
class OptionFlag:
    """An ais_bench flag that sets an ascend target option."""

    option: str  # the ascend target option it sets
    value: Callable[[str, str], str]  # (flag, value) -> the option's value, InputError when it is none
    elsewhere: tuple[str, ...] | None  # the values accepted on other targets (None: any, it means nothing there)


OPTION_FLAGS = {
    "--pipeline": OptionFlag("pipeline", _switch, elsewhere=("0",)),
    "--npu_id": OptionFlag("npu_id", _npu_id, elsewhere=None),
}


def dash_spelling(flag: str) -> str:
    """ait and msit benchmark's spelling of an ais_bench flag: --npu_id is --npu-id, --dymHW --dym-hw."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", flag).lower().replace("_", "-")


# ait/msit spelling -> ais_bench's, for the flags handled here (infer's own parser takes its flags' dash spellings)
DASH_SPELLINGS = {dash_spelling(flag): flag for flag in (*NEUTRAL, *UNSUPPORTED, *OPTION_FLAGS)
                  if dash_spelling(flag) != flag}


def take_ais_bench_flags(argv: Sequence[str]) -> list[str]:
    """argv without the neutral ais_bench flags; InputError for a flag whose run the harness cannot make. Flags
    spelled as ait/msit benchmark spell them are taken alike, and named as the user spelled them."""
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        name, sep, value = items[i].partition("=")
        flag = DASH_SPELLINGS.get(name, name)
        if flag not in NEUTRAL and flag not in UNSUPPORTED and flag not in OPTION_FLAGS:
            rest.append(items[i])
            i += 1
            continue
        if not sep:
            if i + 1 >= len(items):
                raise InputError(f"{name} needs a value")
            value = items[i + 1]
            i += 1
        i += 1
        if flag in OPTION_FLAGS:
            # one token: argparse would take a separate "--pipeline=1" for an option
            rest.append(f"{TARGET_OPTION_ARG}={flag}={OPTION_FLAGS[flag].value(name, value)}")
        else:
            _check(flag, value, name)
    return rest


def ascend_bench_options(flags: Mapping[str, str], target: str) -> dict:
    """The target options that ais_bench flags like --pipeline and --npu_id set: on the ascend target, the same
    setting; elsewhere only the ais_bench default of --pipeline is accepted, and --npu_id means nothing."""
    options = {}
    for flag, value in flags.items():
        accepted = OPTION_FLAGS[flag].elsewhere
        if target == "ascend":
            options[OPTION_FLAGS[flag].option] = value
        elif accepted is not None and value not in accepted:
            raise InputError(f"{flag} {value}: this harness implements only {flag} 0 (the ais_bench default) "
                             f"on the {target} target; drop the flag or use ais_bench itself")
    return options


def given_target_options(flags: Mapping[str, str], target: str, options: Mapping[str, str]) -> dict:
    """The target options a run is given: those its ais_bench flags set, then its own --option ones over them."""
    return {**ascend_bench_options(flags, target), **options}


def ais_bench_flag_of(option: str) -> str | None:
    """The ais_bench flag that sets this target option, if one does."""
    return next((flag for flag, record in OPTION_FLAGS.items() if record.option == option), None)


def _check(flag: str, value: str, spelled: str) -> None:
    if flag in UNSUPPORTED:
        raise InputError(f"{spelled} is an ais_bench flag for {UNSUPPORTED[flag]}, which this harness does not "
                         "run; use ais_bench itself for such a model")
    neutral = NEUTRAL[flag]
    if neutral is not None and value.strip().lower() not in neutral:
        raise InputError(f"{spelled} {value}: this harness implements only {spelled} {neutral[0]} (the ais_bench "
                         f"default); drop the flag or use ais_bench itself")

"""Which weights of a checkpoint a conversion ran, as convert/checkpoints.py records them while it reads them
(the container key, the other weight sets the file holds and were not used, such as a timm training checkpoint's
`state_dict_ema`, the wrapper prefixes removed, the floating dtypes): said in one line, the classifier's size
of a checkpoint refused for its head, and a whole pickled model told from a state dict before torch reads it."""
from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

from harness.errors import InputError

# What an nn.Module's pickled __dict__ holds, and no state dict: names of its submodule and parameter tables.
MODULE_ATTRIBUTES = frozenset({"_modules", "_parameters"})
# Globals every torch.save pickle may name besides the model's own class.
PICKLE_HELPERS = ("collections.", "builtins.", "__builtin__.", "copyreg.", "torch._utils.", "torch.")
MAX_PICKLE_SCANNED = 64 << 20  # a state dict's pickle is kilobytes; tensors live in other zip members


def say_checkpoint_record(path: Path, source: dict, pickle_globals_allowed: bool = False) -> None:
    """One line naming the weights taken, and what the file holds besides them. A file read with
    --allow-pickle-global holds objects that torch.load's weights-only default refuses, so the line that saves its
    other weights loads it as a trusted file."""
    where = f"key '{source['checkpoint_key']}'" if source["checkpoint_key"] else "the top level"
    line = f"weights from {where} of {Path(path).name}"
    if source["checkpoint_prefix_removed"]:
        line += f" (prefix '{source['checkpoint_prefix_removed']}' removed)"
    if source["checkpoint_dtypes"] and source["checkpoint_dtypes"] != ["float32"]:
        line += f"; {', '.join(source['checkpoint_dtypes'])} weights, run in float32"
    if source["checkpoint_unused"]:
        first = "".join(f"['{key}']" for key in source["checkpoint_unused"][0].split("."))
        load = "torch.load(PATH, weights_only=False)" if pickle_globals_allowed else "torch.load(PATH)"
        line += (f"; not used: {', '.join(source['checkpoint_unused'])} (other weights in the file; to convert "
                 f"those, save them alone: torch.save({load}{first}, 'weights.pth'))")
    print(f"convert: {line}", flush=True)


def classifier_classes(path: Path, arch: str, allow_globals: tuple[str, ...] = ()) -> tuple[int | None, int | None]:
    """(classes of the checkpoint's classifier, of the architecture's default head), each None where unknown: the
    classifier named as timm's pretrained config names it, after the checkpoint's layout is mapped to timm's."""
    from convert.checkpoints import detect_layout, read_checkpoint
    from convert.frameworks import import_timm
    from convert.layouts import MAPPINGS, map_by_position

    import_timm()
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(arch)
    if config is None or not config.classifier:
        return None, None
    names = [config.classifier] if isinstance(config.classifier, str) else list(config.classifier)
    state = read_checkpoint(path, allow_globals)
    mapping = MAPPINGS[detect_layout(state.keys())]
    if mapping is map_by_position:  # needs the model's own tensors: no classifier to name
        return None, config.num_classes
    state = mapping(state, {})
    rows = {int(state[f"{name}.weight"].shape[0]) for name in names if f"{name}.weight" in state}
    return (rows.pop() if len(rows) == 1 else None), config.num_classes


def refuse_pickled_model(path: Path) -> None:
    """A whole model saved with torch.save(model): weights-only loading refuses each of its classes in turn (a
    timm ResNet names a dozen), and once all are allowed it is still no state dict; one line says how to save the
    weights instead. Read from the pickle's opcodes, nothing unpickled; a file it cannot scan is left to torch."""
    found = _pickled_model(Path(path))
    if found is None:
        return
    name, key, in_container = found
    loaded = "torch.load(PATH, weights_only=False)" + (f"[{key!r}]" if key else "[KEY]" if in_container else "")
    raise InputError(f"{path}: holds a pickled Python object ({name}) that weights-only loading refuses: a whole "
                     f"model (torch.save(model)), not a state dict, which --allow-pickle-global {name} (one for each "
                     f"class it names) would not make it; if you trust the file, save its weights where {name} "
                     f"imports: "
                     f"torch.save({loaded}.state_dict(), 'weights.pth')"
                     f"{', KEY naming the model in the dict' if in_container and not key else ''}, and convert that")


def _pickled_model(path: Path) -> tuple[str, str | None, bool] | None:
    """(the model's class, the key of the one dict it sits in or None, whether it sits in a dict at all) of a
    torch.save zip holding an nn.Module."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((i for i in archive.infolist() if i.filename.endswith("/data.pkl")), None)
            if member is None or member.file_size > MAX_PICKLE_SCANNED:
                return None
            data = archive.read(member)
        strings: list[str] = []
        classes: list[tuple[str, str | None]] = []  # (global, the key before it when the pickle opened one dict)
        dicts = 0
        first = None  # the first opcode after the protocol: a dict, or the object itself
        for opcode, argument, _ in pickletools.genops(data):
            first = first or (opcode.name if opcode.name != "PROTO" else None)
            if opcode.name in ("EMPTY_DICT", "DICT"):
                dicts += 1
            elif opcode.name == "GLOBAL":
                classes.append((argument.replace(" ", "."), strings[-1] if dicts == 1 and strings else None))
            elif opcode.name == "STACK_GLOBAL":
                classes.append((".".join(strings[-2:]), None))
            elif isinstance(argument, str):
                strings.append(argument)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, KeyError):
        return None
    if not MODULE_ATTRIBUTES <= set(strings):
        return None
    own = [c for c in classes if not c[0].startswith(PICKLE_HELPERS)]
    name, key = (own or [c for c in classes if c[0].startswith("torch.nn.")] or [("a torch.nn.Module", None)])[0]
    return name, key, first in ("EMPTY_DICT", "DICT")


def wrapper_prefix_hint(path: Path, arch: str, num_classes: int | None,
                        allow_globals: tuple[str, ...] = ()) -> str | None:
    """How to save weights whose every key carries a wrapper's attribute name (a PyTorch Lightning module's
    `model.`), when the keys without it are exactly the architecture's; None otherwise."""
    from convert.checkpoints import read_checkpoint
    from convert.frameworks import import_timm
    from convert.layouts import OPTIONAL_SUFFIX

    record: dict = {}
    keys = [k for k in read_checkpoint(path, allow_globals, record) if not k.endswith(OPTIONAL_SUFFIX)]
    heads = {k.split(".", 1)[0] for k in keys}
    if len(heads) != 1 or not all("." in k for k in keys):
        return None
    prefix = f"{heads.pop()}."
    import torch

    timm = import_timm()
    try:
        with torch.device("meta"):  # names only: no memory for the weights, no initialisation work
            model = timm.create_model(arch, pretrained=False, **({"num_classes": num_classes} if num_classes else {}))
    except Exception:  # an architecture that cannot be built on the meta device: no hint
        return None
    names = {k for k in model.state_dict() if not k.endswith(OPTIONAL_SUFFIX)}
    if {k[len(prefix):] for k in keys} != names:
        return None
    whole = (record.get("checkpoint_prefix_removed") or "") + prefix
    container = "".join(f"['{part}']" for part in (record.get("checkpoint_key") or "").split(".") if part)
    load = ("safetensors.torch.load_file(PATH)" if Path(path).suffix == ".safetensors" else
            "torch.load(PATH, weights_only=False)" if allow_globals else "torch.load(PATH)")
    return (f"every key starts with '{whole}' (a wrapper's attribute, e.g. a PyTorch Lightning module's "
            f"self.{whole.rstrip('.').split('.')[-1]}); save the weights without it: torch.save({{k.removeprefix("
            f"'{whole}'): v for k, v in {load}{container}.items()}}, 'weights.pth'), and convert that")

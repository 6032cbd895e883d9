"""Read a checkpoint safely, find the state dict inside its container, and recognise its key layout."""
from __future__ import annotations

import importlib
import pickle
import re
import zipfile
from contextlib import nullcontext
from pathlib import Path

from harness.errors import InputError

# Keys under which training scripts nest the weights: mmcls/timm {"state_dict"}, others {"model"}; a file that
# holds only EMA weights (timm's "state_dict_ema", "model_ema") gives those. convert.json records the key taken.
CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module", "net", "state_dict_ema", "model_ema")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile
# What unwrap_state_dict records of the weights it took, kept in convert.json `source`.
CHECKPOINT_RECORD_KEYS = ("checkpoint_key", "checkpoint_unused", "checkpoint_prefix_removed", "checkpoint_dtypes")
MODELZOO_SE_KEY = re.compile(r"^layer\d+\.\d+\.fc1\.weight$")
# torch has worded the refusal differently across releases; any of these names the refused global.
REFUSED_GLOBAL = (re.compile(r"Unsupported global: GLOBAL ([\w.]+)"),
                  re.compile(r"add_safe_globals\(\[([\w.]+)"),
                  re.compile(r"GLOBAL\s+([A-Za-z_][\w.]*)"),
                  re.compile(r"global[:\s]+'?([A-Za-z_][\w]*(?:\.[\w]+)+)", re.IGNORECASE))
UNPICKLER_ERROR = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")
PICKLE_PROTOCOL_MARK = 0x80
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6


def refused_global(message: str) -> str | None:
    for pattern in REFUSED_GLOBAL:
        found = pattern.search(message)
        if found:
            return found.group(1).rstrip(".")
    return None


def _allowed(names: tuple[str, ...]):
    """torch's allow-list context for the globals named by --allow-pickle-global (imported here)."""
    if not names:
        return nullcontext()
    import torch

    objects = []
    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            objects.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError, ValueError):
            raise InputError(f"--allow-pickle-global {name}: cannot import it; give module.name of a class "
                             "or function importable here") from None
    return torch.serialization.safe_globals(objects)


def _not_a_checkpoint(path: Path) -> InputError | None:
    """Say what the file is not before the unpickler trips over it with an unhelpful message."""
    if Path(path).stat().st_size == 0:
        return InputError(f"{path}: empty file (0 bytes), not a PyTorch checkpoint; save it again with torch.save")
    if zipfile.is_zipfile(path):
        return _torchscript_archive(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == ZIP_MAGIC:
        return InputError(f"{path}: not a readable PyTorch checkpoint (a zip archive without its directory: "
                          "damaged or truncated, e.g. an interrupted copy); copy or save it again")
    if head and head[0] == PICKLE_PROTOCOL_MARK:
        return None
    return InputError(f"{path}: not a readable PyTorch checkpoint (neither torch.save's zip format nor a "
                      "pickle); pass a .pth/.pt written by torch.save or a .safetensors file")


def _torchscript_archive(path: Path) -> InputError | None:
    """torch.jit.save's zip has the module's code beside its tensors; torch.load would hand it to torch.jit.load."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None  # torch.load says what is wrong with it
    if not any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
        return None
    return InputError(f"{path}: a TorchScript archive (torch.jit.save), not a checkpoint of weights; save its "
                      "weights with torch.save(torch.jit.load(PATH).state_dict(), 'weights.pth') and pass that, "
                      "or export it to ONNX and pass --onnx")


def sniff_checkpoint(path: Path) -> Path:
    """`path` when it may be a checkpoint; an InputError saying what it is not, from its first bytes."""
    if Path(path).suffix != ".safetensors":
        problem = _not_a_checkpoint(path)
        if problem is not None:
            raise problem
    return path


def read_checkpoint(path: Path, allow_globals: tuple[str, ...] = (), record: dict | None = None) -> dict:
    """The tensors of a .pth/.pt (weights_only) or .safetensors file, unwrapped from their container; `record`,
    when given, receives which weights those are (CHECKPOINT_RECORD_KEYS, for convert.json)."""
    if Path(path).suffix == ".safetensors":
        return _read_safetensors(path, record)
    import torch

    try:
        sniff_checkpoint(path)
        with _allowed(tuple(allow_globals)):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _unpickling_error(path, str(exc)) from None
    except OSError as exc:
        raise InputError(f"{path}: checkpoint cannot be read ({exc.strerror or exc})") from None
    except InputError:
        raise
    except Exception as exc:  # a damaged file surfaces as whatever the unpickler trips over
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: "
                         f"{_short(str(exc))}); it is damaged or truncated, save it again") from None
    return unwrap_state_dict(loaded, path, record)


def _unpickling_error(path: Path, message: str) -> InputError:
    name = refused_global(message)
    if name is None:
        detail = UNPICKLER_ERROR.search(message)
        return InputError(f"{path}: not a readable PyTorch checkpoint "
                          f"({_short(detail.group(1) if detail else message)})")
    return InputError(f"{path}: holds a pickled Python object ({name}) that weights-only loading refuses; if "
                      f"you trust the file, rerun with --allow-pickle-global {name}, or save "
                      "model.state_dict() and convert that")


def _read_safetensors(path: Path, record: dict | None = None) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        from harness.errors import MissingDependencyError

        raise MissingDependencyError("safetensors", "pip install safetensors") from None
    try:
        return unwrap_state_dict(load_file(str(path), device="cpu"), path, record)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise InputError(f"{path}: not a readable safetensors file ({_short(str(exc))})") from None


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _is_tensor(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def unwrap_state_dict(obj, path: Path, record: dict | None = None) -> dict:
    """Descend through container dicts to the name -> tensor mapping and drop wrapper prefixes. `record` gets
    the container keys taken, the other weight sets passed over (a training checkpoint's EMA beside its weights),
    the prefixes removed and the floating dtypes."""
    keys: list[str] = []
    unused: list[str] = []
    while isinstance(obj, dict) and not all(_is_tensor(v) for v in obj.values()):
        key = next((k for k in CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        unused += [".".join([*keys, str(k)]) for k, v in obj.items() if k != key and _holds_tensors(v)]
        inner = None if key is None else obj[key]
        if inner is None:
            tensors = {k: v for k, v in obj.items() if _is_tensor(v)}
            if tensors:
                obj = tensors
                break
            keys = ", ".join(list(map(str, obj))[:6])
            raise InputError(f"{path}: no state dict found (top-level keys: {keys}); expected tensors or "
                             f"one of {', '.join(CONTAINER_KEYS)}")
        keys.append(str(key))
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise InputError(f"{path}: holds {type(obj).__name__}, not a state dict of named tensors")
    removed = []
    while prefix := wrapper_prefix(obj):  # nested wrappers: a compiled module inside DistributedDataParallel
        removed.append(prefix)
        obj = {k[len(prefix):]: v for k, v in obj.items()}
    if record is not None:
        dtypes = {str(v.dtype).removeprefix("torch.") for v in obj.values() if _is_tensor(v)}
        record.update(checkpoint_key=".".join(keys) or None, checkpoint_unused=unused,
                      checkpoint_prefix_removed="".join(removed) or None,
                      checkpoint_dtypes=sorted(d for d in dtypes if d.startswith(("float", "bfloat"))))
    return dict(obj)


def _holds_tensors(value) -> bool:
    return isinstance(value, dict) and any(_is_tensor(v) for v in value.values())


def wrapper_prefix(state: dict) -> str | None:
    """The wrapper prefix every key of the state dict starts with, if any."""
    return next((p for p in WRAPPER_PREFIXES if state and all(str(k).startswith(p) for k in state)), None)


def detect_layout(keys, plain_default: str = "timm") -> str:
    """Recognise a key layout; plain ResNet-style names are `plain_default` (timm and torchvision agree)."""
    keys = list(keys)
    if any(k.startswith("backbone.") for k in keys):
        return "mmcls"
    if "_conv_stem.weight" in keys or any(k.startswith("_blocks.") for k in keys):
        return "efficientnet_pytorch"
    if any(MODELZOO_SE_KEY.match(k) for k in keys):
        return "modelzoo"
    return plain_default if plain_default in ("timm", "torchvision") else "timm"

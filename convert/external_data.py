"""ONNX weights kept outside the .onnx file (onnx.save(..., save_as_external_data=True)): which files hold them.

They are part of the model: convert hashes them with the .onnx, so new weights in them rebuild the artifact.
"""
from __future__ import annotations

from pathlib import Path

from harness.errors import InputError
from harness.onnx_meta import read_onnx

EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


def _tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for subgraph in [attribute.g, *attribute.graphs] if attribute.HasField("g") else attribute.graphs:
                yield from _tensors(subgraph)


def external_data_locations(path: Path) -> list[str]:
    """The external data files of an ONNX model, relative to its directory, in first-use order."""
    model = read_onnx(Path(path), load_external_data=False)
    locations = [entry.value for tensor in _tensors(model.graph) if tensor.data_location == EXTERNAL
                 for entry in tensor.external_data if entry.key == "location"]
    return list(dict.fromkeys(locations))


def external_data_files(path: Path, locations: list[str]) -> list[Path]:
    """The files named by `locations`, each checked to be there beside the model."""
    files = []
    for location in locations:
        data = Path(path).parent / location
        if not data.is_file():
            raise InputError(f"{data}: external data of {path} not found; keep the files onnx.save wrote beside the "
                             ".onnx (or save the model as one file)")
        files.append(data)
    return files

"""How a file or directory the driver names reaches a node: the same path when the node has it (a shared or copied
path), else through Ray's object store, put once by the driver and unpacked once per node into its cache.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness.errors import InputError
from harness.files import sha256_file


AUTO_SHIP_MAX_BYTES = 2 << 30  # a data set this large goes through the object store only when asked for


@dataclass
class Shipment:
    path: str  # where the driver sees it
    sha256: str  # content hash: names and bytes of every file
    is_dir: bool
    refs: list  # [ObjectRef of the tar], nested in a list so Ray hands the task the reference, not the bytes
    transfer: str = "auto"
    companions: list = field(default_factory=list)  # a file's companions (ONNX external data), beside it


def companion_files(path: Path) -> list[str]:
    """The files that belong to the file `path` and travel and hash with it, relative to its directory: an ONNX
    model's external data (the weights onnx.save wrote beside it). Each must be there, inside that directory."""
    path = Path(path)
    if path.suffix.lower() != ".onnx" or not path.is_file():
        return []
    from convert.external_data import external_data_files, external_data_locations

    locations = external_data_locations(path)
    for location in locations:
        if Path(location).is_absolute() or ".." in Path(location).parts:
            raise InputError(f"{path}: external data location {location!r} is outside the model's directory; save "
                             "the model with its data files beside it (onnx.save location=<file name>)")
    external_data_files(path, locations)
    return locations


def input_files(path: Path) -> dict[str, Path]:
    """Every file of an input by its name inside it: a directory's files, or a file with its companions."""
    path = Path(path)
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*")) if p.is_file()}
    if not path.is_file():
        raise InputError(f"{path}: not found; fix the path in the matrix file")
    return {path.name: path, **{location: path.parent / location for location in companion_files(path)}}


def content_hash(path: Path, files: dict[str, Path] | None = None) -> str:
    """sha256 over each file's name inside the input and its content hash (a file alone: its own hash), so a change
    in any file of a directory or in a model's external data changes it. `files`: input_files(path), when known."""
    files = input_files(path) if files is None else files
    if not Path(path).is_dir() and len(files) == 1:
        return sha256_file(Path(path))
    digest = hashlib.sha256()
    for name, file in files.items():
        digest.update(f"{name}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def pack(path: Path, files: dict[str, Path] | None = None) -> bytes:
    """A tar of the directory's contents, or of the file and its companions at their places beside it (symlinks
    followed, as preprocess follows them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as tar:
        if Path(path).is_dir():
            tar.add(str(path), arcname=".")
        else:
            for name, file in (input_files(path) if files is None else files).items():
                tar.add(str(file), arcname=name)
    return buffer.getvalue()


def ship(path: Path, transfer: str, put) -> Shipment:
    """Describe `path` for the nodes and put its tar into the object store with `put` (ray.put), once. With
    transfer auto, a path larger than AUTO_SHIP_MAX_BYTES is not put: it must be on a path every node has."""
    path = Path(path)
    files = input_files(path)
    size = sum(file.stat().st_size for file in files.values())
    refs = [put(pack(path, files))] if transfer == "object_store" or size <= AUTO_SHIP_MAX_BYTES else []
    companions = [] if path.is_dir() else [name for name in files if name != path.name]
    return Shipment(path=str(path), sha256=content_hash(path, files), is_dir=path.is_dir(), refs=refs,
                    transfer=transfer, companions=companions)


@contextmanager
def node_lock(lock_path: Path) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock on `lock_path` (released by the kernel when the holder dies)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def materialize(shipment: Shipment, cache: Path, get) -> Path:
    """The local path of a shipment on this node: the driver's path when this node has it (a shared path, trusted
    to hold the same content), else the object store's tar, unpacked once under cache/inputs/<content hash>."""
    local = Path(shipment.path)
    if shipment.transfer == "auto" and _has_locally(shipment):
        return local
    if not shipment.refs:
        raise InputError(f"{local}: not on this node and too large to send through the object store unasked; put "
                         "it on a path every node has, or set data transfer: object_store in the matrix")
    target = cache / "inputs" / shipment.sha256
    done = target.parent / f"{shipment.sha256}.complete"  # beside it: the copy holds exactly what was sent
    with node_lock(cache / "inputs" / f"{shipment.sha256}.lock"):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(get(shipment.refs[0])), mode="r") as tar:
                tar.extractall(target, filter="data")
            done.touch()
    return target if shipment.is_dir else target / Path(shipment.path).name  # its companions beside it


def _has_locally(shipment: Shipment) -> bool:
    local = Path(shipment.path)
    return (local.exists() and local.is_dir() == shipment.is_dir
            and all((local.parent / name).is_file() for name in shipment.companions))

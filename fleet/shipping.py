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
from dataclasses import dataclass
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


def content_hash(path: Path) -> str:
    """sha256 over each file's relative name and content hash, in sorted order (a file: its own hash)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise InputError(f"{path}: not found; fix the path in the matrix file")
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def pack(path: Path) -> bytes:
    """A tar of the file or of the directory's contents (symlinks followed, as preprocess follows them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as tar:
        tar.add(str(path), arcname=Path(path).name if Path(path).is_file() else ".")
    return buffer.getvalue()


def ship(path: Path, transfer: str, put) -> Shipment:
    """Describe `path` for the nodes and put its tar into the object store with `put` (ray.put), once. With
    transfer auto, a path larger than AUTO_SHIP_MAX_BYTES is not put: it must be on a path every node has."""
    path = Path(path)
    digest = content_hash(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    refs = [put(pack(path))] if transfer == "object_store" or size <= AUTO_SHIP_MAX_BYTES else []
    return Shipment(path=str(path), sha256=digest, is_dir=path.is_dir(), refs=refs, transfer=transfer)


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
    if shipment.transfer == "auto" and local.exists() and local.is_dir() == shipment.is_dir:
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
    return target if shipment.is_dir else target / Path(shipment.path).name

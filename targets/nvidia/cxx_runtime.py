"""An AOTInductor package's library has to share the process's C++ runtime.

Inductor links a package's .so with the host's C++ compiler ($CXX, else g++). A compiler that links libstdc++
statically gives the .so a copy of the runtime of its own: one given -static-libstdc++, or one whose own library
directory holds the archive ahead of the system's shared library (the H200 image of docs/nvidia.md wraps such a
g++ 13 as $CXX). The package's constructor then compiles a std::regex against the process's std::locale, whose
facets belong to torch's copy, and the process dies (SIGSEGV there, std::bad_cast with g++ 12). Naming the shared
library by its file name (-l:libstdc++.so.6, the name torch's own library needs) makes the linker take it wherever
the archive would have come first; a package whose library still holds a copy of its own is refused before any
process loads it.
"""
from __future__ import annotations

import functools
import os
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

RUNTIME_PREFIX = "libstdc++.so"
RUNTIME_SYMBOL = "_ZNSt6locale"  # std::locale's own members: defined only by a copy of the runtime
REFUSAL = ("its library holds its own libstdc++ (linked statically), which crashes beside torch's: set CXX to a "
           "compiler that links it dynamically, and run again")
_SHT_STRTAB, _SHT_DYNAMIC, _SHT_DYNSYM, _DT_NEEDED = 3, 6, 11, 1


class DynamicFacts(NamedTuple):
    needed: list[str]  # DT_NEEDED: the shared libraries it loads
    defines_runtime: bool  # its dynamic symbols define std::locale's members


class _Malformed(Exception):
    pass


def dynamic_facts(stream: BinaryIO, symbols: bool = True) -> DynamicFacts | None:
    """What a 64-bit little-endian ELF file's dynamic section says, read through its section headers (seeks, so a
    library of hundreds of MiB costs a few reads); None for any other file, or one cut short or malformed."""
    try:
        return _dynamic_facts(stream, symbols)
    except (_Malformed, struct.error, OverflowError, ValueError):
        return None


def _read(stream: BinaryIO, offset: int, size: int) -> bytes:
    stream.seek(offset)
    data = stream.read(size)
    if len(data) != size:
        raise _Malformed
    return data


def _dynamic_facts(stream: BinaryIO, symbols: bool) -> DynamicFacts | None:
    header = _read(stream, 0, 64)
    if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    section_offset, = struct.unpack_from("<Q", header, 0x28)
    entry_size, count = struct.unpack_from("<HH", header, 0x3A)
    if entry_size < 64 or count == 0:
        raise _Malformed
    table = _read(stream, section_offset, entry_size * count)
    sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * entry_size) for i in range(count)]

    def strings_of(link: int) -> bytes:
        if link >= len(sections) or sections[link][1] != _SHT_STRTAB:
            raise _Malformed
        return _read(stream, sections[link][4], sections[link][5])

    def name_at(strings: bytes, offset: int) -> str:
        end = strings.find(b"\0", offset)
        if offset >= len(strings) or end < 0:
            raise _Malformed
        return strings[offset:end].decode(errors="replace")

    dynamic = [s for s in sections if s[1] == _SHT_DYNAMIC]
    if not dynamic:
        raise _Malformed  # a shared library without a dynamic section is not one
    needed: list[str] = []
    for _, _, _, _, offset, size, link, _, _, _ in dynamic:
        strings, entries = strings_of(link), _read(stream, offset, size)
        for tag, value in struct.iter_unpack("<qQ", entries[:len(entries) // 16 * 16]):
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                needed.append(name_at(strings, value))
    defines = False
    for _, kind, _, _, offset, size, link, _, _, _ in sections if symbols else ():
        if kind != _SHT_DYNSYM:
            continue
        strings, entries = strings_of(link), _read(stream, offset, size)
        for name, _, _, index, _, _ in struct.iter_unpack("<IBBHQQ", entries[:len(entries) // 24 * 24]):
            if index != 0 and strings.startswith(RUNTIME_SYMBOL.encode(), name):  # index 0: undefined here
                defines = True
                break
    return DynamicFacts(needed, defines)


def runtime_name(needed: list[str]) -> str | None:
    return next((name for name in needed if name.startswith(RUNTIME_PREFIX)), None)


@functools.lru_cache(maxsize=None)
def _runtime_of(library: str) -> str | None:
    try:
        with open(library, "rb") as stream:
            facts = dynamic_facts(stream, symbols=False)
    except OSError:
        return None
    return runtime_name(facts.needed) if facts else None


def torch_runtime(torch: Any) -> str | None:
    """The shared libstdc++ torch's own library needs, by file name; None where torch/lib holds no such library
    (a build laid out otherwise, another platform), and then nothing here changes how a package is made."""
    return _runtime_of(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))


def link_settings(torch: Any, settings: dict) -> dict:
    """Inductor settings that link a package against torch's shared libstdc++ (-l:<file name>), where this torch
    lets a package name libraries to link (aot_inductor.custom_op_libs); {} otherwise."""
    runtime = torch_runtime(torch)
    if runtime is None or not hasattr(torch._inductor.config.aot_inductor, "custom_op_libs"):
        return {}
    named = list(settings.get("aot_inductor.custom_op_libs") or [])
    wanted = f":{runtime}"
    return {"aot_inductor.custom_op_libs": named if wanted in named else [*named, wanted]}


def holds_own_runtime(facts: DynamicFacts) -> bool:
    """A copy of the runtime inside: it defines std::locale itself, or it is a library of torch's (it needs
    libtorch) that needs no shared libstdc++, so it can only have the runtime within (with its symbols hidden)."""
    needs_torch = any(name.startswith("libtorch") for name in facts.needed)
    return facts.defines_runtime or (needs_torch and runtime_name(facts.needed) is None)


def own_runtime_copy(torch: Any, package: Path) -> str:
    """Why `package` must not be loaded beside torch's shared libstdc++: a library in it holds a copy of its own;
    "" when none does (or torch uses no shared libstdc++)."""
    if torch_runtime(torch) is None:
        return ""
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            if name.endswith(".so"):
                with archive.open(name) as member:
                    facts = dynamic_facts(member)
                if facts is not None and holds_own_runtime(facts):
                    return REFUSAL
    return ""


def compiler_identity() -> dict:
    """The C++ compiler a fresh process's inductor makes packages with ($CXX, else g++; the compile child is such a
    process), as the file it resolves to, with that file's size and time: a refusal of packages holds while it is
    unchanged."""
    name = os.environ.get("CXX") or "g++"
    found = shutil.which(name)
    if found is None:
        return {"cxx": name, "found": False}
    path = os.path.realpath(found)  # however $CXX spells it
    stat = os.stat(path)
    return {"file": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

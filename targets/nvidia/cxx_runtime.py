"""An AOTInductor package's library has to share the process's C++ runtime.

Inductor links a package's .so with the host's C++ compiler ($CXX, else g++). A compiler that links libstdc++
statically gives the .so a copy of the runtime of its own: one given -static-libstdc++, or one whose own library
directory holds only libstdc++.a, found before the system's shared library (the lent H200's image wraps such a
g++ 13 as $CXX). The package's constructor then compiles a std::regex against the process's std::locale, whose
facets belong to torch's copy, and the process dies: SIGSEGV on the H200 with torch 2.11 (docs/nvidia.md, Twelfth
run), std::bad_cast with g++ 12. Naming the shared library by its file name (-l:libstdc++.so.6, the name torch's
own library needs) makes the linker take it wherever the archive would have come first; a package whose library
still holds a copy of its own is refused before any process loads it.
"""
from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

RUNTIME_PREFIX = "libstdc++.so"
REFUSAL = ("its library holds its own libstdc++ (the compiler links it statically) and would crash beside torch's; "
           "set CXX to a g++ that links it dynamically")
_SHT_DYNAMIC, _DT_NEEDED = 6, 1


def needed_libraries(stream: BinaryIO) -> list[str] | None:
    """The DT_NEEDED entries of a 64-bit little-endian ELF file, read through its section headers (seeks, so a
    library of hundreds of MiB costs a few reads); None for any other file."""
    stream.seek(0)
    header = stream.read(64)
    if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    section_offset, = struct.unpack_from("<Q", header, 0x28)
    entry_size, count = struct.unpack_from("<HH", header, 0x3A)
    if entry_size < 64 or count == 0:
        return None
    stream.seek(section_offset)
    table = stream.read(entry_size * count)
    sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * entry_size) for i in range(len(table) // entry_size)]
    needed: list[str] = []
    for _, kind, _, _, offset, size, link, _, _, _ in sections:
        if kind != _SHT_DYNAMIC or link >= len(sections):
            continue
        strings_offset, strings_size = sections[link][4], sections[link][5]
        stream.seek(strings_offset)
        strings = stream.read(strings_size)
        stream.seek(offset)
        dynamic = stream.read(size)
        for tag, value in struct.iter_unpack("<qQ", dynamic[:len(dynamic) // 16 * 16]):
            if tag == 0:
                break
            if tag == _DT_NEEDED and value < len(strings):
                needed.append(strings[value:strings.index(b"\0", value)].decode(errors="replace"))
    return needed


def shares_runtime(needed: list[str] | None) -> bool:
    return runtime_name(needed) is not None


def runtime_name(needed: list[str] | None) -> str | None:
    return next((name for name in needed or () if name.startswith(RUNTIME_PREFIX)), None)


def torch_runtime(torch: Any) -> str | None:
    """The shared libstdc++ torch's own library needs, by file name (every pip and conda build needs one)."""
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        with open(library, "rb") as stream:
            return runtime_name(needed_libraries(stream))
    except OSError:
        return None


def link_settings(torch: Any, settings: dict) -> dict:
    """Inductor settings that link a package against torch's shared libstdc++ (-l:<file name>), where this torch
    lets a package name libraries to link (aot_inductor.custom_op_libs); {} otherwise."""
    runtime = torch_runtime(torch)
    if runtime is None or not hasattr(torch._inductor.config.aot_inductor, "custom_op_libs"):
        return {}
    named = list(settings.get("aot_inductor.custom_op_libs") or [])
    wanted = f":{runtime}"
    return {"aot_inductor.custom_op_libs": named if wanted in named else [*named, wanted]}


def own_runtime_copy(torch: Any, package: Path) -> str:
    """Why `package` must not be loaded here: a library in it leaves libstdc++ out of what it needs although
    torch needs it (so it carries a copy of its own); "" when none does."""
    if torch_runtime(torch) is None:
        return ""
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            if name.endswith(".so"):
                needed = needed_libraries(io.BytesIO(archive.read(name)))
                if needed is not None and not shares_runtime(needed):
                    return REFUSAL
    return ""

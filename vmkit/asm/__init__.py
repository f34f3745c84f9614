"""vmkit.asm: an assembler for the GNU as syntax course material uses (RV32IMA + Zicsr +
Zifencei + H), producing an in-memory program or an ELF32 executable.

    >>> prog = assemble("_start: li a0, 42\\n ret\\n")
    >>> prog.entry == 0x8000_0000, prog.section(".text").data.hex()
    (True, '1305a00267800000')

Modules, one concept each: `lexer` (lines, statements, strings), `expr` (expressions),
`operands` (operands against instruction-table rows), `pseudo` (multi-instruction
pseudo-instructions), `directives`, `macros`, `sections`, `assembler` (the two passes),
`program` (placing sections, the result, ELF output), `attributes` (the ISA and privileged
spec the ELF file records).
"""

import os
from importlib import resources

from vmkit.files import InputFileError, read_input

from .assembler import Assembler, decode
from .errors import AsmError
from .program import Program, Section

# The largest source or .include file read from disk. gcc's output for a whole course
# kernel is under 1 MiB; the limit only stops /dev/zero-like input from filling memory.
MAX_SOURCE = 4 << 20

__all__ = ["AsmError", "Program", "Section", "assemble", "assemble_file"]


def package_include(name: str):
    """Text of `name` from the package data folder vmkit/guest/, or None.

    Only names inside that folder: no absolute paths, no ``..``.
    """
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or ".." in parts or ":" in name:
        return None
    try:
        entry = resources.files("vmkit.guest").joinpath(name)
        return entry.read_text(encoding="utf-8") if entry.is_file() else None
    except (OSError, ValueError, ModuleNotFoundError, UnicodeDecodeError):
        return None


def _resolver(include):
    """name -> text: the caller's `include` (dict or callable) first, then package data."""
    if include is None:
        return package_include
    lookup = include.get if isinstance(include, dict) else include

    def resolve(name):
        text = lookup(name)
        return text if text is not None else package_include(name)
    return resolve


def assemble(source, filename: str = "<input>", *, base: int = 0x8000_0000,
             include=None) -> Program:
    """Assemble `source` (str, or UTF-8 bytes) into a Program placed at `base`.

    `include` resolves ``.include "name"``: a dict name -> text, or a callable returning the
    text or None; names it does not know are looked up in the package folder vmkit/guest/.
    Raises AsmError listing every ``file:line:col: message`` found.
    """
    if isinstance(source, (bytes, bytearray)):
        source = decode(bytes(source), filename)
    if not 0 <= base < 1 << 32 or base % 4:
        raise AsmError([f"{filename}:1:1: base address {base:#x} must be a multiple of 4 "
                        "below 4 GiB"])
    return Assembler(_resolver(include), base).run(source, filename)


def assemble_file(path, *, base: int = 0x8000_0000, include=None) -> Program:
    """Assemble the file at `path`; ``.include`` also looks in the file's own folder."""
    path = os.fspath(path)
    try:
        source = read_input(path, MAX_SOURCE)
    except InputFileError as e:
        raise AsmError([f"{path}:1:1: {e}"]) from None
    folder = os.path.dirname(path)

    def from_folder(name):
        if include is not None:
            found = include.get(name) if isinstance(include, dict) else include(name)
            if found is not None:
                return found
        full = os.path.join(folder, name)
        if not os.path.lexists(full):
            return None                             # then the package data folder
        try:
            return read_input(full, MAX_SOURCE)
        except InputFileError as e:
            return e                                # the assembler reports it at the line
    return assemble(source, path, base=base, include=from_folder)

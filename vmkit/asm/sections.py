"""Sections being assembled: one `Chunk` per section name, and how gaps are filled.

GNU as keeps one section per name (``.text``, ``.text.init``, ``.data``); a linker then
groups them by kind into the executable's output sections. vmkit does both: the assembler
fills chunks, `program.layout` places them. The kind of a section follows its name
(``.text*``, ``.rodata*``, ``.data*``/``.sdata*``, ``.bss*``/``.sbss*``), or its flags for
other names (``"ax"`` code, ``"aw"`` data, ``"a"`` read-only, ``@nobits`` bss).
"""

KINDS = ("text", "rodata", "data", "bss")
NOP, C_NOP = 0x00000013, 0x0001          # addi zero,zero,0 and c.nop

_PREFIXES = ((".text", "text"), (".rodata", "rodata"), (".srodata", "rodata"),
             (".data", "data"), (".sdata", "data"), (".bss", "bss"), (".sbss", "bss"))
# Sections that carry metadata for tools, never loaded: accepted and dropped.
_METADATA = (".note", ".comment", ".debug", ".riscv.attributes", ".stab")


class Chunk:
    """The bytes of one input section, its alignment, pending fixups and source lines."""

    def __init__(self, name: str, kind: str):
        self.name, self.kind = name, kind
        self.data = bytearray()
        self.align = 4 if name == ".text" else 1    # GNU as gives .text 4-byte alignment
        self.fixups = []                            # (offset, letter/size, how, node, where)
        self.lines = []                             # (offset, (file, line))
        self.address = None                         # set by layout after pass 1


def section_kind(name: str, flags: str | None, nobits: bool):
    """'text' / 'rodata' / 'data' / 'bss', 'drop' for metadata, None if it cannot be told."""
    for prefix, kind in _PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return kind
    if name.startswith(_METADATA):
        return "drop"
    if flags is None:
        return None
    if "a" not in flags:
        return "drop"
    if "x" in flags:
        return "text"
    if "w" in flags:
        return "bss" if nobits else "data"
    return "rodata"


def code_padding(count: int) -> bytes:
    """Fill for `count` bytes of code, as binutils' riscv_make_nops: a zero byte on an odd
    address, at most one 2-byte c.nop, then 4-byte nops."""
    out = bytearray()
    if count % 2:
        out.append(0)
    if (count - len(out)) % 4 == 2:
        out += C_NOP.to_bytes(2, "little")
    out += NOP.to_bytes(4, "little") * ((count - len(out)) // 4)
    return bytes(out)


def padding(kind: str, count: int, fill=None) -> bytes:
    """Gap filler: nops in code (unless a fill byte is given), else the fill byte or zeros."""
    if fill is None and kind == "text":
        return code_padding(count)
    return bytes([fill or 0]) * count

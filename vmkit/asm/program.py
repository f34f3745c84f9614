"""The assembled program: sections placed in memory, symbols, entry point, line map.

vmkit.asm assembles straight to an executable (there is no separate link step), so it also
does the linker's job of placing sections (what ``ld -Ttext=...`` or a linker script does):

    base    .text, then other code sections (.text.init, ...) in order of first use
            (the first section starts exactly at base, which must be a multiple of 4)
    +align  .rodata*       each kind starts on a 16-byte boundary;
    +align  .data*         within a kind each section starts on its own alignment
    +align  .bss*          (the largest .align used in it; 4 for .text, as GNU as sets)

The gaps between code sections are filled with nops, others with zeros.

Its ELF file also carries the program's ISA and privileged spec (see `attributes`).
"""

from typing import NamedTuple

from vmkit.elf import ElfSection, Segment, Symbol, riscv_attributes, write_elf

from .attributes import program_attributes
from .sections import KINDS, padding

KIND_ALIGN = 16
_ELF_FLAGS = {"text": "ax", "rodata": "a", "data": "aw", "bss": "aw"}
_SEGMENT_FLAGS = {"text": "rx", "rodata": "r", "data": "rw", "bss": "rw"}


class Section(NamedTuple):
    name: str          # ".text", ".rodata" or ".data"
    address: int
    data: bytes


class Placed(NamedTuple):
    """Where one input section (e.g. ``.text.init``) landed."""
    name: str
    kind: str
    address: int
    size: int


def _align(value, to):
    return (value + to - 1) // to * to


def layout(chunks, base: int):
    """Give every chunk an address (pass 2 needs them); return [Placed] in address order."""
    address, placed = base, []
    for kind in KINDS:
        group = [c for c in chunks if c.kind == kind]
        if any(c.data for c in group) and placed:
            address = _align(address, KIND_ALIGN)
        for c in group:
            if c.data and placed:                   # the first section starts at base itself
                address = _align(address, c.align)
            c.address = address
            if c.data:
                placed.append(Placed(c.name, kind, address, len(c.data)))
            address += len(c.data)
    for c in chunks:
        if c.kind == "drop":
            c.address = 0
    return placed


def output_sections(chunks, placed):
    """After pass 2: the .text/.rodata/.data Sections (gaps filled) and bss (address, size)."""
    by_name = {c.name: c for c in chunks}
    sections, bss = [], (placed[-1].address + placed[-1].size if placed else 0, 0)
    for kind in KINDS:
        group = [p for p in placed if p.kind == kind]
        if not group:
            continue
        start, data = group[0].address, bytearray()
        for p in group:
            data += padding(kind, p.address - start - len(data)) + by_name[p.name].data
        if kind == "bss":
            bss = (start, len(data))
        else:
            sections.append(Section("." + kind, start, bytes(data)))
    return sections, bss


class Program:
    """What `vmkit.asm.assemble` returns.

    * ``sections``: [Section(name, address, data)] for .text / .rodata / .data (non-empty)
    * ``bss``: (address, size) of the zero-initialised data
    * ``symbols``: name -> address or value (labels and .equ/.set); ``globals``: .globl names
    * ``entry``: address of ``_start`` if defined, else the start of .text
    * ``line_map``: address -> (file, line) of every instruction and data item
    * ``placed``: where each input section (``.text.init``, ...) landed
    * ``constants``: the symbols that are numbers (.equ), not addresses
    """

    def __init__(self, sections, bss, symbols, globals_, line_map, placed, base, constants=(),
                 attributes=None):
        self.sections, self.bss, self.symbols = sections, bss, symbols
        # .riscv.attributes as {tag: value}; by default those of code with no CSR access.
        self.attributes = attributes or program_attributes((), None, {})
        self.constants = frozenset(constants)        # symbols that are numbers, not addresses
        self.globals, self.line_map, self.placed = globals_, line_map, placed
        text = next((s.address for s in sections if s.name == ".text"), base)
        self.entry = symbols.get("_start", text)

    def section(self, name: str):
        """The Section called `name`, or None."""
        return next((s for s in self.sections if s.name == name), None)

    @property
    def segments(self):
        """The loadable segments as an ELF file has them (`vmkit.elf.Segment`), .bss as a
        memory size only: a loader can check their sizes before it allocates anything."""
        out = [Segment(s.address, s.address, s.data, len(s.data), _SEGMENT_FLAGS[s.name[1:]])
               for s in self.sections]
        if self.bss[1]:
            out.append(Segment(self.bss[0], self.bss[0], b"", self.bss[1], "rw"))
        return out

    def image(self):
        """[(address, bytes)] to copy into memory, .bss included as zeros."""
        out = [(s.address, s.data) for s in self.sections]
        if self.bss[1]:
            out.append((self.bss[0], bytes(self.bss[1])))
        return out

    def to_elf(self) -> bytes:
        """An ELF32 RISC-V executable (ET_EXEC) with the sections, symbols and entry point."""
        elf_sections = [ElfSection(s.name, s.address, s.data, len(s.data), "progbits",
                                   _ELF_FLAGS[s.name[1:]]) for s in self.sections]
        if self.bss[1]:
            elf_sections.append(ElfSection(".bss", self.bss[0], b"", self.bss[1], "nobits", "aw"))
        symbols = [Symbol(name, value & 0xFFFFFFFF,
                          binding="global" if name in self.globals else "local",
                          section=self._section_of(name, value, elf_sections))
                   for name, value in sorted(self.symbols.items(), key=lambda kv: kv[1])
                   if not name.startswith(".L")]
        return write_elf(elf_sections, symbols, self.entry,
                         riscv_attributes(self.attributes))

    def _section_of(self, name, value, elf_sections):
        if name in self.constants:
            return None
        inside = [s.name for s in elf_sections if s.addr <= value < s.addr + s.size]
        at_end = [s.name for s in elf_sections if value == s.addr + s.size]
        return (inside + at_end + [None])[0]

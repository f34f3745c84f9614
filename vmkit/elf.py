"""ELF32 executables for RISC-V: write what the assembler produced, read what a loader needs.

An ELF executable is a header, a *program header table* (the segments a loader copies into
memory: PT_LOAD, "where does this go and with which permissions") and a *section header table*
(the named pieces a linker and a disassembler care about: .text, .data, .bss, .symtab).
vmkit loads segments and uses sections and symbols only for disassembly and for the HTIF
``tohost``/``fromhost`` addresses. (x86 hosts use the same format with EM_386/EM_X86_64.)

Only what RV32 bare-metal programs need: ET_EXEC, ELFCLASS32, little-endian, EM_RISCV.

The reader treats its input as hostile: every offset, size and count is checked against the
file before it is used, so a broken file gives one `ElfError` line, never a Python traceback.

The ``.riscv.attributes`` section says which ISA the code is for (``Tag_RISCV_arch``) and
which privileged spec its CSR names follow; objdump reads it to pick its decoder and CSR
names, so a file without it is disassembled as some other RISC-V (RV64GC, compressed
instructions included).

Source: System V ABI, "Object Files" chapter (gABI 4.1, 2001 update); RISC-V ELF psABI 1.0
(section "Attributes" for the attribute section).
"""

import struct
from dataclasses import dataclass, field

from vmkit.files import InputFileError, read_input
from vmkit.vmm.layout import MAX_GUEST_RAM

# e_ident, e_type, e_machine (gABI figure 4-3..4-5; psABI: EM_RISCV = 243).
MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, EV_CURRENT = 1, 2, 1, 2, 1
ET_REL, ET_EXEC = 1, 2
EM_RISCV = 243

# Section header types and flags (gABI figures 4-9, 4-11).
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 1, 2, 3, 8
SHT_RISCV_ATTRIBUTES = 0x70000003                  # psABI: processor-specific section type
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFFF

# Program header type and flags (gABI figures 5-2, 5-3).
PT_LOAD = 1
PF_X, PF_W, PF_R = 0x1, 0x2, 0x4

# Symbol binding and type (gABI figures 4-17, 4-18).
BINDINGS = {0: "local", 1: "global", 2: "weak"}
TYPES = {0: "notype", 1: "object", 2: "func", 3: "section", 4: "file"}
BINDING_CODES = {name: code for code, name in BINDINGS.items()}
TYPE_CODES = {name: code for code, name in TYPES.items()}

# Layouts of the 32-bit little-endian structures.
EHDR = struct.Struct("<16sHHIIIIIHHHHHH")    # Elf32_Ehdr, 52 bytes
PHDR = struct.Struct("<IIIIIIII")            # Elf32_Phdr, 32 bytes
SHDR = struct.Struct("<IIIIIIIIII")          # Elf32_Shdr, 40 bytes
SYM = struct.Struct("<IIIBBH")               # Elf32_Sym, 16 bytes

# psABI attribute tags (ULEB128): Tag_file holds the file's attributes; odd-numbered tags take
# a NUL-terminated string, even-numbered ones a ULEB128 number.
TAG_FILE, TAG_STACK_ALIGN, TAG_ARCH, TAG_UNALIGNED_ACCESS = 1, 4, 5, 6
TAG_PRIV_SPEC, TAG_PRIV_SPEC_MINOR, TAG_PRIV_SPEC_REVISION = 8, 10, 12
ATTRIBUTES = ".riscv.attributes"

PAGE = 0x1000           # p_align of every PT_LOAD, as GNU ld uses: file offset = vaddr mod page
# The largest ELF file read: its segments fit the 16 MiB of guest RAM; symbols and debug
# sections of course programs are smaller than their code.
MAX_FILE = 64 << 20


class ElfError(ValueError):
    """A file that is not a loadable RV32 executable, explained in one line."""


@dataclass(frozen=True)
class ElfSection:
    """A named section. ``kind`` "nobits" (.bss) occupies memory but no file bytes."""
    name: str
    addr: int
    data: bytes
    size: int
    kind: str = "progbits"
    flags: str = "ax"          # subset of "awx": alloc, write, exec


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int = 0
    binding: str = "global"    # "local", "global" (or "weak" when read)
    section: str | None = None  # None = absolute
    type: str = "notype"       # "func", "object" (or "section", "file" when read)


@dataclass
class Segment:
    """A PT_LOAD segment: ``data`` goes to ``paddr``, the rest up to ``memsize`` is zeroed."""
    vaddr: int
    paddr: int
    data: bytes
    memsize: int
    flags: str                 # subset of "rwx"


@dataclass
class ElfImage:
    entry: int
    segments: list[Segment]
    sections: list[ElfSection]
    symbols: dict[str, int]
    symbol_list: list[Symbol]
    # From .riscv.attributes: {"arch": "rv32i2p1_...", "priv_spec": "1.12"}, whichever exist.
    attributes: dict = field(default_factory=dict)

    def symbol(self, name: str) -> int | None:
        return self.symbols.get(name)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _section_flags(flags: str) -> int:
    return ((SHF_ALLOC if "a" in flags else 0) | (SHF_WRITE if "w" in flags else 0)
            | (SHF_EXECINSTR if "x" in flags else 0))


def _segment_flags(flags: str) -> int:
    return PF_R | (PF_W if "w" in flags else 0) | (PF_X if "x" in flags else 0)


def _check_sections(sections):
    names = set()
    for s in sections:
        if not s.name or s.name in names or s.name in (".symtab", ".strtab", ".shstrtab"):
            raise ElfError(f"section name {s.name!r} is empty, repeated or reserved")
        names.add(s.name)
        if s.kind not in ("progbits", "nobits") or set(s.flags) - set("awx"):
            raise ElfError(f"section {s.name}: bad kind {s.kind!r} or flags {s.flags!r}")
        if s.kind == "progbits" and len(s.data) != s.size:
            raise ElfError(f"section {s.name}: size {s.size} but {len(s.data)} data bytes")
        if not (0 <= s.addr and 0 <= s.size and s.addr + s.size <= 1 << 32):
            raise ElfError(f"section {s.name}: 0x{s.addr:x}+{s.size} is outside 32 bits")
    alloc = sorted((s for s in sections if "a" in s.flags and s.size), key=lambda s: s.addr)
    for a, b in zip(alloc, alloc[1:]):
        if a.addr + a.size > b.addr:
            raise ElfError(f"sections {a.name} and {b.name} overlap at 0x{b.addr:x}")


def _segment_groups(sections):
    """Allocated sections grouped into PT_LOADs: address-contiguous, same flags, and .bss
    only at the end of a group (a segment's zero-filled part must be its tail)."""
    groups = []
    for s in sorted((s for s in sections if "a" in s.flags and s.size), key=lambda s: s.addr):
        last = groups[-1][-1] if groups else None
        if (last and last.addr + last.size == s.addr and last.flags == s.flags
                and last.kind == "progbits"):
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def _align(offset, to):
    return (offset + to - 1) & -to


def _addralign(addr):
    return 4 if addr % 4 == 0 else 1


class _StringTable:
    """An ELF string table: NUL-separated names, offset 0 is the empty name."""

    def __init__(self):
        self.data = bytearray(b"\0")

    def add(self, name: str) -> int:
        if not name:
            return 0
        offset = len(self.data)
        self.data += name.encode() + b"\0"
        return offset


def _symtab(symbols, index_of):
    """The .symtab and .strtab bytes and sh_info (index of the first non-local symbol):
    the gABI requires all local symbols before the global ones."""
    strtab = _StringTable()
    table = bytearray(SYM.size)                     # entry 0: the undefined symbol
    ordered = sorted(symbols, key=lambda s: s.binding != "local")
    for sym in ordered:
        bind = BINDING_CODES.get(sym.binding)
        kind = TYPE_CODES.get(sym.type)
        if bind is None or kind not in (0, 1, 2):        # the writer makes no section/file syms
            raise ElfError(f"symbol {sym.name}: bad binding {sym.binding!r} or type {sym.type!r}")
        if sym.section is None:
            shndx = SHN_ABS
        elif sym.section in index_of:
            shndx = index_of[sym.section]
        else:
            raise ElfError(f"symbol {sym.name}: no section {sym.section!r}")
        table += SYM.pack(strtab.add(sym.name), sym.value & 0xFFFFFFFF,
                          sym.size & 0xFFFFFFFF, bind << 4 | kind, 0, shndx)
    first_global = 1 + sum(1 for s in ordered if s.binding == "local")
    return bytes(table), bytes(strtab.data), first_global


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def riscv_attributes(tags: dict) -> bytes:
    """The contents of a .riscv.attributes section holding `tags` ({tag: str or int}), laid
    out as GNU as 2.40 writes it: format 'A', one "riscv" vendor subsection, one Tag_file
    with the attributes in tag order."""
    body = b"".join(_uleb(tag) + (value.encode() + b"\0" if isinstance(value, str)
                                  else _uleb(value))
                    for tag, value in sorted(tags.items()))
    file_tag = _uleb(TAG_FILE) + (5 + len(body)).to_bytes(4, "little") + body
    vendor = b"riscv\0"
    return b"A" + (4 + len(vendor) + len(file_tag)).to_bytes(4, "little") + vendor + file_tag


def _place(sections, groups, offset):
    """File offset of every section's contents, starting at `offset`. A segment's first
    section sits at an offset congruent to its address modulo the page size (what p_align
    promises a loader); the rest of the segment follows it byte for byte."""
    offset_of = {}
    for group in groups:
        offset += (group[0].addr - offset) % PAGE
        for s in group:
            offset_of[s.name] = offset + s.addr - group[0].addr
        last = group[-1]
        offset = offset_of[last.name] + (last.size if last.kind == "progbits" else 0)
    for s in sections:
        if s.name not in offset_of:                  # non-allocated or empty sections
            offset = _align(offset, _addralign(s.addr))
            offset_of[s.name] = offset
            offset += s.size if s.kind == "progbits" else 0
    return offset_of, offset


def _program_header(group, offset) -> bytes:
    first, last = group[0], group[-1]
    filesz = sum(s.size for s in group if s.kind == "progbits")
    memsz = last.addr + last.size - first.addr
    return PHDR.pack(PT_LOAD, offset, first.addr, first.addr, filesz, memsz,
                     _segment_flags(first.flags), PAGE)


def write_elf(sections: list[ElfSection], symbols: list[Symbol], entry: int,
              attributes: bytes = b"") -> bytes:
    """An ET_EXEC ELF32 RISC-V file holding `sections`, `symbols` and entry point `entry`,
    and `attributes` (see `riscv_attributes`) as its .riscv.attributes section if given.

    File layout: ELF header, program headers (one PT_LOAD per group of address-contiguous
    allocated sections with the same flags), section contents, .riscv.attributes, .symtab,
    .strtab, .shstrtab, section header table.
    """
    _check_sections(sections)
    groups = _segment_groups(sections)
    index_of = {s.name: i + 1 for i, s in enumerate(sections)}
    offset_of, end = _place(sections, groups, EHDR.size + PHDR.size * len(groups))

    symtab, strtab, first_global = _symtab(symbols, index_of)
    extra = [ATTRIBUTES] if attributes else []
    shstrtab = _StringTable()
    names = [shstrtab.add(name) for name in
             [s.name for s in sections] + extra + [".symtab", ".strtab", ".shstrtab"]]
    attributes_off = end
    symtab_off = _align(end + len(attributes), 4)
    strtab_off = symtab_off + len(symtab)
    shstrtab_off = strtab_off + len(strtab)
    shoff = _align(shstrtab_off + len(shstrtab.data), 4)
    shnum = len(sections) + len(extra) + 4

    out = bytearray(shoff)
    ident = MAGIC + bytes((ELFCLASS32, ELFDATA2LSB, EV_CURRENT)) + bytes(9)
    out[:EHDR.size] = EHDR.pack(ident, ET_EXEC, EM_RISCV, EV_CURRENT, entry & 0xFFFFFFFF,
                                EHDR.size if groups else 0, shoff, 0, EHDR.size, PHDR.size,
                                len(groups), SHDR.size, shnum, shnum - 1)
    out[EHDR.size:EHDR.size + PHDR.size * len(groups)] = b"".join(
        _program_header(g, offset_of[g[0].name]) for g in groups)
    for s in sections:
        if s.kind == "progbits":
            out[offset_of[s.name]:offset_of[s.name] + s.size] = s.data
    out[attributes_off:attributes_off + len(attributes)] = attributes
    out[symtab_off:shstrtab_off + len(shstrtab.data)] = symtab + strtab + shstrtab.data
    out += bytes(SHDR.size)                          # section 0: SHN_UNDEF
    for s, name in zip(sections, names):
        kind = SHT_PROGBITS if s.kind == "progbits" else SHT_NOBITS
        out += SHDR.pack(name, kind, _section_flags(s.flags), s.addr, offset_of[s.name],
                         s.size, 0, 0, _addralign(s.addr), 0)
    if attributes:
        out += SHDR.pack(names[len(sections)], SHT_RISCV_ATTRIBUTES, 0, 0, attributes_off,
                         len(attributes), 0, 0, 1, 0)
    symtab_name, strtab_name, shstrtab_name = names[len(sections) + len(extra):]
    out += SHDR.pack(symtab_name, SHT_SYMTAB, 0, 0, symtab_off, len(symtab),
                     shnum - 2, first_global, 4, SYM.size)              # sh_link: .strtab
    out += SHDR.pack(strtab_name, SHT_STRTAB, 0, 0, strtab_off, len(strtab), 0, 0, 1, 0)
    out += SHDR.pack(shstrtab_name, SHT_STRTAB, 0, 0, shstrtab_off, len(shstrtab.data),
                     0, 0, 1, 0)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

class _Reader:
    """Bounds-checked access to the file: every failure is an ElfError naming the file."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name = data, name

    def fail(self, message: str):
        raise ElfError(f"{self.name}: {message}")

    def table(self, what, offset, count, entsize, layout):
        """`count` entries of `layout`, `entsize` bytes apart, starting at `offset`.

        An absurd count fails the bounds check before anything is allocated for it."""
        if count == 0:
            return []
        if entsize != layout.size:
            self.fail(f"{what} entry size {entsize}, expected {layout.size}")
        self.span(what + " table", offset, count * entsize)
        return [layout.unpack_from(self.data, offset + i * entsize) for i in range(count)]

    def span(self, what, offset, size) -> bytes:
        if offset + size > len(self.data):
            self.fail(f"{what}: bytes {offset}..{offset + size} lie outside the file "
                      f"({len(self.data)} bytes)")
        return self.data[offset:offset + size]

    def string(self, table: bytes, offset: int, what: str) -> str:
        end = table.find(b"\0", offset)
        if offset >= len(table) or end < 0:
            self.fail(f"{what} name offset {offset} outside its string table")
        return table[offset:end].decode("utf-8", "replace")


def _check_ident(r: _Reader):
    data = r.data
    if len(data) < 4 and MAGIC.startswith(data) and data:
        r.fail(f"truncated ELF header ({len(data)} of {EHDR.size} bytes)")
    if data[:4] != MAGIC:
        r.fail("not an ELF file (bad magic)" if data else "empty file, not an ELF file")
    if len(data) < EHDR.size:
        r.fail(f"truncated ELF header ({len(data)} of {EHDR.size} bytes)")
    if data[4] == ELFCLASS64:
        r.fail("64-bit ELF; vmkit runs RV32")
    if data[4] != ELFCLASS32:
        r.fail(f"bad ELF class {data[4]}")
    if data[5] == ELFDATA2MSB:
        r.fail("big-endian ELF; RISC-V is little-endian")
    if data[5] != ELFDATA2LSB:
        r.fail(f"bad ELF data encoding {data[5]}")
    if data[6] != EV_CURRENT:
        r.fail(f"bad ELF version {data[6]}")


def _read_segments(r: _Reader, phdrs):
    """The PT_LOAD segments; their memory sizes together fit a guest's RAM (loaders allocate
    p_memsz bytes, so a 4 KB file could otherwise ask for gigabytes)."""
    ram = MAX_GUEST_RAM
    segments, total = [], 0
    for p_type, offset, vaddr, paddr, filesz, memsz, flags, _align_ in phdrs:
        if p_type != PT_LOAD:
            continue
        if filesz > memsz:
            r.fail(f"segment at 0x{vaddr:08x}: file size {filesz} > memory size {memsz}")
        total += memsz                          # checked before anything is allocated
        if memsz > ram:
            r.fail(f"segment at 0x{vaddr:08x}: memory size {memsz} is over the "
                   f"{ram >> 20} MiB of guest RAM")
        if total > ram:
            r.fail(f"the segments need {total} bytes together, over the {ram >> 20} MiB "
                   "of guest RAM")
        if vaddr + memsz > 1 << 32 or paddr + memsz > 1 << 32:
            r.fail(f"segment at 0x{vaddr:08x}+{memsz} wraps past 4 GiB")
        data = r.span(f"segment at 0x{vaddr:08x}", offset, filesz)
        flag_text = "".join(c for c, bit in (("r", PF_R), ("w", PF_W), ("x", PF_X))
                            if flags & bit)
        segments.append(Segment(vaddr, paddr, data, memsz, flag_text))
    for attr in ("vaddr", "paddr"):
        spans = sorted((getattr(s, attr), s.memsize) for s in segments if s.memsize)
        for (a, alen), (b, _) in zip(spans, spans[1:]):
            if a + alen > b:
                r.fail(f"segments overlap at {attr} 0x{b:08x}")
    return segments


def _read_sections(r: _Reader, shdrs, shstrndx):
    """(list of ElfSection, names by header index). Program sections only: PROGBITS/NOBITS
    and anything allocated; symbol/string tables are read separately."""
    if shdrs and shstrndx >= len(shdrs):
        r.fail(f"section name table index {shstrndx} out of range ({len(shdrs)} sections)")
    names_table = b""
    if shdrs:
        _, _, _, _, off, size, *_ = shdrs[shstrndx]
        names_table = r.span("section name table", off, size)
    sections, names = [], []
    for i, (name, kind, flags, addr, off, size, *_rest) in enumerate(shdrs):
        names.append(r.string(names_table, name, "section") if i else "")
        if i == 0 or not (kind in (SHT_PROGBITS, SHT_NOBITS) or flags & SHF_ALLOC):
            continue
        if flags & SHF_ALLOC and addr + size > 1 << 32:
            r.fail(f"section {names[i]} at 0x{addr:08x}+{size} wraps past 4 GiB")
        data = b"" if kind == SHT_NOBITS else r.span(f"section {names[i]}", off, size)
        flag_text = "".join(c for c, bit in (("a", SHF_ALLOC), ("w", SHF_WRITE),
                                             ("x", SHF_EXECINSTR)) if flags & bit)
        sections.append(ElfSection(names[i], addr, data, size,
                                   "nobits" if kind == SHT_NOBITS else "progbits", flag_text))
    return sections, names


def _read_symbols(r: _Reader, shdrs, names):
    symbols = []
    for _, kind, _, _, off, size, link, _, _, entsize in shdrs:
        if kind != SHT_SYMTAB:
            continue
        if link >= len(shdrs) or shdrs[link][1] != SHT_STRTAB:
            r.fail(f"symbol table links to section {link}, not a string table")
        strtab = r.span("symbol string table", shdrs[link][4], shdrs[link][5])
        count = size // entsize if entsize else 0
        if entsize and size % entsize:
            r.fail(f"symbol table size {size} is not a multiple of {entsize}")
        for name, value, sym_size, info, _other, shndx in r.table(
                "symbol", off, count, entsize or SYM.size, SYM)[1:]:
            if shndx == SHN_ABS:
                section = None
            elif shndx == SHN_UNDEF or shndx >= SHN_LORESERVE:
                continue                             # undefined or common: no address here
            elif shndx < len(names):
                section = names[shndx]
            else:
                r.fail(f"symbol refers to section {shndx} of {len(names)}")
            symbols.append(Symbol(r.string(strtab, name, "symbol"), value, sym_size,
                                  BINDINGS.get(info >> 4, "other"), section,
                                  TYPES.get(info & 0xF, "other")))
    return symbols


def _read_uleb(r: _Reader, data: bytes, at: int):
    value = shift = 0
    while True:
        if at >= len(data):
            r.fail(f"{ATTRIBUTES}: truncated number")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _read_attributes(r: _Reader, shdrs) -> dict:
    """{"arch": ..., "priv_spec": "major.minor[.revision]"} from .riscv.attributes (only the
    "riscv" vendor's Tag_file; other vendors' subsections are skipped)."""
    tags = {}
    for _, kind, _, _, off, size, *_ in shdrs:
        if kind != SHT_RISCV_ATTRIBUTES:
            continue
        data = r.span(ATTRIBUTES, off, size)
        if data[:1] != b"A":
            r.fail(f"{ATTRIBUTES}: unknown format {data[:1]!r}")
        at = 1
        while at + 4 <= len(data):
            length = int.from_bytes(data[at:at + 4], "little")
            if length < 5 or at + length > len(data):
                r.fail(f"{ATTRIBUTES}: bad subsection length {length}")
            sub, at = data[at + 4:at + length], at + length
            vendor, _, rest = sub.partition(b"\0")
            if vendor == b"riscv" and rest[:1] == bytes((TAG_FILE,)):
                tags.update(_read_tags(r, rest[5:5 + int.from_bytes(rest[1:5], "little")]))
    found = {}
    if isinstance(tags.get(TAG_ARCH), str):
        found["arch"] = tags[TAG_ARCH]
    if TAG_PRIV_SPEC in tags:
        spec = [tags[TAG_PRIV_SPEC], tags.get(TAG_PRIV_SPEC_MINOR, 0)]
        spec += [tags[TAG_PRIV_SPEC_REVISION]] if tags.get(TAG_PRIV_SPEC_REVISION) else []
        found["priv_spec"] = ".".join(map(str, spec))
    return found


def _read_tags(r: _Reader, data: bytes) -> dict:
    tags, at = {}, 0
    while at < len(data):
        tag, at = _read_uleb(r, data, at)
        if tag % 2:                                 # odd tags: a NUL-terminated string
            end = data.find(b"\0", at)
            if end < 0:
                r.fail(f"{ATTRIBUTES}: unterminated string of tag {tag}")
            tags[tag], at = data[at:end].decode("utf-8", "replace"), end + 1
        else:
            tags[tag], at = _read_uleb(r, data, at)
    return tags


def is_mapping_symbol(name: str) -> bool:
    """psABI mapping symbols mark where code ("$x", "$xrv32i2p1...") or data ("$d") starts
    inside a section; they are not program names (objdump never prints them as labels)."""
    return name in ("$x", "$d") or name.startswith("$xrv")


def _symbol_map(symbols) -> dict[str, int]:
    """Name -> value for named code/data symbols; a global (or weak) one wins over a local.
    Section, file and mapping symbols are not program names."""
    table = {}
    for sym in sorted(symbols, key=lambda s: s.binding != "local"):
        if sym.name and sym.type not in ("section", "file") and not is_mapping_symbol(sym.name):
            table[sym.name] = sym.value
    return table


def read_elf(data: bytes, name: str = "<elf>") -> ElfImage:
    """Parse an RV32 executable. Raises ElfError (one line, prefixed by `name`) for anything
    that is not a well-formed little-endian ELF32 RISC-V executable."""
    r = _Reader(bytes(data), name)
    _check_ident(r)
    (_, e_type, machine, _, entry, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
     shstrndx) = EHDR.unpack_from(r.data)
    if machine != EM_RISCV:
        r.fail(f"not a RISC-V ELF (machine {machine})")
    if e_type != ET_EXEC:
        r.fail(f"ELF type {e_type} is not an executable (ET_EXEC); link it first"
               if e_type == ET_REL else f"ELF type {e_type} is not an executable (ET_EXEC)")
    if shnum == 0 and shoff or shstrndx == SHN_XINDEX:
        r.fail("extended section numbering is not supported")
    phdrs = r.table("program header", phoff, phnum, phentsize, PHDR)
    shdrs = r.table("section header", shoff, shnum, shentsize, SHDR)
    segments = _read_segments(r, phdrs)
    sections, names = _read_sections(r, shdrs, shstrndx)
    symbols = _read_symbols(r, shdrs, names)
    return ElfImage(entry, segments, sections, _symbol_map(symbols), symbols,
                    _read_attributes(r, shdrs))


def load_elf_file(path) -> ElfImage:
    """read_elf on a file; an unreadable file (a FIFO, a device, too big) is an ElfError too."""
    try:
        data = read_input(path, MAX_FILE)
    except InputFileError as e:
        raise ElfError(f"{path}: {e}") from None
    return read_elf(data, str(path))

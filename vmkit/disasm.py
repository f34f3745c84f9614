"""The disassembler: machine words back to assembly text, exactly as GNU objdump prints it.

Everything comes from the one instruction table (`vmkit.isa`): `decode` picks the first
matching row (aliases first, so ``addi a0,zero,5`` reads as ``li a0,5``), and the row's
operand string gives the order and the punctuation. This module only knows how each kind of
operand is *written*, following binutils 2.40 `opcodes/riscv-dis.c`:

* registers by ABI name, CSRs by name (or hex if unnamed under the chosen privileged spec);
* I/S-immediates and load/store offsets in decimal, lui/auipc immediates and shift amounts
  in 0x-hex, branch and jump targets as absolute hex addresses with ``<symbol+0xoff>``;
* like objdump, an address that an instruction computes is shown as a comment: a load, store
  or ``addi`` based on ``zero``, ``tp``, ``gp`` (when ``__global_pointer$`` is known), or on a
  register just set by ``lui``/``auipc`` (the ``la``/``call`` pairs) gets ``# addr <symbol>``.

A word no row matches is printed as objdump 2.40 prints it: ``.4byte 0x...``.
(On x86 the same job is done by ``objdump -d`` with the i386 tables; the idea is identical.)
"""

from bisect import bisect_right

from .elf import is_mapping_symbol
from .isa import ABI_NAMES, csr_name, decode, free_bits
from .isa.fields import FIELDS, PC_RELATIVE, fence_set_text
from .isa.instructions import ADDI, AUIPC, JALR, LUI, M_I, M_OPCODE

GP, TP = 3, 4
# The privileged spec objdump 2.40 names CSRs by when a file's .riscv.attributes gives none
# (or there is no file): the newest it knows. So `csrr a0,0x310` reads "csrr a0,mstatush".
DEFAULT_PRIV_SPEC = "1.12"
GP_SYMBOL = "__global_pointer$"          # psABI: the linker sets gp to this symbol's value


class _Symbols:
    """Address -> ``<name+0xoff>`` lookup, the way objdump's find_symbol_for_address works:
    the nearest symbol at or below the address, else the lowest one (``<name-0xoff>``)."""

    def __init__(self, symbols: dict[int, str] | None):
        self.by_addr = dict(sorted((symbols or {}).items()))
        self.addrs = list(self.by_addr)

    def describe(self, addr: int) -> str:
        """``addr`` in hex without leading zeros, plus `` <symbol+0xoff>`` when known."""
        text = f"{addr:x}"
        if not self.addrs:
            return text
        base = self.addrs[max(bisect_right(self.addrs, addr) - 1, 0)]
        name = self.by_addr[base]
        if addr > base:
            name += f"+0x{addr - base:x}"
        elif addr < base:
            name += f"-0x{base - addr:x}"
        return f"{text} <{name}>"


class Disassembler:
    """One objdump session. Besides the symbols it carries objdump's ``hi_addr``: the value
    each register got from its last lui/auipc, kept until an instruction uses that register
    as a base, which is how ``auipc a0,..; addi a0,a0,..`` earns ``# address <symbol>``."""

    def __init__(self, symbols: dict[int, str] | None, priv_spec: str):
        self.symbols = _Symbols(symbols)
        self.gp = next((a for a, n in (symbols or {}).items() if n == GP_SYMBOL), None)
        self.priv_spec = priv_spec
        self.hi_addr = [None] * 32
        self.address = None            # the address the current instruction computes, if known

    def note_address(self, base: int, offset: int):
        """objdump's maybe_print_address: remember `offset(base)` if its value is known."""
        if self.hi_addr[base] is not None:
            self.address = (self.hi_addr[base] if base else 0) + offset
            self.hi_addr[base] = None
        elif base == GP and self.gp is not None:
            self.address = self.gp + offset
        elif base in (TP, 0):
            self.address = offset

    def track(self, row, letter: str, ops: dict, pc: int):
        """What objdump learns from printing operand `letter` (riscv-dis.c print_insn_args):
        lui/auipc set hi_addr[rd]; loads, stores, jalr and addi (rs1 != zero) use it."""
        value, rs1 = ops[letter], ops.get("s", 0)
        jalr = row.match & M_I == JALR
        if letter == "d" and row.match & M_OPCODE in (LUI, AUIPC):
            upper = ops["u"] << 12
            self.hi_addr[value] = (upper + pc if row.match & M_OPCODE == AUIPC else upper)
        if letter == "s" and jalr:
            self.note_address(rs1, ops.get("o", 0))
        if letter in "oq":
            self.note_address(rs1, value)
        if letter in "oj" and (jalr or row.match & M_I == ADDI and rs1 != 0):
            self.note_address(rs1, value)

    def text(self, letter: str, value: int, pc: int) -> str:
        """Operand `letter` written the way objdump writes it."""
        kind = FIELDS[letter].kind
        if kind == "reg":
            return ABI_NAMES[value]
        if kind == "csr":
            return csr_name(value, self.priv_spec)
        if kind == "fence":
            return fence_set_text(value) if value else "unknown"    # objdump's empty set
        if letter in PC_RELATIVE:
            return self.symbols.describe((pc + value) & 0xFFFFFFFF)
        if letter in "u>":
            return f"0x{value:x}"
        return str(value)

    def word(self, word: int, pc: int) -> str:
        row, ops = decode(word)
        # objdump's masks are exact: it refuses words whose ignored bits are set (a fence
        # with rd != 0, say), which a hart executes (RISC-V says to ignore those fields).
        if row is None or word & free_bits(row):
            return f".4byte\t0x{word:x}"
        self.address = None
        parts = []
        for c in row.operands:
            if c in FIELDS:
                self.track(row, c, ops, pc)
                parts.append(self.text(c, ops[c], pc))
            else:
                parts.append(c)
        line = row.name + ("\t" + "".join(parts) if parts else "")
        if self.address is not None:
            line += " # " + self.symbols.describe(self.address & 0xFFFFFFFF)
        return line


def disassemble_word(word: int, pc: int = 0, symbols: dict[int, str] | None = None,
                     priv_spec: str = DEFAULT_PRIV_SPEC) -> str:
    """One 32-bit instruction word as objdump prints it: ``"mnemonic\\toperands"``.

    ``pc`` is the word's address (for branch targets), ``symbols`` maps addresses to names,
    ``priv_spec`` picks which CSR names exist: "1.12" (objdump's choice for code that records
    no spec, and what vmkit's ELF files record) or "1.11" (what GNU as records by default).
    """
    return Disassembler(symbols, priv_spec).word(word & 0xFFFFFFFF, pc)


# --------------------------------------------------------------------------------------------
# Whole-program listing, laid out like `objdump -d`
# --------------------------------------------------------------------------------------------

def _is_label(sym) -> bool:
    """Symbols objdump may name addresses after: named, not section/file/mapping symbols."""
    return sym.name and sym.type not in ("section", "file") and not is_mapping_symbol(sym.name)


def _preference(sym, section: str):
    """objdump's order among symbols with the same value (compare_symbols): this section's
    first, functions, then objects, global before weak before local, bigger first, names not
    starting with '.' first, then by name."""
    binding = {"global": 0, "weak": 1}.get(sym.binding, 2)
    return (sym.section != section, sym.name.endswith((".o", ".a")), sym.type != "func",
            sym.type != "object", binding, -sym.size, sym.name.startswith("."), sym.name)


def _names(symbols, section: str) -> dict[int, str]:
    """Address -> the one name objdump shows for it while disassembling `section`."""
    best = {}
    for sym in sorted(symbols, key=lambda s: _preference(s, section)):
        best.setdefault(sym.value, sym.name)
    return best


def _mapping(image, section) -> list[tuple[int, bool]]:
    """[(address, is_data)] from the mapping symbols in `section`, in address order."""
    return sorted((s.value, s.name == "$d") for s in image.symbol_list
                  if s.section == section.name and is_mapping_symbol(s.name))


def _address_width(section) -> int:
    """objdump drops leading groups of four zero digits that the section's end address does
    not need: a .text at 0 prints "   0:", one at 0x80000000 "80000000:"."""
    end = f"{section.addr + section.size:08x}"
    skip = 0
    while end[skip:skip + 4] == "0000" and skip + 4 < len(end):
        skip += 4
    return len(end) - skip


# objdump.c DEFAULT_SKIP_ZEROES and DEFAULT_SKIP_ZEROES_AT_END: a run of at least 8 zero
# bytes, or of fewer than 3 that ends where the next symbol (or the section end) starts, is
# printed as one "\t..." line (unless objdump -z).
SKIP_ZEROES, SKIP_ZEROES_AT_END = 8, 3
OCTETS_PER_LINE = 8         # objdump shows at most 8 bytes of an instruction on one line


def _zero_skip(data, offset, stop) -> int:
    """How many zero bytes objdump skips at `offset` (0: none), looking no further than
    `stop`. Before more non-zero bytes it skips whole words only, so as not to swallow the
    start of an instruction that happens to begin with a zero byte."""
    end = offset
    while end < stop and data[end] == 0:
        end += 1
    run = end - offset
    if end == stop and 0 < run < SKIP_ZEROES_AT_END or run >= SKIP_ZEROES:
        return run if end == stop else run & ~3
    return 0


def insn_length(parcel: int) -> int:
    """Length in bytes of the instruction whose first 16 bits are `parcel`, by the base
    ISA's length encoding (Volume I, "Expanded Instruction-Length Encoding"; binutils
    riscv_insn_length): low bits 11 mean 32 bits, anything else is a 16-bit parcel."""
    if parcel & 0x3 != 0x3:
        return 2
    if parcel & 0x1F != 0x1F:
        return 4
    if parcel & 0x3F == 0x1F:
        return 6
    if parcel & 0x7F == 0x3F:
        return 8
    if parcel & 0x7F == 0x7F and parcel & 0x7000 != 0x7000:
        return 10 + (parcel >> 11 & 0xE)
    return 2                                    # reserved >= 192-bit encodings: objdump's 2


def _unknown(raw: bytes) -> str:
    """What objdump 2.40 prints for bytes no instruction of vmkit's ISA decodes."""
    if len(raw) in (2, 4, 8):
        return f".{len(raw)}byte\t0x{int.from_bytes(raw, 'little'):x}"
    return ".byte\t" + ", ".join(f"0x{b:02x}" for b in raw)


# How objdump writes a data item (between "$d" and the next mapping symbol) of each size.
DATA_FORMATS = {1: ".byte\t0x{:02x}", 2: ".short\t0x{:04x}", 4: ".word\t0x{:08x}"}


def _data_length(addr, marks, end) -> int:
    """riscv-dis.c riscv_data_length: 4 bytes, fewer before the next mapping symbol or the
    section end, and 2 for 3."""
    limit = next((at for at, _ in marks if at > addr), end)
    length = min(4, limit - addr, end - addr)
    return 2 if length == 3 else length


def _insn_lines(addr, raw, text, width, chunk=None) -> list[str]:
    """objdump's "addr:\tbytes\ttext" line(s): the bytes in chunks of `chunk` (for an
    instruction 4 if its length is a multiple of 4, else 2), at most 8 bytes on a line (6
    for a one-byte data item: riscv-dis.c sets bytes_per_line so), the rest on continuation
    lines."""
    chunk = chunk or (4 if len(raw) % 4 == 0 else 2)
    cells = [f"{int.from_bytes(raw[i:i + chunk], 'little'):0{2 * chunk}x} "
             for i in range(0, len(raw), chunk)]
    per_line = (6 if chunk == 1 else OCTETS_PER_LINE) // chunk
    column = per_line * (2 * chunk + 1)
    lines = [f"{addr:{width}x}:\t{''.join(cells[:per_line]):{column}}\t{text}"]
    for i in range(per_line, len(cells), per_line):
        lines.append(f"{addr + i * chunk:{width}x}:\t{''.join(cells[i:i + per_line])}")
    return lines


def _section_listing(image, section, session) -> list[str]:
    labels = [s for s in image.symbol_list if _is_label(s)]
    # Operand addresses may name any symbol; with none at all objdump counts from the section.
    session.symbols = _Symbols(_names(labels, section.name) or {section.addr: section.name})
    own = _Symbols(_names([s for s in labels if s.section == section.name], section.name))
    # objdump disassembles from one symbol to the next; a run of zeros ends at a symbol.
    stops = sorted(a - section.addr for a in own.by_addr
                   if section.addr < a < section.addr + section.size) + [section.size]
    marks = _mapping(image, section)
    width = _address_width(section)
    data = section.data
    lines = [f"Disassembly of section {section.name}:"]
    offset = 0
    while offset < section.size:
        addr = section.addr + offset
        if offset == 0:
            label = own.describe(addr).partition(" ")[2] or f"<{section.name}>"
            lines += ["", f"{addr:08x} {label}:"]
        elif addr in own.by_addr:
            lines += ["", f"{addr:08x} <{own.by_addr[addr]}>:"]
        skip = _zero_skip(data, offset, next(s for s in stops if s > offset))
        if skip:
            lines.append("\t...")
            offset += skip
            continue
        if next((is_data for at, is_data in reversed(marks) if at <= addr), False):
            length = _data_length(addr, marks, section.addr + section.size)
            raw = data[offset:offset + length]
            text = DATA_FORMATS[length].format(int.from_bytes(raw, "little"))
            lines += _insn_lines(addr, raw, text, width, length)
            offset += length
            continue
        length = min(insn_length(int.from_bytes(data[offset:offset + 2], "little")),
                     section.size - offset)
        raw = data[offset:offset + length]
        text = session.word(int.from_bytes(raw, "little"), addr) if length == 4 \
            else _unknown(raw)
        lines += _insn_lines(addr, raw, text, width)
        offset += length
    return lines


def disassemble(image, priv_spec: str | None = None) -> str:
    """A listing of every executable section of `image` (an ElfImage) like ``objdump -d``:
    "Disassembly of section .text:", ``<label>:`` lines and ``addr:\\tword\\ttext`` lines.

    CSR names follow `priv_spec` if given (objdump's ``-M priv-spec=``), else the file's
    Tag_RISCV_priv_spec, else objdump's default.

    One session runs over all sections, so (as in objdump) a lui/auipc value can still be
    waiting when the next section starts."""
    priv_spec = priv_spec or image.attributes.get("priv_spec", DEFAULT_PRIV_SPEC)
    session = Disassembler(None, priv_spec)
    session.gp = image.symbols.get(GP_SYMBOL)
    lines = []
    for section in image.sections:
        if "x" in section.flags and section.kind == "progbits" and section.size >= 4:
            if lines:
                lines.append("")
            lines += _section_listing(image, section, session)
    return "\n".join(lines) + "\n"

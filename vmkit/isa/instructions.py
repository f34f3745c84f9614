"""The one table of RV32 instructions vmkit knows: decode, encode and disassembly all read it.

Each row is (name, operands, match, mask, extension, alias):

* a word *is* this instruction when ``word & mask == match``;
* ``operands`` is the assembly syntax, one letter per field (see `fields.py`), with the
  punctuation written literally: ``"d,o(s)"`` is ``lw a0,8(sp)``;
* ``alias`` rows are the spellings objdump prefers and the assembler accepts (``mv`` is
  ``addi rd,rs,0``). Rows are tried in order and the first match wins, so an alias stands
  *before* the instruction it abbreviates, and the most specific alias first (``ret`` before
  ``jr`` before ``jalr``). Assembler-only spellings (``bgt``) stand *after* it, so the
  disassembler never picks them.

Pseudo-instructions that expand to several instructions (``li`` with a large constant, ``la``,
``call``, ``tail``) are not rows: they live in the assembler, which builds them from rows here.

Sources: The RISC-V Instruction Set Manual, Volume I (unprivileged, 20191213) chapter 24
"RV32/64G Instruction Set Listings", Volume II (privileged, 20211203) for SYSTEM and the
H extension; aliases and operand order as GNU binutils 2.40 `objdump -d` prints them.
"""

from typing import NamedTuple

from .fields import FIELDS


class Instruction(NamedTuple):
    name: str
    operands: str
    match: int
    mask: int
    extension: str
    alias: bool = False

    def fields(self):
        """The operand letters in assembly order (``"d,o(s)"`` -> ``"dos"``)."""
        return [c for c in self.operands if c in FIELDS]


# Major opcodes (inst[6:0]), Volume I table 24.1.
LOAD, MISC_MEM, OP_IMM, AUIPC, STORE, AMO, OP, LUI = 0x03, 0x0F, 0x13, 0x17, 0x23, 0x2F, 0x33, 0x37
BRANCH, JALR, JAL, SYSTEM = 0x63, 0x67, 0x6F, 0x73

# Masks of the fixed fields.
M_OPCODE, M_FUNCT3, M_FUNCT7 = 0x7F, 0x7000, 0xFE000000
M_RD, M_RS1, M_RS2, M_IMM = 0xF80, 0xF8000, 0x1F00000, 0xFFF00000
M_I = M_OPCODE | M_FUNCT3                     # opcode + funct3
M_R = M_I | M_FUNCT7                          # opcode + funct3 + funct7


def _f3(op, f3):
    return op | f3 << 12


def _r(op, f3, f7):
    return op | f3 << 12 | f7 << 25


def _imm(value):
    return (value & 0xFFF) << 20


def _reg(value, at):
    return value << at


# Base words reused by the aliases below.
ADDI, ANDI, XORI, SLTIU = _f3(OP_IMM, 0), _f3(OP_IMM, 7), _f3(OP_IMM, 4), _f3(OP_IMM, 3)
SUB, SLT, SLTU = _r(OP, 0, 0x20), _r(OP, 2, 0), _r(OP, 3, 0)
BEQ, BNE, BLT, BGE, BLTU, BGEU = (_f3(BRANCH, f) for f in (0, 1, 4, 5, 6, 7))
CSRRW, CSRRS, CSRRC, CSRRWI, CSRRSI, CSRRCI = (_f3(SYSTEM, f) for f in (1, 2, 3, 5, 6, 7))
RA = 1

_I, _M, _A, _CSR, _FENCEI, _PRIV, _H = "i", "m", "a", "zicsr", "zifencei", "priv", "h"


def _rows():
    rows = []

    def add(name, operands, match, mask, ext=_I, alias=False):
        rows.append(Instruction(name, operands, match, mask, ext, alias))

    def alias(name, operands, match, mask, ext=_I):
        add(name, operands, match, mask, ext, alias=True)

    # --- RV32I: upper immediates and jumps ---------------------------------------------------
    add("lui", "d,u", LUI, M_OPCODE)
    add("auipc", "d,u", AUIPC, M_OPCODE)
    alias("j", "a", JAL, M_OPCODE | M_RD)
    alias("jal", "a", JAL | _reg(RA, 7), M_OPCODE | M_RD)
    add("jal", "d,a", JAL, M_OPCODE)
    jalr = _f3(JALR, 0)
    alias("ret", "", jalr | _reg(RA, 15), M_I | M_RD | M_RS1 | M_IMM)
    alias("jr", "s", jalr, M_I | M_RD | M_IMM)
    alias("jr", "o(s)", jalr, M_I | M_RD)
    alias("jalr", "s", jalr | _reg(RA, 7), M_I | M_RD | M_IMM)
    alias("jalr", "o(s)", jalr | _reg(RA, 7), M_I | M_RD)
    alias("jalr", "d,s", jalr, M_I | M_IMM)
    add("jalr", "d,o(s)", jalr, M_I)
    # GNU as also accepts "jalr rd,rs1,imm", "jalr rs1,imm" and "jr rs1,imm": assembler-only
    # spellings, so they stand after the rows objdump uses and the disassembler never picks
    # them.
    alias("jalr", "d,s,j", jalr, M_I)
    alias("jalr", "s,j", jalr | _reg(RA, 7), M_I | M_RD)
    alias("jr", "s,j", jalr, M_I | M_RD)

    # --- branches: the zero-comparing aliases first, then the six, then swapped spellings ---
    alias("beqz", "s,p", BEQ, M_I | M_RS2)
    alias("bnez", "s,p", BNE, M_I | M_RS2)
    alias("blez", "t,p", BGE, M_I | M_RS1)
    alias("bgez", "s,p", BGE, M_I | M_RS2)
    alias("bltz", "s,p", BLT, M_I | M_RS2)
    alias("bgtz", "t,p", BLT, M_I | M_RS1)
    for name, match in (("beq", BEQ), ("bne", BNE), ("blt", BLT), ("bge", BGE),
                        ("bltu", BLTU), ("bgeu", BGEU)):
        add(name, "s,t,p", match, M_I)
    for name, match in (("bgt", BLT), ("ble", BGE), ("bgtu", BLTU), ("bleu", BGEU)):
        alias(name, "t,s,p", match, M_I)          # operands swapped: bgt a,b = blt b,a

    # --- loads and stores --------------------------------------------------------------------
    for name, f3 in (("lb", 0), ("lh", 1), ("lw", 2), ("lbu", 4), ("lhu", 5)):
        add(name, "d,o(s)", _f3(LOAD, f3), M_I)
    for name, f3 in (("sb", 0), ("sh", 1), ("sw", 2)):
        add(name, "t,q(s)", _f3(STORE, f3), M_I)

    # --- register-immediate ------------------------------------------------------------------
    alias("nop", "", ADDI, M_I | M_RD | M_RS1 | M_IMM)
    alias("li", "d,j", ADDI, M_I | M_RS1)
    alias("mv", "d,s", ADDI, M_I | M_IMM)
    alias("move", "d,s", ADDI, M_I | M_IMM)                      # old spelling of mv
    # binutils 2.40 also lists "add/xor/or/and rd,rs,imm" as aliases of addi/xori/ori/andi and
    # objdump prints them (not slti/sltiu); kept, like sll below, to match it word for word.
    alias("add", "d,s,j", ADDI, M_I)
    add("addi", "d,s,j", ADDI, M_I)
    add("slti", "d,s,j", _f3(OP_IMM, 2), M_I)
    alias("slt", "d,s,j", _f3(OP_IMM, 2), M_I)                  # assembler-only, like sgt
    alias("seqz", "d,s", SLTIU | _imm(1), M_I | M_IMM)
    add("sltiu", "d,s,j", SLTIU, M_I)
    alias("sltu", "d,s,j", SLTIU, M_I)
    alias("not", "d,s", XORI | _imm(-1), M_I | M_IMM)
    alias("xor", "d,s,j", XORI, M_I)
    add("xori", "d,s,j", XORI, M_I)
    alias("or", "d,s,j", _f3(OP_IMM, 6), M_I)
    add("ori", "d,s,j", _f3(OP_IMM, 6), M_I)
    alias("zext.b", "d,s", ANDI | _imm(255), M_I | M_IMM)
    alias("and", "d,s,j", ANDI, M_I)
    add("andi", "d,s,j", ANDI, M_I)
    # binutils 2.40 lists "sll/srl/sra rd,rs,shamt" as aliases of the immediate shifts and
    # objdump prints them; we keep its spelling so our disassembly matches it word for word.
    for name, f3, f7 in (("sll", 1, 0), ("srl", 5, 0), ("sra", 5, 0x20)):
        alias(name, "d,s,>", _r(OP_IMM, f3, f7), M_R)
    for name, f3, f7 in (("slli", 1, 0), ("srli", 5, 0), ("srai", 5, 0x20)):
        add(name, "d,s,>", _r(OP_IMM, f3, f7), M_R)

    # --- register-register -------------------------------------------------------------------
    add("add", "d,s,t", _r(OP, 0, 0), M_R)
    alias("neg", "d,t", SUB, M_R | M_RS1)
    add("sub", "d,s,t", SUB, M_R)
    add("sll", "d,s,t", _r(OP, 1, 0), M_R)
    alias("sltz", "d,s", SLT, M_R | M_RS2)
    alias("sgtz", "d,t", SLT, M_R | M_RS1)
    add("slt", "d,s,t", SLT, M_R)
    alias("sgt", "d,t,s", SLT, M_R)               # operands swapped: sgt a,b,c = slt a,c,b
    alias("snez", "d,t", SLTU, M_R | M_RS1)
    add("sltu", "d,s,t", SLTU, M_R)
    alias("sgtu", "d,t,s", SLTU, M_R)
    add("xor", "d,s,t", _r(OP, 4, 0), M_R)
    add("srl", "d,s,t", _r(OP, 5, 0), M_R)
    add("sra", "d,s,t", _r(OP, 5, 0x20), M_R)
    add("or", "d,s,t", _r(OP, 6, 0), M_R)
    add("and", "d,s,t", _r(OP, 7, 0), M_R)

    # --- fences (Zifencei for fence.i) ---------------------------------------------------------
    fence = _f3(MISC_MEM, 0)
    alias("fence", "", fence | 0xFF << 20, 0xFFFFFFFF)             # fence iorw,iorw
    alias("fence.tso", "", fence | 0x833 << 20, 0xFFFFFFFF)   # fm=1000; runs as fence rw,rw
    add("fence", "P,Q", fence, M_I)
    add("fence.i", "", _f3(MISC_MEM, 1), M_I, _FENCEI)

    # --- environment and privileged instructions (Volume II) ----------------------------------
    def system(funct12, rs2=0, f7=None):
        return SYSTEM | (funct12 << 20 if f7 is None else f7 << 25 | rs2 << 20)

    add("ecall", "", system(0x000), 0xFFFFFFFF)
    alias("scall", "", system(0x000), 0xFFFFFFFF)             # pre-1.10 spellings
    add("ebreak", "", system(0x001), 0xFFFFFFFF)
    alias("sbreak", "", system(0x001), 0xFFFFFFFF)
    add("sret", "", system(0x102), 0xFFFFFFFF, _PRIV)
    add("mret", "", system(0x302), 0xFFFFFFFF, _PRIV)
    add("wfi", "", system(0x105), 0xFFFFFFFF, _PRIV)
    for name, f7, ext in (("sfence.vma", 0x09, _PRIV), ("hfence.vvma", 0x11, _H),
                          ("hfence.gvma", 0x31, _H)):
        match = SYSTEM | f7 << 25
        alias(name, "", match, M_R | M_RD | M_RS1 | M_RS2, ext)
        alias(name, "s", match, M_R | M_RD | M_RS2, ext)
        add(name, "s,t", match, M_R | M_RD, ext)

    # --- hypervisor virtual-machine loads and stores (H extension, funct3 = 4) ---------------
    hlsv = _f3(SYSTEM, 4)
    for name, f7, rs2 in (("hlv.b", 0x30, 0), ("hlv.bu", 0x30, 1), ("hlv.h", 0x32, 0),
                          ("hlv.hu", 0x32, 1), ("hlvx.hu", 0x32, 3), ("hlv.w", 0x34, 0),
                          ("hlvx.wu", 0x34, 3)):
        add(name, "d,(s)", hlsv | f7 << 25 | rs2 << 20, M_R | M_RS2, _H)
    for name, f7 in (("hsv.b", 0x31), ("hsv.h", 0x33), ("hsv.w", 0x35)):
        add(name, "t,(s)", hlsv | f7 << 25, M_R | M_RD, _H)

    # --- Zicsr: counter reads and the short forms first --------------------------------------
    alias("unimp", "", CSRRW | _imm(0xC00), 0xFFFFFFFF, _CSR)       # csrrw zero,cycle,zero
    for name, csr in (("rdcycle", 0xC00), ("rdtime", 0xC01), ("rdinstret", 0xC02),
                      ("rdcycleh", 0xC80), ("rdtimeh", 0xC81), ("rdinstreth", 0xC82)):
        alias(name, "d", CSRRS | _imm(csr), M_I | M_IMM | M_RS1, _CSR)
    alias("csrr", "d,E", CSRRS, M_I | M_RS1, _CSR)
    for short, match in (("csrw", CSRRW), ("csrs", CSRRS), ("csrc", CSRRC)):
        alias(short, "E,s", match, M_I | M_RD, _CSR)
    # objdump spells csrrwi zero,csr,imm as "csrw csr,imm" too (not csrwi).
    for short, match in (("csrw", CSRRWI), ("csrs", CSRRSI), ("csrc", CSRRCI)):
        alias(short, "E,Z", match, M_I | M_RD, _CSR)
    for name, match in (("csrrw", CSRRW), ("csrrs", CSRRS), ("csrrc", CSRRC)):
        add(name, "d,E,s", match, M_I, _CSR)
    # ... and csrrwi rd,csr,imm as "csrrw rd,csr,imm" (binutils 2.40 lists that alias first).
    for name, match in (("csrrw", CSRRWI), ("csrrs", CSRRSI), ("csrrc", CSRRCI)):
        alias(name, "d,E,Z", match, M_I, _CSR)
    for name, match in (("csrrwi", CSRRWI), ("csrrsi", CSRRSI), ("csrrci", CSRRCI)):
        add(name, "d,E,Z", match, M_I, _CSR)
    for short, match in (("csrwi", CSRRWI), ("csrsi", CSRRSI), ("csrci", CSRRCI)):
        alias(short, "E,Z", match, M_I | M_RD, _CSR)               # assembler-only spelling

    # --- M extension --------------------------------------------------------------------------
    for f3, name in enumerate(("mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu")):
        add(name, "d,s,t", _r(OP, f3, 1), M_R, _M)

    # --- A extension: each AMO in four orderings (.aq sets bit 26, .rl bit 25) ----------------
    amo_w = _f3(AMO, 2)
    for suffix, bits in (("", 0), (".aq", 2), (".rl", 1), (".aqrl", 3)):
        ordering = bits << 25
        add("lr.w" + suffix, "d,(s)", amo_w | 0x02 << 27 | ordering,
            M_R | M_RS2, _A)
        add("sc.w" + suffix, "d,t,(s)", amo_w | 0x03 << 27 | ordering, M_R, _A)
        for name, funct5 in (("amoswap", 0x01), ("amoadd", 0x00), ("amoxor", 0x04),
                             ("amoand", 0x0C), ("amoor", 0x08), ("amomin", 0x10),
                             ("amomax", 0x14), ("amominu", 0x18), ("amomaxu", 0x1C)):
            add(f"{name}.w{suffix}", "d,t,(s)", amo_w | funct5 << 27 | ordering, M_R, _A)

    return tuple(rows)


INSTRUCTIONS = _rows()

# The instructions a hart executes: every row that is not an alias, one per distinct name.
BASE = tuple(i for i in INSTRUCTIONS if not i.alias)

# Rows by mnemonic, in table order, for the assembler (a name may have several syntaxes).
BY_NAME = {}
for _row in INSTRUCTIONS:
    BY_NAME.setdefault(_row.name, []).append(_row)
del _row

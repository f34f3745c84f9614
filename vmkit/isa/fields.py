"""Operand fields of RV32 instruction words: where each operand's bits live.

Every instruction in `instructions.py` names its operands with one letter per field (the same
letters GNU binutils uses in `riscv-opc.c`, so a reader who knows one knows the other):

    d  rd            s  rs1           t  rs2
    j  I-immediate   o  I-immediate used as a load/jalr offset "o(s)"
    q  S-immediate (store offset)     p  B-immediate (branch target, pc-relative)
    a  J-immediate (jal target, pc-relative)
    u  U-immediate (upper 20 bits)    >  shift amount (5 bits)
    E  CSR number (12 bits)           Z  5-bit unsigned immediate in the rs1 field (csrr*i)
    P  fence predecessor set          Q  fence successor set

An immediate is scattered over the word in pieces; `Field.pieces` lists them as
(high bit of the value, low bit of the value, low bit in the word). Encoding and decoding both
walk the same list, so they cannot disagree.
"""

from typing import NamedTuple


class Field(NamedTuple):
    letter: str
    kind: str                      # 'reg', 'imm', 'csr', 'fence'
    pieces: tuple                  # ((value_hi, value_lo, word_lo), ...)
    bits: int                      # width of the value
    signed: bool = False
    align: int = 1                 # the value must be a multiple of this (branch/jump offsets)

    def decode(self, word: int) -> int:
        value = 0
        for hi, lo, at in self.pieces:
            width = hi - lo + 1
            value |= ((word >> at) & ((1 << width) - 1)) << lo
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def encode(self, value: int) -> int:
        """Place `value` in the word; the caller has checked the range with `fits`."""
        value &= (1 << self.bits) - 1
        word = 0
        for hi, lo, at in self.pieces:
            width = hi - lo + 1
            word |= ((value >> lo) & ((1 << width) - 1)) << at
        return word

    def mask(self) -> int:
        return self.encode(-1)

    def fits(self, value: int) -> bool:
        if value % self.align:
            return False
        if self.signed:
            return -(1 << (self.bits - 1)) <= value < (1 << (self.bits - 1))
        return 0 <= value < (1 << self.bits)

    def range_text(self) -> str:
        if self.signed:
            lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        else:
            lo, hi = 0, (1 << self.bits) - 1
        text = f"{lo}..{hi}"
        return text + (f", a multiple of {self.align}" if self.align > 1 else "")


def _reg(letter, at):
    return Field(letter, "reg", ((4, 0, at),), 5)


_I_IMM = ((11, 0, 20),)
_S_IMM = ((11, 5, 25), (4, 0, 7))
_B_IMM = ((12, 12, 31), (10, 5, 25), (4, 1, 8), (11, 11, 7))
_J_IMM = ((20, 20, 31), (10, 1, 21), (11, 11, 20), (19, 12, 12))

FIELDS = {f.letter: f for f in (
    _reg("d", 7), _reg("s", 15), _reg("t", 20),
    Field("j", "imm", _I_IMM, 12, signed=True),
    Field("o", "imm", _I_IMM, 12, signed=True),
    Field("q", "imm", _S_IMM, 12, signed=True),
    Field("p", "imm", _B_IMM, 13, signed=True, align=2),
    Field("a", "imm", _J_IMM, 21, signed=True, align=2),
    Field("u", "imm", ((19, 0, 12),), 20),
    Field(">", "imm", ((4, 0, 20),), 5),
    Field("E", "csr", ((11, 0, 20),), 12),
    Field("Z", "imm", ((4, 0, 15),), 5),
    Field("P", "fence", ((3, 0, 24),), 4),
    Field("Q", "fence", ((3, 0, 20),), 4),
)}

# Fields whose value is an address relative to the instruction (shown as a target address).
PC_RELATIVE = frozenset("pa")

# Integer register names: ABI names as objdump prints them, x-names accepted by the assembler.
ABI_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2",
             "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
             "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7",
             "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6")

REGISTERS = {name: i for i, name in enumerate(ABI_NAMES)}
REGISTERS.update({f"x{i}": i for i in range(32)})
REGISTERS["fp"] = 8

# Fence sets: bit 3..0 = i, o, r, w.
FENCE_BITS = "iorw"


def fence_set_text(value: int) -> str:
    return "".join(c for i, c in enumerate(FENCE_BITS) if value & (8 >> i)) or "0"


def parse_fence_set(text: str):
    """'rw' -> 3; None for anything else. As in GNU as (binutils riscv_pred_succ), only the
    letters i, o, r, w in that order, and no empty set: "wr" and "0" are refused."""
    return _FENCE_SETS.get(text)


_FENCE_SETS = {fence_set_text(value): value for value in range(1, 16)}

"""What each unprivileged instruction does: RV32I, M and A, as small closures.

The hart decodes a word once (with the table in `vmkit.isa`) and asks `make(row, operands)`
here for a closure ``step(pc) -> next_pc`` with the operands baked in. Executing an instruction
is then one call. This is the "predecoded closure" design of TinyEMU-style interpreters: the
readable reference path. The fast path (blocks.py) compiles whole blocks from the same ALU and
branch expressions below.

SYSTEM instructions (CSR access, ecall/ebreak, xRET, wfi, fences of the MMU, HLV/HSV) are not
here: they touch privileged state and live in `system.py`. Their closure only says "leave the
fast loop" (`SERIALIZE`), like a serializing instruction draining a pipeline.

Source: RISC-V unprivileged spec 20191213, chapters 2 (RV32I), 7 (M), 8 (A).
"""

import re

from .trap import INSTRUCTION_MISALIGNED, Trap

MASK = 0xFFFFFFFF


class Serialize(Exception):
    """Raised by a SYSTEM instruction's closure: the hart executes it outside the fast loop."""


SERIALIZE = Serialize()


def make(hart, row, ops):
    """A closure executing one instruction described by table row `row` with operands `ops`."""
    maker = MAKERS.get(row.name)
    if maker is None:
        return None
    return maker(hart, hart.x, ops.get("d", 0), ops.get("s", 0), ops.get("t", 0), ops)


def _jump_target_check(target):
    # Without the C extension instructions are 4-byte aligned (IALIGN=32): a jump or taken
    # branch to a misaligned target raises the exception on the jump itself.
    if target & 3:
        raise Trap(INSTRUCTION_MISALIGNED, target)
    return target


def _nop(pc):
    return pc + 4


# --- upper immediates, jumps, branches ---------------------------------------------------------

def _lui(h, x, rd, rs1, rs2, ops):
    value = (ops["u"] << 12) & MASK
    if rd == 0:
        return _nop

    def lui(pc):
        x[rd] = value
        return pc + 4
    return lui


def _auipc(h, x, rd, rs1, rs2, ops):
    offset = ops["u"] << 12
    if rd == 0:
        return _nop

    def auipc(pc):
        x[rd] = (pc + offset) & MASK
        return pc + 4
    return auipc


def _jal(h, x, rd, rs1, rs2, ops):
    offset = ops["a"]

    def jal(pc):
        target = (pc + offset) & MASK
        if target & 3:
            _jump_target_check(target)
        if rd:
            x[rd] = (pc + 4) & MASK
        return target
    return jal


def _jalr(h, x, rd, rs1, rs2, ops):
    offset = ops["o"]

    def jalr(pc):
        target = (x[rs1] + offset) & 0xFFFFFFFE      # the spec clears bit 0
        if target & 3:
            _jump_target_check(target)
        if rd:
            x[rd] = (pc + 4) & MASK
        return target
    return jalr


def _branch(condition):
    """A branch closure; `condition` is Python source over a and b (unsigned words)."""
    source = f"""
def make(x, rs1, rs2, offset, check):
    def branch(pc):
        a = x[rs1]
        b = x[rs2]
        if {condition}:
            target = (pc + offset) & 0xFFFFFFFF
            if target & 3:
                check(target)
            return target
        return pc + 4
    return branch
"""
    namespace = {}
    exec(source, namespace)        # one small function per condition, no call inside
    make_branch = namespace["make"]

    def maker(h, x, rd, rs1, rs2, ops):
        return make_branch(x, rs1, rs2, ops["p"], _jump_target_check)
    return maker


# Signed comparison of two unsigned words: flip the sign bits, then compare unsigned.
BRANCHES = {
    "beq": "a == b", "bne": "a != b",
    "blt": "a ^ 0x80000000 < b ^ 0x80000000", "bge": "a ^ 0x80000000 >= b ^ 0x80000000",
    "bltu": "a < b", "bgeu": "a >= b",
}


# --- loads and stores: the hart does translation, PMP and devices --------------------------------

def _load(size, signed):
    sign_bit = 1 << (8 * size - 1)
    extend = (1 << 32) - (1 << (8 * size))

    def maker(h, x, rd, rs1, rs2, ops):
        offset = ops["o"]
        load = h.load

        if signed and size < 4:
            def load_signed(pc):
                value = load((x[rs1] + offset) & MASK, size)
                if rd:
                    x[rd] = value | extend if value & sign_bit else value
                return pc + 4
            return load_signed

        def load_unsigned(pc):
            value = load((x[rs1] + offset) & MASK, size)
            if rd:
                x[rd] = value
            return pc + 4
        return load_unsigned
    return maker


def _store(size):
    def maker(h, x, rd, rs1, rs2, ops):
        offset = ops["q"]
        store = h.store
        value_mask = (1 << (8 * size)) - 1

        def store_(pc):
            store((x[rs1] + offset) & MASK, size, x[rs2] & value_mask)
            return pc + 4
        return store_
    return maker


# --- integer computation -----------------------------------------------------------------------

def _alu(expression, immediate):
    """An ALU closure computing `expression` over a = x[rs1] and b = x[rs2] or the immediate.

    The expression is written once, as Python, and compiled into the closure with a and b
    replaced by the register reads, so executing an add is one function call: this is where
    the reference interpreter spends its time.
    """
    body = re.sub(r"\ba\b", "x[rs1]", expression)
    body = re.sub(r"\bb\b", "imm" if immediate else "x[rs2]", body)
    source = f"""
def make(x, rd, rs1, rs2, imm):
    def alu(pc):
        x[rd] = ({body}) & 0xFFFFFFFF
        return pc + 4
    return alu
"""
    namespace = {"_signed": _signed, "_div": _div, "_rem": _rem}
    exec(source, namespace)
    make_alu = namespace["make"]

    def maker(h, x, rd, rs1, rs2, ops):
        if rd == 0:
            return _nop              # writes to x0 are discarded; ALU ops have no side effect
        return make_alu(x, rd, rs1, rs2, ops.get("j", ops.get(">", 0)))
    return maker


def _signed(v):
    return v - (1 << 32) if v & 0x80000000 else v


def _div(a, b):
    # Division by zero gives -1; the one overflow case (-2**31 / -1) gives -2**31 (spec 7.2).
    a, b = _signed(a), _signed(b)
    if b == 0:
        return -1
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _rem(a, b):
    a, b = _signed(a), _signed(b)
    if b == 0:
        return a
    r = abs(a) % abs(b)
    return -r if a < 0 else r


# Each ALU instruction's result, as Python over unsigned 32-bit a and b (spec chapters 2, 7).
ALU = {
    "add": "a + b", "sub": "a - b", "xor": "a ^ b", "or": "a | b", "and": "a & b",
    "sll": "a << (b & 31)", "srl": "a >> (b & 31)", "sra": "_signed(a) >> (b & 31)",
    "slt": "int(a ^ 0x80000000 < (b & 0xFFFFFFFF) ^ 0x80000000)",
    "sltu": "int(a < (b & 0xFFFFFFFF))",
    "mul": "a * b", "mulh": "(_signed(a) * _signed(b)) >> 32",
    "mulhsu": "(_signed(a) * b) >> 32", "mulhu": "(a * b) >> 32",
    "div": "_div(a, b)", "divu": "a // b if b else 0xFFFFFFFF",
    "rem": "_rem(a, b)", "remu": "a % b if b else a",
}
IMMEDIATE_FORMS = {"addi": "add", "slti": "slt", "sltiu": "sltu", "xori": "xor", "ori": "or",
                   "andi": "and", "slli": "sll", "srli": "srl", "srai": "sra"}


# --- A extension -------------------------------------------------------------------------------

def _lr(h, x, rd, rs1, rs2, ops):
    def lr(pc):
        value = h.load_reserved(x[rs1])
        if rd:
            x[rd] = value
        return pc + 4
    return lr


def _sc(h, x, rd, rs1, rs2, ops):
    def sc(pc):
        failed = h.store_conditional(x[rs1], x[rs2])
        if rd:
            x[rd] = failed
        return pc + 4
    return sc


def _amo(compute):
    def maker(h, x, rd, rs1, rs2, ops):
        def amo(pc):
            old = h.amo(x[rs1], lambda mem: compute(mem, x[rs2]) & MASK)
            if rd:
                x[rd] = old
            return pc + 4
        amo.__name__ = compute.__name__
        return amo
    return maker


def _swap(mem, reg): return reg
def _add(a, b): return a + b
def _xor(a, b): return a ^ b
def _or(a, b): return a | b
def _and(a, b): return a & b
def _min(a, b): return a if _signed(a) < _signed(b) else b
def _max(a, b): return a if _signed(a) > _signed(b) else b
def _minu(a, b): return min(a, b)
def _maxu(a, b): return max(a, b)


def _fence(h, x, rd, rs1, rs2, ops):
    return _nop          # one hart, memory is always coherent: fence orders nothing here


def _serialize(h, x, rd, rs1, rs2, ops):
    def system(pc):
        raise SERIALIZE
    return system


MAKERS = {
    "lui": _lui, "auipc": _auipc, "jal": _jal, "jalr": _jalr,
    "lb": _load(1, True), "lh": _load(2, True), "lw": _load(4, False),
    "lbu": _load(1, False), "lhu": _load(2, False),
    "sb": _store(1), "sh": _store(2), "sw": _store(4),
    "fence": _fence,            # fence.tso is an alias of a fence (the table decodes it so)
}
MAKERS.update({name: _branch(condition) for name, condition in BRANCHES.items()})
MAKERS.update({name: _alu(expression, False) for name, expression in ALU.items()})
MAKERS.update({name: _alu(ALU[base], True) for name, base in IMMEDIATE_FORMS.items()})

for _suffix in ("", ".aq", ".rl", ".aqrl"):
    MAKERS["lr.w" + _suffix] = _lr
    MAKERS["sc.w" + _suffix] = _sc
    for _name, _compute in (("amoswap", _swap), ("amoadd", _add), ("amoxor", _xor),
                            ("amoand", _and), ("amoor", _or), ("amomin", _min),
                            ("amomax", _max), ("amominu", _minu), ("amomaxu", _maxu)):
        MAKERS[f"{_name}.w{_suffix}"] = _amo(_compute)

# Everything in the SYSTEM opcode, plus fence.i, leaves the fast loop (see system.py).
SERIALIZING = ("fence.i", "ecall", "ebreak", "sret", "mret", "wfi", "sfence.vma",
               "hfence.vvma", "hfence.gvma", "hlv.b", "hlv.bu", "hlv.h", "hlv.hu", "hlvx.hu",
               "hlv.w", "hlvx.wu", "hsv.b", "hsv.h", "hsv.w", "csrrw", "csrrs", "csrrc",
               "csrrwi", "csrrsi", "csrrci")
for _name in SERIALIZING:
    MAKERS[_name] = _serialize

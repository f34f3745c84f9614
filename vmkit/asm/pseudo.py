"""Pseudo-instructions that expand to more than one instruction, as GNU as 2.40 expands them.

Single-instruction aliases (``mv``, ``j``, ``ret``, ``li a0, 5``) are rows of the instruction
table; only these multi-instruction expansions are code. Each is built from table rows:

    li rd, C        lui rd, %hi(C) ; addi rd, rd, %lo(C)   (no addi when the low 12 bits are 0;
                    a single addi is the table row "li d,j" when C fits in 12 bits)
    la / lla rd, S  auipc rd, %pcrel_hi(S) ; addi rd, rd, %pcrel_lo(1b)   (non-PIC;
                    of a constant known at this point: the same as li)
    call S          auipc ra, %pcrel_hi(S) ; jalr ra, %pcrel_lo(1b)(ra)
    call rd, S      auipc t1, %pcrel_hi(S) ; jalr rd, %pcrel_lo(1b)(t1)   (t1 even for ra)
    tail S          auipc t1, %pcrel_hi(S) ; jalr zero, %pcrel_lo(1b)(t1)
    jump S, rt      auipc rt, %pcrel_hi(S) ; jalr zero, %pcrel_lo(1b)(rt)
                    (call, tail and call rd also take ``S@plt``: a static program has no PLT)
    lw rd, S        auipc rd, %pcrel_hi(S) ; lw rd, %pcrel_lo(1b)(rd)       (also lb, lh, ...)
    sw rs, S, rt    auipc rt, %pcrel_hi(S) ; sw rs, %pcrel_lo(1b)(rt)       (also sb, sh)
    sext.b rd, rs   slli rd, rs, 24 ; srai rd, rd, 24     (Zbb has one instruction for it;
    sext.h rd, rs   slli rd, rs, 16 ; srai rd, rd, 16      without Zbb GNU as 2.40 expands
    zext.h rd, rs   slli rd, rs, 16 ; srli rd, rd, 16      these to two shifts)

(The x86 analogue: ``mov eax, imm32`` is one instruction there; RISC-V's 32-bit words cannot
hold a 32-bit constant, hence lui + addi.) Each function returns False when the operands are
not its form, so the caller reports the table's own error instead.
"""

from vmkit.isa import BY_NAME, REGISTERS, encode

from .errors import LineError

RA, T1, ZERO = REGISTERS["ra"], REGISTERS["t1"], REGISTERS["zero"]


def _row(name, syntax):
    return next(r for r in BY_NAME[name] if r.operands == syntax)


LUI, AUIPC, ADDI, JALR = _row("lui", "d,u"), _row("auipc", "d,u"), _row("addi", "d,s,j"), \
    _row("jalr", "d,o(s)")
SLLI, SRLI, SRAI = _row("slli", "d,s,>"), _row("srli", "d,s,>"), _row("srai", "d,s,>")


def li(asm, ops):
    if len(ops) != 2 or ops[0][1] not in REGISTERS:
        return False
    rd, (col, text) = REGISTERS[ops[0][1]], ops[1]
    value = asm.value_now(asm.parse(text, col))
    if value is None:
        raise LineError(col, f"li needs a constant known at this point, not '{text}' "
                             "(use la for an address)")
    if not -(1 << 31) <= value < (1 << 32):
        raise LineError(col, f"value {value} does not fit in 32 bits")
    _load_constant(asm, rd, value)
    return True


def _load_constant(asm, rd, value):
    value = ((value & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000    # RV32: 0xffffffff is -1
    lo = ((value & 0xFFF) ^ 0x800) - 0x800
    if value == lo:
        asm.emit_word(encode(ADDI, {"d": rd, "s": ZERO, "j": lo}))
        return
    asm.emit_word(encode(LUI, {"d": rd, "u": ((value - lo) >> 12) & 0xFFFFF}))
    if lo:
        asm.emit_word(encode(ADDI, {"d": rd, "s": rd, "j": lo}))


def _pcrel_pair(asm, auipc_rd, target, second_row, operands):
    """auipc auipc_rd, %pcrel_hi(target) then `second_row` with %pcrel_lo of that auipc."""
    col, text = target
    node = asm.parse(text, col)
    anchor = asm.here()
    asm.emit_word(encode(AUIPC, {"d": auipc_rd, "u": 0}), [("u", "pcrel_hi", node, col)])
    letter = "q" if "q" in second_row.operands else "o" if "o" in second_row.operands else "j"
    asm.emit_word(encode(second_row, dict(operands, **{letter: 0})),
                  [(letter, "pcrel_lo", anchor, col)])
    return True


def la(asm, ops):
    if len(ops) != 2 or ops[0][1] not in REGISTERS or ops[1][1] in REGISTERS:
        return False
    rd = REGISTERS[ops[0][1]]
    if _is_constant(asm, ops[1]):                   # la of a number is li (GNU as does so)
        return li(asm, ops)
    return _pcrel_pair(asm, rd, ops[1], ADDI, {"d": rd, "s": rd})


def _target(operand):
    """A call target, without the ``@plt`` GNU as allows after it (there is no PLT here:
    the call goes straight to the symbol, as GNU ld resolves it in a static program)."""
    col, text = operand
    if text.endswith("@plt"):
        text = text[:-len("@plt")].rstrip()
    return col, text


def call(asm, ops):
    # call rd, symbol: binutils 2.40 riscv-opc.c fixes the auipc register of the "d,c" form
    # to t1 (X_T1), whatever rd is; plain "call symbol" uses ra for both.
    if len(ops) == 2 and ops[0][1] in REGISTERS:
        rd, base, ops = REGISTERS[ops[0][1]], T1, ops[1:]
    else:
        rd = base = RA
    if len(ops) != 1 or ops[0][1] in REGISTERS:
        return False
    return _pcrel_pair(asm, base, _target(ops[0]), JALR, {"d": rd, "s": base})


def tail(asm, ops):
    if len(ops) != 1 or ops[0][1] in REGISTERS:
        return False
    return _pcrel_pair(asm, T1, _target(ops[0]), JALR, {"d": ZERO, "s": T1})


def jump(asm, ops):
    if len(ops) != 2 or ops[0][1] in REGISTERS or ops[1][1] not in REGISTERS:
        return False
    rt = REGISTERS[ops[1][1]]
    return _pcrel_pair(asm, rt, ops[0], JALR, {"d": ZERO, "s": rt})


def shift_pair(left, right, amount):
    """sext.b / sext.h / zext.h: shift the byte or half to the top, then back down."""
    def extend(asm, ops):
        if len(ops) != 2 or any(text not in REGISTERS for _, text in ops):
            return False
        rd, rs = REGISTERS[ops[0][1]], REGISTERS[ops[1][1]]
        asm.emit_word(encode(left, {"d": rd, "s": rs, ">": amount}))
        asm.emit_word(encode(right, {"d": rd, "s": rd, ">": amount}))
        return True
    return extend


def _is_constant(asm, operand):
    """``lw a0, 8`` is not the symbol form (GNU as: illegal operands)."""
    return asm.value_now(asm.parse(operand[1], operand[0])) is not None


def load_symbol(name):
    row = _row(name, "d,o(s)")

    def load(asm, ops):
        if len(ops) != 2 or ops[0][1] not in REGISTERS or "(" in ops[1][1] \
                or _is_constant(asm, ops[1]):
            return False
        rd = REGISTERS[ops[0][1]]
        return _pcrel_pair(asm, rd, ops[1], row, {"d": rd, "s": rd})
    return load


def store_symbol(name):
    row = _row(name, "t,q(s)")

    def store(asm, ops):
        if len(ops) != 3 or ops[0][1] not in REGISTERS or ops[2][1] not in REGISTERS \
                or _is_constant(asm, ops[1]):
            return False
        rt = REGISTERS[ops[2][1]]
        return _pcrel_pair(asm, rt, ops[1], row, {"t": REGISTERS[ops[0][1]], "s": rt})
    return store


# What each pseudo-instruction takes, for error messages.
USAGE = {"li": "rd,constant", "la": "rd,symbol", "lla": "rd,symbol",
         "call": "symbol or rd,symbol", "tail": "symbol", "jump": "symbol,rt"}
USAGE.update({n: "rd,rs1" for n in ("sext.b", "sext.h", "zext.h")})
USAGE.update({n: "rd,symbol" for n in ("lb", "lh", "lw", "lbu", "lhu")})
USAGE.update({n: "rs2,symbol,rt" for n in ("sb", "sh", "sw")})

PSEUDOS = {"li": li, "la": la, "lla": la, "call": call, "tail": tail, "jump": jump,
           "sext.b": shift_pair(SLLI, SRAI, 24), "sext.h": shift_pair(SLLI, SRAI, 16),
           "zext.h": shift_pair(SLLI, SRLI, 16)}
PSEUDOS.update({n: load_symbol(n) for n in ("lb", "lh", "lw", "lbu", "lhu")})
PSEUDOS.update({n: store_symbol(n) for n in ("sb", "sh", "sw")})

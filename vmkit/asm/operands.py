"""Operands against a table row: does ``lw a0, 8(sp)`` fit the syntax ``d,o(s)``?

Each row of `vmkit.isa.instructions` spells its syntax with field letters (see
`vmkit/isa/fields.py`). `match_row` parses the operand texts against one row and returns the
word with every operand known now already encoded, plus the *fixups* that must wait for
pass 2 (branch targets, ``%hi``/``%lo``/``%pcrel_*`` of labels).

The rules follow GNU as 2.40 (riscv_ip): an immediate without a ``%`` operator must be a
constant known at this point and must fit, otherwise the row does not match and the next row
is tried (this is how ``li a0, 5`` is an ``addi`` but ``li a0, 0x12345`` is not).
"""

import re

from vmkit.isa import CSR_NUMBERS, FIELDS, REGISTERS
from vmkit.isa.fields import parse_fence_set

from .errors import LineError

_PERCENT_RE = re.compile(r"%(hi|lo|pcrel_hi|pcrel_lo)\s*\(")
_PERCENT_OK = {"j": ("lo", "pcrel_lo"), "o": ("lo", "pcrel_lo"), "q": ("lo", "pcrel_lo"),
               "u": ("hi", "pcrel_hi")}
# How the syntax letters read in an error message.
_NAMES = {"d": "rd", "s": "rs1", "t": "rs2", "j": "imm", "o": "offset", "q": "offset",
          "p": "label", "a": "label", "u": "imm20", ">": "shamt", "E": "csr", "Z": "uimm5",
          "P": "pred", "Q": "succ"}


class Mismatch(Exception):
    """The operands do not fit this row; `score` ranks how close they came."""

    def __init__(self, score, col, message):
        super().__init__(message)
        self.score, self.col, self.message = score, col, message


_SPLIT_CACHE = {}


def syntax_parts(syntax: str):
    """``"d,o(s)"`` -> ``["d", "o(s)"]`` (cached: rows are matched many times)."""
    parts = _SPLIT_CACHE.get(syntax)
    if parts is None:
        parts = _SPLIT_CACHE[syntax] = syntax.split(",") if syntax else []
    return parts


def syntax_text(syntax: str) -> str:
    """The syntax as a reader understands it: ``"d,o(s)"`` -> ``"rd,offset(rs1)"``."""
    return "".join(_NAMES.get(c, c) for c in syntax) or "no operands"


def match_row(row, operands, env):
    """Fit `operands` ([(col, text)]) to `row`: (word, fixups) or raise `Mismatch`.

    fixups are (letter, how, node, col) with how in "pcrel", "hi", "lo", "pcrel_hi",
    "pcrel_lo"; `env` parses expressions (``parse(text, col)``, ``value_now(node)``).
    """
    parts = syntax_parts(row.operands)
    if len(parts) != len(operands):
        raise Mismatch(-1, operands[0][0] if operands else 0,
                       f"expected {syntax_text(row.operands)}")
    word, fixups = row.match, []
    for score, (part, (col, text)) in enumerate(zip(parts, operands)):
        if len(part) == 1:
            word |= _field(part, text, col, env, fixups, score)
            continue
        # "o(s)", "q(s)" or "(s)": an optional offset, then a base register in parentheses.
        offset, base, base_col = _split_base(text, col, score)
        word |= FIELDS["s"].encode(_register(base, base_col, score))
        if part[0] != "(":
            word |= _field(part[0], offset or "0", col, env, fixups, score)
        elif offset and env.value_now(env.parse(offset, col)) != 0:
            raise Mismatch(score, col, "this instruction takes no offset, only (register)")
    return word, fixups


def _split_base(text, col, score):
    if not text.endswith(")"):
        raise Mismatch(score, col, f"expected offset(register), got '{text}'")
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            inner = text[i + 1:-1]
            return text[:i].strip(), inner.strip(), col + i + 1 + len(inner) - len(inner.lstrip())
    raise Mismatch(score, col, "unbalanced parentheses")


def _register(text, col, score):
    number = REGISTERS.get(text)
    if number is None:
        raise Mismatch(score, col, f"'{text}' is not a register")
    return number


def _field(letter, text, col, env, fixups, score):
    field = FIELDS[letter]
    if field.kind == "reg":
        return field.encode(_register(text, col, score))
    if field.kind == "fence":
        value = parse_fence_set(text)
        if value is None:
            raise Mismatch(score, col, f"'{text}' is not a fence set (some of the letters "
                                       "i, o, r, w, in that order)")
        return field.encode(value)
    if field.kind == "csr" and text in CSR_NUMBERS:
        return field.encode(CSR_NUMBERS[text])
    if text in REGISTERS:
        raise Mismatch(score, col, f"expected {_NAMES[letter]}, got register '{text}'")
    if text.startswith("%"):
        return _percent(letter, text, col, env, fixups, score)
    node = env.parse(text, col)
    if letter in "pa":                                  # a target address, known in pass 2
        fixups.append((letter, "pcrel", node, col))
        return 0
    value = env.value_now(node)
    if value is None:
        if field.kind == "csr":
            raise Mismatch(score, col, f"unknown CSR '{text}'")
        raise Mismatch(score, col, f"'{text}' is not a constant known at this point")
    if not field.fits(value):
        raise Mismatch(score + 0.5, col, f"{_NAMES[letter]} {value} out of range "
                                         f"({field.range_text()})")
    return field.encode(value)


def _percent(letter, text, col, env, fixups, score):
    m = _PERCENT_RE.match(text)
    if not m or not text.endswith(")"):
        raise Mismatch(score, col, f"bad relocation operator in '{text}' "
                                   "(expected %hi, %lo, %pcrel_hi or %pcrel_lo)")
    how = m.group(1)
    if how not in _PERCENT_OK.get(letter, ()):
        raise Mismatch(score + 0.5, col, f"%{how} cannot be used for {_NAMES[letter]}")
    fixups.append((letter, how, env.parse(text[m.end():-1], col + m.end()), col))
    return 0


def fixup_value(letter, how, value, pc, pcrel_hi_at, col):
    """The field value of a fixup once `value` (the expression) is known, checked to fit."""
    field = FIELDS[letter]
    if how == "pcrel":
        value -= pc
        if not field.fits(value):
            kind = "branch" if letter == "p" else "jump"
            raise LineError(col, f"{kind} target out of range: offset {value} "
                                 f"({field.range_text()})")
        return value
    if how == "pcrel_hi":
        value -= pc
    elif how == "pcrel_lo":
        if value not in pcrel_hi_at:
            raise LineError(col, f"%pcrel_lo: no %pcrel_hi instruction at {value:#x}")
        value = pcrel_hi_at[value]
    if how in ("hi", "pcrel_hi"):
        return ((value + 0x800) >> 12) & 0xFFFFF
    return ((value & 0xFFF) ^ 0x800) - 0x800                   # the sign-extended low 12 bits

"""Decode a 32-bit word into (row, operands) and encode it back, straight from the table.

    >>> row, ops = decode(0x00A12423)          # sw a0,8(sp)
    >>> row.name, ops
    ('sw', {'t': 10, 'q': 8, 's': 2})
    >>> hex(encode(row, ops))
    '0xa12423'
"""

from .fields import FIELDS
from .instructions import BASE, INSTRUCTIONS, Instruction


def _by_opcode(rows):
    index = {}
    for row in rows:
        index.setdefault(row.match & 0x7F, []).append(row)
    return index


_ALL_BY_OPCODE = _by_opcode(INSTRUCTIONS)
_BASE_BY_OPCODE = _by_opcode(BASE)


def decode(word: int, aliases: bool = True):
    """The first table row matching `word` and its operand values, or (None, None).

    With ``aliases=False`` only real instructions are considered (what a hart executes);
    with aliases the preferred spelling is returned (what objdump prints).
    """
    index = _ALL_BY_OPCODE if aliases else _BASE_BY_OPCODE
    for row in index.get(word & 0x7F, ()):
        if word & row.mask == row.match:
            return row, {c: FIELDS[c].decode(word) for c in row.fields()}
    return None, None


def encode(row: Instruction, operands: dict) -> int:
    """The word for `row` with `operands` (letter -> value); values must already fit."""
    word = row.match
    for letter in row.fields():
        word |= FIELDS[letter].encode(operands[letter])
    return word


def free_bits(row: Instruction) -> int:
    """Bits of a word of `row` that are neither fixed by its mask nor owned by an operand.

    Non-zero only for rows whose encoding ignores bits (for example the fm and rs1/rd bits of
    ``fence``); the property tests use it to know which words round-trip exactly.
    """
    owned = row.mask
    for letter in row.fields():
        owned |= FIELDS[letter].mask()
    return ~owned & 0xFFFFFFFF

"""Properties of the instruction and CSR tables (vmkit.isa), checked with hypothesis.

The tables are data, so their consistency is checked as data: encoding and decoding are
inverse, an alias means what the instruction it abbreviates means, and no word is claimed by
two real instructions. (Agreement with GNU binutils is tests/test_disasm.py's job.)
"""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmkit.isa import BASE, CSRS, FIELDS, INSTRUCTIONS, csr_name, decode, encode, free_bits


def operand_values(row):
    """A strategy for a dict of in-range values, one per operand field of `row`."""
    def field_values(letter):
        f = FIELDS[letter]
        lo = -(1 << (f.bits - 1)) if f.signed else 0
        return st.integers(lo, lo + (1 << f.bits) - 1).map(lambda v: v - v % f.align)
    return st.fixed_dictionaries({c: field_values(c) for c in row.fields()})


def base_row_of(row):
    """The real instruction an alias abbreviates: the first non-alias row its fixed bits
    select (for a real instruction, itself)."""
    return next(b for b in BASE if row.match & b.mask == b.match and row.mask & b.mask == b.mask)


@pytest.mark.parametrize("row", INSTRUCTIONS, ids=lambda r: f"{r.name}:{r.operands}")
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_encode_then_decode(row, data):
    ops = data.draw(operand_values(row))
    word = encode(row, ops)
    assert word & row.mask == row.match                     # the row owns its own words
    base, base_ops = decode(word, aliases=False)
    # Same semantics: the hart sees the instruction the alias stands for ...
    assert base is base_row_of(row) and not base.alias
    # ... with the same operand values (an alias only fixes some fields of the base row).
    # Letters may differ for the same bits ("j" and "o" are both the I-immediate).
    by_bits = {FIELDS[c].mask(): v for c, v in base_ops.items()}
    assert {c: by_bits[FIELDS[c].mask()] for c in row.fields()} == ops
    # And whatever spelling objdump would pick re-encodes to the same word.
    shown, shown_ops = decode(word)
    assert encode(shown, shown_ops) == word


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_decode_then_encode_gives_the_word_back(word):
    for aliases in (True, False):
        row, ops = decode(word, aliases)
        if row is not None:
            # Bits the row neither fixes nor owns (fence's fm/rs1/rd) are not kept.
            assert encode(row, ops) == word & ~free_bits(row)


def test_free_bits_only_where_the_spec_ignores_fields():
    # Volume I 2.7: FENCE ignores rd, rs1 and unknown fm values; fence.i ignores imm/rs1/rd.
    assert {row.name for row in INSTRUCTIONS if free_bits(row)} == {"fence", "fence.i"}


def test_no_word_belongs_to_two_real_instructions():
    # Two (match, mask) pairs share a word exactly when they agree on the bits both fix.
    clashes = [(a.name, b.name) for a, b in itertools.combinations(BASE, 2)
               if (a.match ^ b.match) & a.mask & b.mask == 0]
    assert clashes == []


def test_csr_names_and_numbers_are_unique():
    names = [c.name for c in CSRS]
    numbers = [c.number for c in CSRS]
    assert len(set(names)) == len(names)
    assert len(set(numbers)) == len(numbers)
    assert all(0 <= n < 4096 for n in numbers)


def test_csr_name_follows_the_privileged_spec():
    # mstatush came with spec 1.12; ustatus (N extension) left with it.
    assert csr_name(0x310, "1.11") == "0x310" and csr_name(0x310, "1.12") == "mstatush"
    assert csr_name(0x000, "1.11") == "ustatus" and csr_name(0x000, "1.12") == "0x0"
    assert csr_name(0x300) == "mstatus" and csr_name(0x7C0) == "0x7c0"

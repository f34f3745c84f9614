"""The RISC-V RV32 instruction set as data: one instruction table, one CSR table.

* `instructions.INSTRUCTIONS` - every instruction and alias: name, operand syntax, match/mask.
* `fields.FIELDS` - where each operand's bits live in the word.
* `csrs.CSRS` - CSR names and numbers.
* `codec.decode` / `codec.encode` - words <-> (row, operands), derived from the tables.

The assembler (`vmkit.asm`), the disassembler (`vmkit.disasm`) and the hart (`vmkit.hw`) all
read these tables; nothing else in vmkit lists instructions.
"""

from .codec import decode, encode, free_bits
from .csrs import CSR_BY_NUMBER, CSR_NUMBERS, CSRS, csr_name
from .fields import ABI_NAMES, FIELDS, REGISTERS
from .instructions import BASE, BY_NAME, INSTRUCTIONS, Instruction

__all__ = [
    "ABI_NAMES", "BASE", "BY_NAME", "CSRS", "CSR_BY_NUMBER", "CSR_NUMBERS", "FIELDS",
    "INSTRUCTIONS", "Instruction", "REGISTERS", "csr_name", "decode", "encode", "free_bits",
]

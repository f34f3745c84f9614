"""Assembler directives: sections, symbols, data, alignment, options, include, macros.

Each handler takes (assembler, operand text, column of the operand text). The names and
meanings are GNU as's (``info as``, "Assembler Directives" and "RISC-V Directives"); note
that on RISC-V ``.align n`` aligns to 2**n bytes, like ``.p2align`` (x86 GNU as: n bytes).
Conditionals (``.if`` ...) are handled by the assembler itself, since they decide which
lines are read at all.
"""

import re

from .attributes import arch_has_h, attribute_directive
from .errors import LineError
from .lexer import SYMBOL_RE, parse_string, split_operands
from .macros import substitute
from .sections import padding, section_kind

_DATA_SIZES = {".byte": 1, ".half": 2, ".short": 2, ".2byte": 2, ".word": 4, ".long": 4,
               ".int": 4, ".4byte": 4, ".quad": 8, ".dword": 8, ".8byte": 8}
MAX_REPEAT = 1_000_000


def _constant(asm, text, col, what):
    value = asm.value_now(asm.parse(text, col))
    if value is None:
        raise LineError(col, f"{what} must be a constant known at this point")
    return value


def _operands(text, col, low, high, name):
    ops = split_operands(text, col)
    if not low <= len(ops) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise LineError(col, f"{name} takes {expected} operand{'s' * (high != 1)}, "
                             f"got {len(ops)}")
    return ops


def _symbol(name, col):
    if not SYMBOL_RE.match(name):
        raise LineError(col, f"'{name}' is not a symbol name")
    return name


# ---- sections ---------------------------------------------------------------------------

def _simple_section(name, kind):
    def handler(asm, text, col):
        if text.strip() and text.strip() != "0":
            raise LineError(col, f"subsections ({name} {text.strip()}) are not supported")
        asm.switch_section(name, kind)
    return handler


def _section_args(text, col):
    ops = _operands(text, col, 1, 4, ".section")
    (ncol, name) = ops[0]
    if name.startswith('"'):
        name = parse_string(name, ncol).decode()
    flags = parse_string(ops[1][1], ops[1][0]).decode() if len(ops) > 1 else None
    nobits = len(ops) > 2 and ops[2][1].lstrip("@%") == "nobits"
    kind = section_kind(name, flags, nobits)
    if kind is None:
        raise LineError(ncol, f"cannot tell what section '{name}' holds: give flags, "
                              f'.section {name},"ax" for code or "aw" for data')
    return name, kind


def section(asm, text, col):
    asm.switch_section(*_section_args(text, col))


def pushsection(asm, text, col):
    asm.section_stack.append((asm.chunk, asm.previous))
    section(asm, text, col)


def popsection(asm, text, col):
    if not asm.section_stack:
        raise LineError(col, ".popsection without .pushsection")
    asm.chunk, asm.previous = asm.section_stack.pop()


def previous(asm, text, col):
    asm.chunk, asm.previous = asm.previous, asm.chunk


# ---- symbols ----------------------------------------------------------------------------

def globl(asm, text, col):
    for c, name in split_operands(text, col):
        asm.globals.add(_symbol(name, c))


def equ(redefine):
    def handler(asm, text, col):
        ops = split_operands(text, col)
        if len(ops) != 2:
            raise LineError(col, "expected: symbol, expression")
        (ncol, name), (ecol, _) = ops
        comma = text.index(",")
        asm.set_symbol(_symbol(name, ncol), text[comma + 1:], col + comma + 1, ncol, redefine)
    return handler


def ignore(asm, text, col):
    """Directives gcc emits for debuggers and linkers (.type, .size, .file, ...)."""


# ---- data -------------------------------------------------------------------------------

def data(size):
    def handler(asm, text, col):
        for c, item in split_operands(text, col):
            asm.emit_value(size, asm.parse(item, c), c)
    return handler


def strings(terminator):
    def handler(asm, text, col):
        for c, item in split_operands(text, col):
            asm.emit_bytes(parse_string(item, c) + terminator, c)
    return handler


def space(asm, text, col):
    ops = _operands(text, col, 1, 2, ".space")
    size = _constant(asm, ops[0][1], ops[0][0], "the size")
    fill = _constant(asm, ops[1][1], ops[1][0], "the fill value") if len(ops) > 1 else 0
    if size < 0:
        raise LineError(ops[0][0], f"negative size {size}")
    asm.check_room(size, ops[0][0])
    asm.emit_bytes(bytes([fill & 0xFF]) * size, col)


def fill(asm, text, col):
    ops = _operands(text, col, 1, 3, ".fill")
    repeat = _constant(asm, ops[0][1], ops[0][0], "the repeat count")
    size = _constant(asm, ops[1][1], ops[1][0], "the size") if len(ops) > 1 else 1
    value = _constant(asm, ops[2][1], ops[2][0], "the value") if len(ops) > 2 else 0
    if repeat < 0 or not 0 <= size <= 8:
        raise LineError(col, ".fill needs repeat >= 0 and size 0..8")
    item = (value & 0xFFFFFFFF).to_bytes(8, "little")[:size]    # GNU as: at most 4 value bytes
    asm.check_room(repeat * size, col)
    asm.emit_bytes(item * repeat, col)


# ---- alignment --------------------------------------------------------------------------

def align(power_of_two):
    def handler(asm, text, col):
        ops = _operands(text, col, 1, 3, ".align")
        n = _constant(asm, ops[0][1], ops[0][0], "the alignment")
        if power_of_two:
            if not 0 <= n <= 16:
                raise LineError(ops[0][0], f"alignment 2**{n} out of range (0..16)")
            n = 1 << n
        elif n <= 0 or n & (n - 1) or n > 1 << 16:
            raise LineError(ops[0][0], f"alignment {n} is not a power of 2 up to 65536")
        fill_byte = None
        if len(ops) > 1 and ops[1][1]:
            fill_byte = _constant(asm, ops[1][1], ops[1][0], "the fill value") & 0xFF
        limit = _constant(asm, ops[2][1], ops[2][0], "the limit") if len(ops) > 2 else None
        chunk = asm.chunk
        gap = -len(chunk.data) % n
        if limit is not None and gap > limit:
            return
        chunk.align = max(chunk.align, n)
        asm.grow(padding(chunk.kind, gap, fill_byte))
    return handler


# ---- options ----------------------------------------------------------------------------

def _adds_c(arch: str) -> bool:
    """Does an ``.option arch`` item enable C: "+c", "+zca", or "rv32imac" as a whole ISA?"""
    if arch[:1] == "+":
        return arch[1:2] == "c" or arch[1:4] == "zca"
    m = re.match(r"=?rv(?:32|64)([a-z]*)", arch)
    return bool(m) and "c" in m.group(1)


def attribute(asm, text, col):
    attribute_directive(asm.explicit_attributes, text, col)


def option(asm, text, col):
    words = text.replace(",", " ").split()
    if not words:
        raise LineError(col, ".option needs an argument")
    name = words[0].lower()
    if name == "rvc" or (name == "arch" and any(_adds_c(w.lower()) for w in words[1:])):
        raise LineError(col, "compressed instructions (RVC) are not supported")
    if name == "pic":
        raise LineError(col, "position-independent code (.option pic) is not supported")
    if name == "push":
        asm.options.append(asm.arch_h)
    elif name == "pop":
        if not asm.options:
            raise LineError(col, ".option pop without .option push")
        asm.arch_h = asm.options.pop()
    elif name == "arch":
        asm.arch_h = arch_has_h(words[1:], asm.arch_h)
    elif name not in ("norvc", "relax", "norelax", "nopic", "arch"):
        raise LineError(col, f"unknown .option '{words[0]}'")


# ---- include, macros, repetition, errors --------------------------------------------------

def include(asm, text, col):
    ops = _operands(text, col, 1, 1, ".include")
    asm.include(parse_string(ops[0][1], ops[0][0]).decode(), col)


def macro(asm, text, col):
    asm.define_macro(text, col)


def stray(name):
    def handler(asm, text, col):
        raise LineError(col, f"{name} without a matching opening directive")
    return handler


def rept(asm, text, col):
    def check():
        count = _constant(asm, text, col, "the .rept count")
        if not 0 <= count <= MAX_REPEAT:
            raise LineError(col, f".rept count {count} out of range (0..{MAX_REPEAT})")

        def expand(body):
            asm.fits(count * len(body))             # before the lines are built
            return body * count
        return expand
    asm.repeat(check, ".rept")


def irp(per_character):
    def handler(asm, text, col):
        def check():
            ops = split_operands(text, col)
            if not ops:
                raise LineError(col, "expected: symbol, values")
            name = _symbol(ops[0][1].split()[0], ops[0][0])
            if per_character:
                values = list("".join(v for _, v in ops[1:]))
            else:
                values = [v for _, v in ops[1:]] or [""]

            def expand(body):
                asm.fits(len(values) * len(body))   # before the lines are built
                return [line for v in values
                        for line in substitute(body, {name: v}, asm.expansions, asm.spend)]
            return expand
        asm.repeat(check, ".irpc" if per_character else ".irp")
    return handler


def error(asm, text, col):
    raise LineError(col, parse_string(text.strip(), col).decode() if text.strip()
                    else ".error directive")


def end(asm, text, col):
    asm.stack.clear()


DIRECTIVES = {
    ".text": _simple_section(".text", "text"), ".data": _simple_section(".data", "data"),
    ".bss": _simple_section(".bss", "bss"), ".section": section, ".pushsection": pushsection,
    ".popsection": popsection, ".previous": previous,
    ".globl": globl, ".global": globl, ".weak": globl, ".local": ignore,
    ".equ": equ(True), ".set": equ(True), ".equiv": equ(False),
    ".type": ignore, ".size": ignore, ".file": ignore, ".ident": ignore, ".attribute": attribute,
    ".loc": ignore, ".addrsig": ignore, ".addrsig_sym": ignore,
    ".ascii": strings(b""), ".asciz": strings(b"\0"), ".string": strings(b"\0"),
    ".space": space, ".zero": space, ".skip": space, ".fill": fill,
    ".align": align(True), ".p2align": align(True), ".balign": align(False),
    ".option": option, ".include": include, ".macro": macro, ".endm": stray(".endm"),
    ".rept": rept, ".irp": irp(False), ".irpc": irp(True), ".endr": stray(".endr"),
    ".error": error, ".end": end,
}
DIRECTIVES.update({name: data(size) for name, size in _DATA_SIZES.items()})

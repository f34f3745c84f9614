"""Expressions over numbers and symbols, as GNU as evaluates them.

Parsing happens in pass 1 (numeric local labels like ``1b`` must be bound to the definition
seen *so far*, and ``.`` is the location counter *here*); evaluation may wait for pass 2, when
every label has an address. A parsed expression is an int, or a tuple node:

    ("sym", name, col, shown)      a symbol (shown = how the source spelled it)
    ("loc", chunk, offset)         the location counter "." at parse time
    ("neg"|"not"|"lnot", x)        unary - ~ !
    (op, a, b, col)                binary operator

Operator precedence follows GNU as (expr.c op_rank): ``* / % << >>`` bind tightest, then
``| & ^``, then ``+ -``, then comparisons (true is -1, as in GNU as), then ``&&``, then ``||``.
"""

import re
from typing import NamedTuple

from .errors import LineError

_TOKEN_RE = re.compile(r"""
    (?P<local>[0-9]+[bf])(?![0-9A-Za-z_.$])
  | (?P<num>0[xX][0-9A-Fa-f]+|0[bB][01]+|[0-9]+)(?![0-9A-Za-z_.$])
  | (?P<char>'(?:\\(?:[0-7]{1,3}|.)|[^\\])'?)
  | (?P<sym>[A-Za-z_.$][A-Za-z0-9_.$]*)
  | (?P<op><<|>>|<=|>=|==|!=|<>|&&|\|\||[-+*/%&|^~!<>()])
""", re.X)

_BINARY = {"*": 6, "/": 6, "%": 6, "<<": 6, ">>": 6, "|": 5, "&": 5, "^": 5, "+": 4, "-": 4,
           "==": 3, "!=": 3, "<>": 3, "<": 3, ">": 3, "<=": 3, ">=": 3, "&&": 2, "||": 1}
_UNARY = {"-": "neg", "~": "not", "!": "lnot"}
_CHAR_ESCAPES = {"n": 10, "t": 9, "r": 13, "b": 8, "f": 12, "v": 11, "a": 7, "\\": 92,
                 "'": 39, '"': 34}
LIMIT = 1 << 64
# How deep parentheses and operators may nest in one expression. gcc and hand-written course
# code stay under 10; the bound keeps parsing and `evaluate` (both recursive) far from
# Python's recursion limit of 1000, so "((((...1))))" is an error, not a RecursionError.
MAX_DEPTH = 100


class Rel(NamedTuple):
    """A pass-1 value that is an offset in a section whose address is not known yet."""
    chunk: object
    offset: int


def _tokenize(text, col):
    tokens, pos, n = [], 0, len(text)
    while True:
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos >= n:
            return tokens
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise LineError(col + pos, f"unexpected character {text[pos]!r} in expression")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind), col + pos))
        pos = m.end()


class _Parser:
    def __init__(self, text, col, env):
        self.tokens, self.i, self.env = _tokenize(text, col), 0, env
        self.end_col = col + len(text)
        self.nesting = 0            # parser calls in progress: bounded on the way down

    def deeper(self, col):
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise LineError(col, f"expression nested deeper than {MAX_DEPTH}")

    def peek(self):
        if self.i < len(self.tokens):
            return self.tokens[self.i]
        return None, None, self.end_col

    def expression(self):
        if not self.tokens:
            raise LineError(self.end_col, "missing expression")
        node = self.binary(0)
        kind, value, col = self.peek()
        if kind is not None:
            raise LineError(col, f"unexpected {value!r} in expression")
        return node

    def binary(self, min_rank):
        left = self.unary()
        while True:
            kind, op, col = self.peek()
            rank = _BINARY.get(op) if kind == "op" else None
            if rank is None or rank <= min_rank:
                return left
            self.i += 1
            self.deeper(col)
            left = _fold((op, left, self.binary(rank), col))
            self.nesting -= 1

    def unary(self):
        kind, value, col = self.peek()
        self.i += 1
        self.deeper(col)
        node = self.operand(kind, value, col)
        self.nesting -= 1
        return node

    def operand(self, kind, value, col):
        if kind == "num":
            return _number(value, col)
        if kind == "local":
            return ("sym", self.env.local_ref(value[:-1], value[-1], col), col, value)
        if kind == "char":
            return _char(value, col)
        if kind == "sym":
            return self.env.here() if value == "." else ("sym", value, col, value)
        if value == "(":
            node = self.binary(0)
            if self.peek()[1] != ")":
                raise LineError(self.peek()[2], "missing ')' in expression")
            self.i += 1
            return node
        if value == "+":
            return self.unary()
        if value in _UNARY:
            return _fold((_UNARY[value], self.unary()))
        raise LineError(col, "missing expression" if kind is None
                        else f"unexpected {value!r} in expression")


def _number(text, col):
    # No 64-bit number has more than 64 digits; refusing longer ones first also keeps int()
    # from raising ValueError past 4300 decimal digits (CPython's int_max_str_digits).
    digits = text[2:] if text[:2].lower() in ("0x", "0b") else text
    if len(digits.lstrip("0")) > 64:
        raise LineError(col, f"number {text[:20]}... does not fit in 64 bits")
    if text[:2] in ("0x", "0X"):
        value = int(text[2:], 16)
    elif text[:2] in ("0b", "0B"):
        value = int(text[2:], 2)
    elif len(text) > 1 and text[0] == "0":                     # leading 0: octal, as in C
        if "8" in text or "9" in text:
            raise LineError(col, f"bad octal number {text}")
        value = int(text, 8)
    else:
        value = int(text)
    if value >= LIMIT:
        raise LineError(col, f"number {text} does not fit in 64 bits")
    return value


def _char(text, col):
    body = text[1:-1] if len(text) > 2 and text.endswith("'") else text[1:]
    if body.startswith("\\"):
        e = body[1:]
        if e[0] in "01234567":
            return int(e, 8) & 0xFF
        if e not in _CHAR_ESCAPES:
            raise LineError(col, f"unknown escape '\\{e}' in character constant")
        return _CHAR_ESCAPES[e]
    return ord(body)


def _fold(node):
    """Compute constant subexpressions now (most operands are plain numbers)."""
    operands = node[1:2] if len(node) == 2 else node[1:3]
    if all(type(x) is int for x in operands):
        return evaluate(node, None)
    return node


def parse(text: str, col: int, env):
    """Parse an expression; `env` gives ``local_ref(n, 'b'|'f', col)`` and ``here()``."""
    if text.isascii() and text.isdigit() and len(text) < 19 and (text[0] != "0" or text == "0"):
        return int(text)                            # a plain decimal number: most operands
    node = _Parser(text, col, env).expression()
    if depth(node) > MAX_DEPTH:                     # "x+1+1+...": a long left-leaning chain
        raise LineError(col, f"expression nested deeper than {MAX_DEPTH}")
    return node


def depth(node) -> int:
    """How many levels `evaluate` recurses through `node` (without a recursion of its own)."""
    deepest, todo = 0, [(node, 0)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        if type(node) is tuple and node[0] not in ("sym", "loc"):
            todo.extend((child, level + 1) for child in node[1:3] if type(child) is tuple)
    return deepest


def evaluate(node, resolve):
    """The value of `node`, or None when a symbol's value is not known yet.

    ``resolve(node)`` gives the value of a "sym" or "loc" node: an int, a `Rel` (in pass 1,
    a label: section + offset) or None. Section-relative values survive only ``+``/``-`` of
    a number and the difference of two labels in the same section (which is a number).
    """
    if type(node) is int:
        return node
    op = node[0]
    if op == "sym" or op == "loc":
        return resolve(node)
    if len(node) == 2:
        x = evaluate(node[1], resolve)
        if type(x) is not int:
            return None
        return _wrap(-x) if op == "neg" else ~x if op == "not" else int(not x)
    a, b = evaluate(node[1], resolve), evaluate(node[2], resolve)
    if type(a) is int and type(b) is int:
        return _apply(op, a, b, node[3])
    if a is None or b is None:
        return None
    return _relative(op, a, b)


def _relative(op, a, b):
    if op == "+" and type(b) is int:
        return Rel(a.chunk, a.offset + b)
    if op == "+" and type(a) is int:
        return Rel(b.chunk, b.offset + a)
    if op == "-" and type(b) is int:
        return Rel(a.chunk, a.offset - b)
    if op == "-" and type(a) is Rel and a.chunk is b.chunk:
        return a.offset - b.offset
    return None


def _apply(op, a, b, col):
    if op in ("/", "%"):
        if b == 0:
            raise LineError(col, "division by zero")
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)      # C: truncate to zero
        return q if op == "/" else a - q * b
    if op in ("<<", ">>"):
        if not 0 <= b < 64:
            raise LineError(col, f"shift count {b} out of range 0..63")
        return _wrap(a << b) if op == "<<" else a >> b
    if op == "+":
        return _wrap(a + b)
    if op == "-":
        return _wrap(a - b)
    if op == "*":
        return _wrap(a * b)
    if op in ("&", "|", "^"):
        return a & b if op == "&" else a | b if op == "|" else a ^ b
    if op == "&&":
        return int(bool(a and b))
    if op == "||":
        return int(bool(a or b))
    truth = {"==": a == b, "!=": a != b, "<>": a != b, "<": a < b, ">": a > b,
             "<=": a <= b, ">=": a >= b}[op]
    return -1 if truth else 0


def _wrap(value):
    """Keep results in 64 bits, as GNU as's offsetT does (no unbounded Python ints)."""
    if -(1 << 63) <= value < LIMIT:
        return value
    value &= LIMIT - 1
    return value - LIMIT if value >> 63 else value

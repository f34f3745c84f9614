"""Macros and repetition: ``.macro``/``.endm``, ``.rept``, ``.irp``, ``.irpc``.

A macro is a list of source lines with ``\\param`` placeholders; using it substitutes the
arguments (``\\@`` is the number of macro expansions so far, ``\\()`` joins text) and feeds
the lines back to the assembler, exactly as GNU as does. The assembler limits nesting depth
and total expansion, so a recursive macro ends in an error instead of a hang.
"""

import re

from .errors import LineError
from .lexer import SYMBOL, split_operands

# One parameter of a .macro line: name, optional ":req"/":vararg", optional "=default".
_PARAM_RE = re.compile(r"\s*(" + SYMBOL + r")\s*(?::\s*(req|vararg))?"
                       r"\s*(?:=\s*(\"[^\"]*\"|[^\s,]+))?\s*,?")


class Macro:
    """A macro definition: its parameters and the source lines of its body."""

    def __init__(self, name, params):
        self.name = name
        self.params = params                    # [(name, default, "req"/"vararg"/None)]
        self.body = []                          # [(file, line, text)]


def parse_header(text: str, col: int) -> Macro:
    """``.macro name a, b=1, c:req`` (commas optional) -> Macro without its body."""
    m = re.match(r"\s*(" + SYMBOL + r")\s*,?", text)
    if not m:
        raise LineError(col, ".macro needs a name")
    params, pos = [], m.end()
    while pos < len(text) and text[pos:].strip():
        p = _PARAM_RE.match(text, pos)
        if not p or p.end() == pos:
            raise LineError(col + pos, f"bad macro parameter '{text[pos:].strip()}'")
        params.append((p.group(1), _unquote(p.group(3) or ""), p.group(2)))
        pos = p.end()
    return Macro(m.group(1), params)


def bind_arguments(macro: Macro, text: str, col: int) -> dict:
    """Arguments of one use of `macro` -> {param: text}; positional or ``name=value``."""
    args = split_operands(text, col) if text.strip() else []
    if len(args) == 1 and len(macro.params) > 1 and '"' not in text:
        # GNU as also separates macro arguments by blanks: "m a0 a1".
        args = [(col, a) for a in text.split()]
    values = {name: default for name, default, _ in macro.params}
    names = [name for name, _, _ in macro.params]
    for i, (acol, arg) in enumerate(args):
        key, eq, value = arg.partition("=")
        if eq and key.strip() in values and not value.startswith("="):
            values[key.strip()] = _unquote(value.strip())
        elif i < len(names):
            if macro.params[i][2] == "vararg":
                values[names[i]] = ", ".join(a for _, a in args[i:])
                break
            values[names[i]] = _unquote(arg)
        else:
            raise LineError(acol, f"too many arguments for macro '{macro.name}' "
                                  f"(it takes {len(names)})")
    for name, _, qualifier in macro.params:
        if qualifier == "req" and not values[name]:
            raise LineError(col, f"missing value for required parameter '{name}' "
                                 f"of macro '{macro.name}'")
    return values


def _unquote(arg):
    """GNU as passes a quoted argument without its quotes: PRINT "hi" -> .asciz "\\text"."""
    if len(arg) >= 2 and arg[0] == '"' and arg[-1] == '"' and '"' not in arg[1:-1]:
        return arg[1:-1]
    return arg


def substitute(lines, values: dict, counter: int, spend):
    """Body lines with ``\\name``, ``\\@`` and ``\\()`` replaced; ``spend(n)`` is told of
    every n characters added, before the line holding them is built, and may refuse."""
    def replace(m):
        text = values[m.group(1)] if m.group(1) is not None else \
            str(counter) if m.group(2) else ""
        spend(len(text))
        return text
    pattern = _substitution_re(tuple(values))
    return [(f, n, pattern.sub(replace, text) if "\\" in text else text) for f, n, text in lines]


_RE_CACHE = {}


def _substitution_re(names):
    """``\\name`` (a whole identifier), ``\\@`` or ``\\()``."""
    pattern = _RE_CACHE.get(names)
    if pattern is None:
        alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
        pattern = re.compile(r"\\(?:(" + (alternatives or "(?!)") + r")(?![\w.$])|(@)|(\(\)))")
        _RE_CACHE[names] = pattern
    return pattern

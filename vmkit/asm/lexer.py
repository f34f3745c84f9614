"""Lexical structure of GNU as source: comments, statements, labels, operands, strings.

A source line holds statements separated by ``;`` (RISC-V GNU as's line separator); ``#``
starts a comment; ``/* ... */`` comments may span lines. Each statement is
``label: label: mnemonic operand, operand``. Everything here works on plain strings and keeps
the 0-based column of each piece so that errors can point at it.
"""

import re

from .errors import LineError

SYMBOL = r"[A-Za-z_.$][A-Za-z0-9_.$]*"
SYMBOL_RE = re.compile(SYMBOL + r"\Z")
_LABEL_RE = re.compile(r"\s*(" + SYMBOL + r"|[0-9]+)\s*:(?!=)")
_WORD_RE = re.compile(r"\s*([A-Za-z_.$%][A-Za-z0-9_.$]*)[ \t]*")
_ASSIGN_RE = re.compile(r"\s*(" + SYMBOL + r")\s*=(?!=)")
_BLOCK_COMMENT_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/', re.S)

_ESCAPES = {"n": 10, "t": 9, "r": 13, "b": 8, "f": 12, "v": 11, "a": 7, "e": 27,
            "\\": 92, '"': 34, "'": 39}


def strip_block_comments(text: str) -> str:
    """Blank out ``/* ... */`` comments, keeping line numbers (a comment keeps its newlines)."""
    if "/*" not in text:
        return text

    def blank(m):
        s = m.group(0)
        return s if s[0] == '"' else "".join(c if c == "\n" else " " for c in s)
    return _BLOCK_COMMENT_RE.sub(blank, text)


def split_statements(text: str):
    """[(column, statement)] of one line, comments removed. Quotes protect ``#`` and ``;``."""
    if '"' not in text and "'" not in text:
        text = text.split("#", 1)[0]
        if ";" not in text:
            return [(0, text)] if text.strip() else []
    out, start, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "'":                      # character constant: 'c', 'c or '\n'
            i = _skip_char(text, i)
            continue
        if c == "#" or c == ";":
            if text[start:i].strip():
                out.append((start, text[start:i]))
            if c == "#":
                return out
            start = i + 1
        i += 1
    if text[start:].strip():
        out.append((start, text[start:]))
    return out


def _skip_string(text, i):
    """Index just past the string literal starting at text[i] == '"' (or len on no end)."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        else:
            i += 1
    return len(text) + 1                  # unterminated: parse_string reports it


def _skip_char(text, i):
    """Index just past the character constant starting at text[i] == "'"."""
    i += 3 if text[i + 1:i + 2] == "\\" else 2
    return i + 1 if text[i:i + 1] == "'" else i


def take_labels(text: str):
    """Split leading ``name:`` labels off a statement: ([(col, name)], col, rest)."""
    labels, pos = [], 0
    while True:
        m = _LABEL_RE.match(text, pos)
        if not m:
            break
        labels.append((m.start(1), m.group(1)))
        pos = m.end()
    return labels, pos, text[pos:]


def take_assignment(text: str):
    """``sym = expr`` -> (name, column of expr, expr text), else None."""
    m = _ASSIGN_RE.match(text)
    if not m:
        return None
    return m.group(1), m.end(), text[m.end():]


def take_word(text: str):
    """The mnemonic or directive that starts `text`: (word, col, column of the rest, rest)."""
    m = _WORD_RE.match(text)
    if not m:
        return None
    return m.group(1), m.start(1), m.end(), text[m.end():]


def split_operands(text: str, col: int):
    """Comma-separated operands at parenthesis depth 0: [(column, stripped text)]."""
    out, depth, start, i, n = [], 0, 0, 0, len(text)
    if not text.strip():
        return out
    if '"' not in text and "'" not in text and "(" not in text:     # the common case
        for piece in text.split(","):
            out.append(_piece(text, start, start + len(piece), col))
            start += len(piece) + 1
        return out
    while i < n:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "'":
            i = _skip_char(text, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth <= 0:
            out.append(_piece(text, start, i, col))
            start = i + 1
        i += 1
    out.append(_piece(text, start, n, col))
    return out


def _piece(text, start, end, col):
    piece = text[start:end]
    stripped = piece.strip()
    lead = len(piece) - len(piece.lstrip())
    if not stripped:
        raise LineError(col + start + lead, "missing operand")
    return col + start + lead, stripped


def parse_string(text: str, col: int) -> bytes:
    """The bytes of one ``"..."`` literal with GNU as escapes (\\n, \\t, \\ooo, \\xhh, ...)."""
    if not text.startswith('"'):
        raise LineError(col, "expected a string in double quotes")
    out, i, n = bytearray(), 1, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            if text[i + 1:].strip():
                raise LineError(col + i + 1, "unexpected text after string")
            return bytes(out)
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        i += 1
        if i >= n:
            break
        e = text[i]
        if e in "01234567":
            j = i
            while j < n and j < i + 3 and text[j] in "01234567":
                j += 1
            out.append(int(text[i:j], 8) & 0xFF)
            i = j
        elif e in "xX":
            j = i + 1
            while j < n and text[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i + 1:
                raise LineError(col + i - 1, "\\x needs hexadecimal digits")
            out.append(int(text[i + 1:j], 16) & 0xFF)
            i = j
        elif e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 1
        else:
            raise LineError(col + i - 1, f"unknown escape '\\{e}' in string")
    raise LineError(col, "unterminated string")

"""The two-pass assembler: source lines in, placed bytes and symbols out.

Pass 1 reads statements in order (expanding ``.include``, macros, ``.rept`` and ``.if`` as it
goes, as GNU as does in its single reading), defines symbols, and fixes the size of every
instruction and data item. Anything whose value needs an address not known yet (a branch
target, ``%pcrel_hi(label)``, ``.word label``) becomes a *fixup*. Then `program.layout`
places the sections, and pass 2 computes the fixups and patches the bytes -- the work GNU as
leaves to the linker through relocations (R_RISCV_BRANCH, R_RISCV_PCREL_HI20, ...).
"""

from vmkit.isa import BY_NAME, FIELDS

from . import directives, expr
from .attributes import program_attributes
from .errors import AsmError, Diagnostics, LineError, TooManyErrors
from .expr import Rel
from .lexer import split_operands, split_statements, strip_block_comments, take_assignment, \
    take_labels, take_word
from .macros import bind_arguments, parse_header, substitute
from .operands import Mismatch, fixup_value, match_row, syntax_text
from .program import Program, layout, output_sections
from .pseudo import PSEUDOS, USAGE
from .sections import Chunk, padding

MAX_INCLUDE_DEPTH = 32
MAX_MACRO_DEPTH = 64
# Lines queued for reading: the source, its .includes and every macro and .rept expansion.
# Counted when a file or expansion is queued, before it is read, so a macro bomb or nested
# .rept stops within about a second and a few tens of MB (each line read costs ~5 us and,
# as an instruction, ~100 bytes of line map). The course's guests read under 5000 lines.
MAX_LINES = 250_000
# Characters macro and .irp substitution may add in one run: arguments that double at each
# level of nested macros would otherwise grow lines exponentially. Courses use < 100 KB.
MAX_SUBSTITUTED = 16 << 20
# Pass 2 follows .set/.equ symbols defined from labels (a = b + 4, b = c + 4, ...) by
# recursion; this bounds the expression levels of one such chain, well under Python's limit.
MAX_SYMBOL_LEVELS = 300
MAX_SECTION = 64 << 20         # bytes in one section: stops ".space 1<<40"

_CONDITIONALS = frozenset((".if", ".ifdef", ".ifndef", ".ifnotdef", ".ifeq", ".ifne", ".ifgt",
                           ".ifge", ".iflt", ".ifle", ".ifc", ".ifnc", ".ifb", ".ifnb",
                           ".else", ".elseif", ".endif"))
_OPENERS = {"macro": (".macro",), "rept": (".rept", ".irp", ".irpc")}
_CLOSERS = {"macro": ".endm", "rept": ".endr"}


class Frame:
    """Lines being read: a file, or the expansion of a macro or ``.rept``."""

    def __init__(self, lines, kind, name="", site=None, suffix=""):
        self.lines, self.i, self.kind, self.name = lines, 0, kind, name
        self.site = site            # (file, line) the line map uses; None = the line itself
        self.suffix = suffix        # appended to errors: " (in macro 'm' used at f:3)"


class Collect:
    """A ``.macro`` or ``.rept``/``.irp`` body being gathered up to its ``.endm``/``.endr``."""

    def __init__(self, kind, where, finish):
        self.kind, self.where, self.finish = kind, where, finish
        self.depth, self.body = 1, []


class Assembler:
    """One assembly run: `run(text, filename)` returns the Program or raises AsmError.

    `resolver(name)` gives the text of an ``.include``d file (None: not found; an exception:
    found but refused, it says why); `base` is where the program is placed.
    """

    def __init__(self, resolver, base):
        self.resolver, self.base = resolver, base
        self.diag = Diagnostics()
        self.chunks, self.chunk = {}, None
        self.switch_section(".text", "text")        # GNU as starts in .text
        self.section_stack, self.previous = [], self.chunk
        self.labels = {}            # name -> (chunk, offset, (file, line))
        self.equs = {}              # name -> int | Rel | unevaluated node
        self.globals = set()
        self.local_counts = {}      # numeric label "n" -> definitions so far
        self.macros = {}
        self.cond = []              # [active, taken, parent_active, else_seen, where]
        self.collect = None
        self.stack = []
        self.expansions = 0
        self.lines_queued = 0
        self.substituted = 0
        self.options = []           # .option push stack (of arch_h)
        self.arch_h = None          # H set on/off by .option arch; None: never said
        self.explicit_attributes = {}   # .attribute tag -> value
        self.rows_used = set()      # instruction-table rows written (for the ELF attributes)
        self.resolving = set()      # symbols being evaluated in pass 2 (finds cycles)
        self.levels = 0             # expression levels those evaluations are nested in
        self.final = {}             # name -> pass-2 value: each symbol is evaluated once
        self.file, self.line, self.frame = "<input>", 0, None

    # ---- reading -------------------------------------------------------------------------

    def run(self, text: str, filename: str) -> Program:
        try:
            self.push_file(text, filename)
        except LineError as e:                      # the source alone is over MAX_LINES
            raise AsmError([f"{filename}:1:1: {e.message}"]) from None
        try:
            self.read_all()
            self.finish_checks()
            self.pad_chunks()
            self.diag.check()
            placed = layout(list(self.chunks.values()), self.base)
            if placed and placed[-1].address + placed[-1].size > 1 << 32:
                raise AsmError([f"{filename}:1:1: the program does not fit below 4 GiB "
                                f"when placed at {self.base:#x}"])
            self.pass2()
        except TooManyErrors:
            pass
        self.diag.check()
        sections, bss = output_sections(list(self.chunks.values()), placed)
        return self.program(sections, bss, placed)

    def push_file(self, text, name):
        text = strip_block_comments(text)
        self.queue(text.count("\n") + 1)
        lines = text.split("\n")
        self.stack.append(Frame([(name, n, t.rstrip("\r")) for n, t in enumerate(lines, 1)],
                                "file", name))

    def spend(self, chars):
        """Account for `chars` characters added by substitution; refuse past the limit."""
        self.substituted += chars
        if self.substituted > MAX_SUBSTITUTED:
            raise LineError(0, f"macro and .irp arguments add more than {MAX_SUBSTITUTED >> 20}"
                               " MiB of text (arguments that grow at each level?)")

    def fits(self, count):
        """Refuse `count` more lines to read if they would pass MAX_LINES."""
        if self.lines_queued + count > MAX_LINES:
            self.lines_queued = MAX_LINES + 1       # read_all stops at this error
            raise LineError(0, f"more than {MAX_LINES} lines after .include, macro and .rept "
                               "expansion (a runaway .rept or macro?)")

    def queue(self, count):
        """Account for `count` more lines to read."""
        self.fits(count)
        self.lines_queued += count

    def read_all(self):
        while self.stack:
            frame = self.stack[-1]
            if frame.i >= len(frame.lines):
                self.stack.pop()
                continue
            self.file, self.line, text = frame.lines[frame.i]
            frame.i += 1
            self.frame = frame
            try:
                self.read_line(text)
            except LineError as e:
                self.diag.add(self.file, self.line, e.col, e.message + frame.suffix)
                if self.lines_queued > MAX_LINES:
                    self.stack.clear()                  # one error is enough: stop reading

    @property
    def site(self):
        return self.frame.site or (self.file, self.line)

    def finish_checks(self):
        if self.collect:
            f, n = self.collect.where
            self.diag.add(f, n, 0, f"missing {_CLOSERS[self.collect.kind]} for this "
                                   f".{self.collect.kind}")
        for entry in self.cond:
            self.diag.add(*entry[4], 0, "missing .endif for this .if")

    def pad_chunks(self):
        """Round code sections up to their alignment with nops, as GNU as 2.40 does at the
        end of a file (it leaves data sections as they are)."""
        for chunk in self.chunks.values():
            if chunk.kind == "text":
                chunk.data += padding("text", -len(chunk.data) % chunk.align)

    def read_line(self, text):
        if self.collect is not None:
            self.collect_line(text)
            return
        for col, statement in split_statements(text):
            self.statement(statement, col)
            if self.collect is not None:
                break

    def collect_line(self, text):
        c = self.collect
        statements = split_statements(text)
        word = None
        if statements:
            col, s = statements[0]
            w = take_word(take_labels(s)[2])
            word = w[0].lower() if w else None
        if word in _OPENERS[c.kind]:
            c.depth += 1
        elif word == _CLOSERS[c.kind]:
            c.depth -= 1
            if c.depth == 0:
                self.collect = None
                c.finish(c.body)
                return
        c.body.append((self.file, self.line, text))

    # ---- statements ----------------------------------------------------------------------

    def active(self):
        return not self.cond or self.cond[-1][0]

    def statement(self, text, col):
        labels, pos, rest = take_labels(text)
        word = take_word(rest)
        if not self.active():
            if word and word[0].lower() in _CONDITIONALS:
                self.conditional(word[0].lower(), word[3], col + pos + word[2])
            return
        for lcol, name in labels:
            self.define_label(name, col + lcol)
        col += pos
        if not rest.strip():
            return
        assignment = take_assignment(rest)
        if assignment:
            name, ecol, etext = assignment
            self.set_symbol(name, etext, col + ecol, col)
            return
        if not word:
            lead = len(rest) - len(rest.lstrip())
            shown = rest.strip() or rest
            shown = f"'{shown}'" if shown.isprintable() else ascii(shown)
            raise LineError(col + lead, f"expected an instruction or directive, got {shown}")
        name, wcol, ocol, operands = word
        lower = name.lower()
        if lower in _CONDITIONALS:
            self.conditional(lower, operands, col + ocol)
        elif lower.startswith("."):
            self.directive(lower, operands, col + ocol, col + wcol)
        elif name in self.macros:
            self.expand_macro(self.macros[name], operands, col + ocol)
        else:
            self.instruction(lower, operands, col + ocol, col + wcol)

    def directive(self, name, text, col, name_col):
        handler = directives.DIRECTIVES.get(name)
        if handler is None:
            if name.startswith(".cfi_"):            # gcc's unwind tables: not needed here
                return
            raise LineError(name_col, f"unknown directive '{name}'")
        handler(self, text, col)

    def instruction(self, name, text, col, name_col):
        rows, pseudo = BY_NAME.get(name), PSEUDOS.get(name)
        if rows is None and pseudo is None:
            raise LineError(name_col, f"unknown instruction '{name}'")
        if self.chunk.kind == "bss":
            raise LineError(name_col, "instructions cannot go in .bss")
        operands = split_operands(text, col)
        best = None
        for row in rows or ():
            try:
                word, fixups = match_row(row, operands, self)
            except Mismatch as m:
                if best is None or m.score > best.score:
                    best = m
                continue
            self.emit_word(word, fixups)
            self.rows_used.add(row)
            return
        if pseudo and pseudo(self, operands):
            return
        if best is None or best.score < 0:
            forms = [syntax_text(r.operands) for r in rows or ()] + \
                    ([USAGE[name]] if name in USAGE else [])
            raise LineError(name_col, f"wrong operands for '{name}': expected "
                                      + " or ".join(dict.fromkeys(forms)))
        raise LineError(best.col, best.message)

    # ---- symbols and expressions -------------------------------------------------------

    def parse(self, text, col):
        return expr.parse(text, col, self)

    def here(self):
        return ("loc", self.chunk, len(self.chunk.data))

    def local_ref(self, digits, direction, col):
        n = _local_number(digits)
        count = self.local_counts.get(n, 0)
        if direction == "b":
            if count == 0:
                raise LineError(col, f"local label {n}b: no '{n}:' defined before this line")
            return f"{n}\x02{count}"
        return f"{n}\x02{count + 1}"

    def value_now(self, node):
        """The value of `node` if it is a constant at this point of pass 1, else None."""
        value = expr.evaluate(node, self.resolve_now)
        return value if type(value) is int else None

    def resolve_now(self, node):
        if node[0] == "loc":
            return Rel(node[1], node[2])
        label = self.labels.get(node[1])
        if label:
            return Rel(label[0], label[1])
        value = self.equs.get(node[1])
        return value if type(value) in (int, Rel) else None

    def resolve_final(self, node):
        if node[0] == "loc":
            return node[1].address + node[2]
        name = node[1]
        label = self.labels.get(name)
        if label:
            return label[0].address + label[1]
        if name not in self.equs:
            raise LineError(node[2], f"undefined symbol '{node[3]}'")
        value = self.equs[name]
        if type(value) is Rel:
            return value.chunk.address + value.offset
        if type(value) is int:
            return value
        if name in self.final:
            return self.final[name]
        if name in self.resolving:
            raise LineError(node[2], f"symbol '{name}' is defined in terms of itself")
        levels = expr.depth(value) + 1
        if self.levels + levels > MAX_SYMBOL_LEVELS:
            raise LineError(node[2], f"symbol '{name}' is defined through more than "
                                     f"{MAX_SYMBOL_LEVELS} levels of symbols and operators")
        self.resolving.add(name)
        self.levels += levels
        try:
            self.final[name] = expr.evaluate(value, self.resolve_final)
        finally:
            self.resolving.discard(name)
            self.levels -= levels
        return self.final[name]

    def define_label(self, name, col):
        if name.isascii() and name.isdigit():
            n = _local_number(name)
            self.local_counts[n] = count = self.local_counts.get(n, 0) + 1
            name = f"{n}\x02{count}"
        elif name in self.labels or name in self.equs:
            first = self.labels.get(name, (None, None, None))[2]
            where = f" (first defined at {first[0]}:{first[1]})" if first else ""
            raise LineError(col, f"duplicate label '{name}'{where}")
        self.labels[name] = (self.chunk, len(self.chunk.data), (self.file, self.line))

    def set_symbol(self, name, text, col, name_col, redefine=True):
        if name in self.labels:
            raise LineError(name_col, f"'{name}' is already defined as a label")
        if not redefine and name in self.equs:
            raise LineError(name_col, f"'{name}' is already defined")
        node = self.parse(text, col)
        value = expr.evaluate(node, self.resolve_now)
        self.equs[name] = value if value is not None else node

    def defined(self, name):
        return name in self.labels or name in self.equs

    # ---- emitting ------------------------------------------------------------------------

    def where(self, col):
        return (self.file, self.line, col, self.frame.suffix)

    def check_room(self, size, col):
        """Refuse to grow a section past MAX_SECTION (before building the bytes)."""
        if len(self.chunk.data) + size > MAX_SECTION:
            raise LineError(col, f"section {self.chunk.name} would exceed "
                                 f"{MAX_SECTION >> 20} MiB")

    def grow(self, data: bytes, col=0):
        self.check_room(len(data), col)
        self.chunk.data += data

    def emit_word(self, word, fixups=()):
        chunk = self.chunk
        offset = len(chunk.data)
        chunk.lines.append((offset, self.site))
        chunk.data += word.to_bytes(4, "little")
        for letter, how, node, col in fixups:
            chunk.fixups.append((offset, letter, how, node, self.where(col)))

    def emit_value(self, size, node, col):
        """One data item (.byte/.half/.word/...): now if constant, else a pass-2 fixup."""
        chunk = self.chunk
        if chunk.kind == "bss":
            raise LineError(col, "data cannot go in .bss (use .space or .zero)")
        offset = len(chunk.data)
        chunk.lines.append((offset, self.site))
        value = self.value_now(node)
        chunk.data += bytes(size)
        if value is None:
            chunk.fixups.append((offset, size, "data", node, self.where(col)))
        else:
            _store(chunk.data, offset, size, value, col)

    def emit_bytes(self, data, col):
        if self.chunk.kind == "bss" and any(data):
            raise LineError(col, "data cannot go in .bss (use .space or .zero)")
        if data:                                    # an empty item owns no address
            self.chunk.lines.append((len(self.chunk.data), self.site))
        self.grow(data, col)

    def switch_section(self, name, kind):
        chunk = self.chunks.get(name)
        if chunk is None:
            chunk = self.chunks[name] = Chunk(name, kind)
        self.previous, self.chunk = self.chunk or chunk, chunk

    # ---- conditionals, macros, repetition, include ------------------------------------

    def conditional(self, name, text, col):
        if name == ".endif":
            if not self.cond:
                raise LineError(col, ".endif without .if")
            self.cond.pop()
            return
        if name in (".else", ".elseif"):
            if not self.cond or self.cond[-1][3]:
                raise LineError(col, f"{name} without .if" if not self.cond else
                                f"{name} after .else")
            entry = self.cond[-1]
            if name == ".else":
                entry[3] = True
                entry[0] = entry[2] and not entry[1]
            else:
                entry[0] = False                    # stays false if the condition is bad
                entry[0] = entry[2] and not entry[1] and self.condition(".if", text, col)
            entry[1] = entry[1] or entry[0]
            return
        parent = self.active()
        entry = [False, False, parent, False, (self.file, self.line)]
        self.cond.append(entry)                     # pushed first: a bad condition keeps
        entry[0] = entry[1] = parent and self.condition(name, text, col)   # .endif paired

    def condition(self, name, text, col):
        if name in (".ifdef", ".ifndef", ".ifnotdef"):
            return self.defined(text.strip()) == (name == ".ifdef")
        if name in (".ifb", ".ifnb"):
            return (not text.strip()) == (name == ".ifb")
        if name in (".ifc", ".ifnc"):
            ops = split_operands(text, col)
            if len(ops) != 2:
                raise LineError(col, f"{name} needs two strings separated by a comma")
            a, b = (t.strip("'\"") if t[:1] in "'\"" else t for _, t in ops)
            return (a == b) == (name == ".ifc")
        value = self.value_now(self.parse(text, col))
        if value is None:
            raise LineError(col, f"{name} needs a constant known at this point")
        return {".if": value != 0, ".ifne": value != 0, ".ifeq": value == 0,
                ".ifgt": value > 0, ".ifge": value >= 0, ".iflt": value < 0,
                ".ifle": value <= 0}[name]

    def start_collect(self, kind, finish):
        self.collect = Collect(kind, (self.file, self.line), finish)

    def push_expansion(self, lines, label):
        if sum(1 for f in self.stack if f.kind == "macro") >= MAX_MACRO_DEPTH:
            raise LineError(0, f"macros nested deeper than {MAX_MACRO_DEPTH} "
                               "(a macro that uses itself?)")
        self.queue(len(lines))
        suffix = self.frame.suffix or f" (in {label} used at {self.file}:{self.line})"
        self.stack.append(Frame(lines, "macro", label, self.site, suffix))

    def expand_macro(self, macro, text, col):
        values = bind_arguments(macro, text, col)
        lines = substitute(macro.body, values, self.expansions, self.spend)
        self.expansions += 1
        self.push_expansion(lines, f"macro '{macro.name}'")

    def define_macro(self, text, col):
        self.start_collect("macro", lambda body: None)    # a bad header still skips the body
        macro = parse_header(text, col)
        if macro.name in self.macros:
            raise LineError(col, f"macro '{macro.name}' is already defined")

        def finish(body):
            macro.body = body
            self.macros[macro.name] = macro
        self.collect.finish = finish

    def repeat(self, bodies_of, label):
        """Collect a .rept/.irp body; `bodies_of()` checks the operands (raising LineError
        after the collection has started, so a bad count still skips the body) and returns a
        function from the body to the expanded lines."""
        self.start_collect("rept", lambda body: None)
        expand = bodies_of()
        self.collect.finish = lambda body: self.push_expansion(expand(body), label)

    def include(self, name, col):
        files = [f.name for f in self.stack if f.kind == "file"]
        if len(files) > MAX_INCLUDE_DEPTH:
            raise LineError(col, f".include nested deeper than {MAX_INCLUDE_DEPTH}")
        if name in files:
            raise LineError(col, f".include cycle: '{name}' is already being read")
        text = self.resolver(name)
        if text is None:
            raise LineError(col, f"cannot find include file '{name}'")
        if isinstance(text, Exception):             # found but refused: a FIFO, too big...
            raise LineError(col, f"cannot include '{name}': {text}")
        if isinstance(text, bytes):
            try:
                text = decode(text, name)
            except AsmError as e:
                self.diag.lines.extend(e.diagnostics)
                return
        self.push_file(text, name)

    # ---- pass 2 ----------------------------------------------------------------------------

    def pass2(self):
        pcrel_hi_at = {}
        for chunk in self.chunks.values():
            for offset, letter, how, node, where in chunk.fixups:
                if how == "pcrel_hi":
                    pc = chunk.address + offset
                    value = self.fixup_expr(node, where)
                    if value is not None:
                        pcrel_hi_at[pc] = value - pc
        for chunk in self.chunks.values():
            for offset, letter, how, node, where in chunk.fixups:
                value = self.fixup_expr(node, where)
                if value is None:
                    continue
                try:
                    if how == "data":
                        _store(chunk.data, offset, letter, value, where[2])
                    else:
                        field = fixup_value(letter, how, value, chunk.address + offset,
                                            pcrel_hi_at, where[2])
                        word = int.from_bytes(chunk.data[offset:offset + 4], "little")
                        word |= FIELDS[letter].encode(field)
                        chunk.data[offset:offset + 4] = word.to_bytes(4, "little")
                except LineError as e:
                    self.diag.add(where[0], where[1], e.col, e.message + where[3])

    def fixup_expr(self, node, where):
        try:
            return expr.evaluate(node, self.resolve_final)
        except LineError as e:
            self.diag.add(where[0], where[1], e.col, e.message + where[3])
            return None

    def program(self, sections, bss, placed):
        symbols, constants = {}, set()
        for name, (chunk, offset, _) in self.labels.items():
            if "\x02" not in name:
                symbols[name] = chunk.address + offset
        for name, value in self.equs.items():
            if type(value) is int:
                constants.add(name)
                symbols[name] = value
            elif type(value) is Rel:
                symbols[name] = value.chunk.address + value.offset
            else:                                   # defined from labels: known now
                try:
                    symbols[name] = self.resolve_final(("sym", name, 0, name))
                except LineError:
                    continue                        # refers to an undefined symbol; unused
                constants.add(name)
        line_map = {}
        for chunk in self.chunks.values():
            if chunk.kind != "drop":
                for offset, site in chunk.lines:
                    line_map.setdefault(chunk.address + offset, site)
        return Program(sections, bss, symbols, set(self.globals), line_map, placed, self.base,
                       constants, program_attributes(self.rows_used, self.arch_h,
                                                     self.explicit_attributes))


def _local_number(digits: str) -> str:
    """The numeric label "007" is "7": compared as text, since int() refuses 5000 digits."""
    return digits.lstrip("0") or "0"


def _store(data, offset, size, value, col):
    bits = 8 * size
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise LineError(col, f"value {value} does not fit in {size} byte{'s' * (size > 1)}")
    data[offset:offset + size] = (value & ((1 << bits) - 1)).to_bytes(size, "little")


def decode(source: bytes, filename: str) -> str:
    """UTF-8 text of `source`; a bad byte is an `AsmError` at its line and column."""
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as e:
        line = source.count(b"\n", 0, e.start) + 1
        col = e.start - (source.rfind(b"\n", 0, e.start) + 1) + 1
        raise AsmError([f"{filename}:{line}:{col}: invalid UTF-8 byte 0x{source[e.start]:02x} "
                        "(the source must be UTF-8 text)"]) from None

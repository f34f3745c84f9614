"""The fast path: guest basic blocks compiled to Python functions (dynamic binary translation).

This is the lecture's binary translation used for speed instead of for virtualization, the way
QEMU's TCG works (x86 analogue: QEMU TCG, or the translator inside VMware's BT monitor). The
reference interpreter in `hart.py` fetches, looks up and calls one closure per instruction; here
a run of straight-line guest code becomes *one* Python function, written as source text and
handed to `compile()`:

    guest                         Python the block compiler writes
                                  if pc == 0x8000000c:
    addi a0,a0,1                      r10 = (r10 + (1)) & 0xFFFFFFFF
    xor  a1,a0,s0                     r11 = (r10 ^ r8) & 0xFFFFFFFF
    bne  a0,s0,0x8000000c             if r10 != r8:
                                          n += 3
                                          pc = 0x8000000c
                                          if n + 3 <= budget:
                                              continue      # the hot loop stays in Python
                                          break
                                      ...

Guest registers live in Python locals inside the function and go back to `hart.x` at every
exit. A block ends after a jump or branch, before an instruction it does not compile (SYSTEM,
AMOs, anything undecodable: the hart runs those one at a time with the reference closures), at
the end of the page, or after MAX_BLOCK instructions. The blocks reachable from the first one
by constant jumps inside the same page are compiled into the same function, as the arms of an
`if pc == ...` chain in a `while` loop: control passes from block to block (they are
*chained*, in QEMU's words) without returning to the hart, so a hot loop runs entirely inside
one Python function. `explain(hart, pc)` prints the function for any pc.

Exactness: the reference interpreter is the specification and the fast path must leave exactly
the state it would (tests/test_fastpath.py checks this in lockstep on random programs):
- instructions are counted per block, and a block never starts unless it fits in the budget
  (the hart single-steps the rest), so timer interrupts land on the same instruction;
- loads and stores use the hart's page caches inline (counted as TLB hits, as the reference
  counts them) and call `hart.load`/`hart.store` for everything else: MMU walks, devices,
  misaligned accesses, stores to pages holding code or watched by the VMM;
- after such a slow access the block ends if the hart asked for it (`recheck`: a device may have
  raised an interrupt, a store may have overwritten code): interrupts are checked between blocks;
- a fault in the middle of a block is precise: the block writes its registers back and reports
  (instructions retired before the fault, pc of the faulting instruction) in `hart.block_fault`.

Blocks are cached per physical page, in the same list as the reference's decoded closures, and
keyed by virtual pc. Their code objects are kept per hart by the region's instruction words
(`CodeCache`), bounded by an estimate of their size: when full, every compiled block of the hart
is thrown away at once (QEMU's tb_flush when its code buffer is full), so a guest rewriting its
own code cannot make the host keep more, and everything dies with the hart. Anything that drops that list (a store to the page, `invalidate_code`)
drops its blocks; anything that changes the translation context (privilege, satp, hgatp, PMP,
sfence.vma / hfence.*, a trap) clears the hart's virtual-page -> code-list map, so a block is
only ever reached again through a fresh translation of its pc.
"""

import re
import struct
import sys
import weakref

from vmkit.disasm import disassemble_word
from vmkit.isa import decode

from .execute import ALU, BRANCHES, IMMEDIATE_FORMS, _div, _rem, _signed
from .trap import INSTRUCTION_MISALIGNED, Trap

MAX_BLOCK = 64          # instructions in one block
MAX_REGION = 8          # blocks chained into one function
MASK = 0xFFFFFFFF
# What compiled code costs, measured with tracemalloc on CPython 3.11 over the regions of a
# self-modifying loop: a code object takes 1.44 bytes per byte of its source, a function made
# from it (with its namespace of helpers) 1.39 KB.
CODE_BYTES_PER_SOURCE_BYTE = 1.5
FUNCTION_BYTES = 1536
# The most a hart keeps (QEMU's -accel tcg,tb-size is 1 GiB by default; we are smaller): the
# guest workloads and the test corpus compile under 2 MiB, so 16 MiB is never reached by them.
CODE_CACHE_BYTES = 16 << 20

# name -> (size, struct format (its letter also names the RAM view), sign-extended?)
LOADS = {"lb": (1, "<b", True), "lbu": (1, "<B", False), "lh": (2, "<h", True),
         "lhu": (2, "<H", False), "lw": (4, "<I", False)}
STORES = {"sb": (1, "<B"), "sh": (2, "<H"), "sw": (4, "<I")}
JUMPS = ("jal", "jalr")
# ALU operations whose result is already a 32-bit word when both operands are (an immediate
# operand must also be >= 0, except for `and`): no mask needed.
WORD_RESULTS = {"and", "or", "xor", "srl", "slt", "sltu", "divu", "remu", "mulhu"}
COMPILED = {"lui", "auipc", "fence", *JUMPS, *BRANCHES, *ALU, *IMMEDIATE_FORMS, *LOADS, *STORES}

_HELPERS = {"_signed": _signed, "_div": _div, "_rem": _rem, "Trap": Trap,
            "MISALIGNED": INSTRUCTION_MISALIGNED}
_HELPERS.update({f"read_{fmt[1]}": struct.Struct(fmt).unpack_from
                 for _, fmt, _ in LOADS.values()})
_HELPERS.update({f"write_{fmt[1]}": struct.Struct(fmt).pack_into for _, fmt in STORES.values()})
# On a little-endian host (x86, ARM, WebAssembly) guest RAM is also seen as arrays of 16- and
# 32-bit items, so an aligned access is one index operation instead of a struct call.
VIEWS = sys.byteorder == "little"


def ram_views(ram):
    """RAM as memoryviews of each load/store format: {"b": ..., "I": ...}."""
    raw = memoryview(ram).cast("B")
    return {fmt[1]: raw.cast(fmt[1]) for fmt in {f for _, f, _ in LOADS.values()}}


def scan(hart, code, start):
    """The instructions of the block at `start`, [(pc, row name, operands, word)], and the
    key its compiled code is kept by: (start, words...)."""
    instructions, words = [], []
    pc = start
    ram, base = hart.bus.ram, code[1024] - (start & ~0xFFF)
    while len(instructions) < MAX_BLOCK:
        word = int.from_bytes(ram[base + pc:base + pc + 4], "little")
        decoded = _DECODED.get(word)
        if decoded is None:
            row, ops = decode(word, aliases=False)
            decoded = _remember(_DECODED, word, (row.name if row else "", ops))
        name, ops = decoded
        if name not in COMPILED:
            break
        instructions.append((pc, name, ops, word))
        words.append(word)
        pc += 4
        if name in JUMPS or name in BRANCHES or not pc & 0xFFF:
            break
    return instructions, (start, *words)


def successors(instructions):
    """Where control may go after a block, when that is a constant (not jalr's register)."""
    pc, name, ops, _ = instructions[-1]
    if name in BRANCHES:
        return [(pc + ops["p"]) & MASK, pc + 4]
    if name == "jal":
        return [(pc + ops["a"]) & MASK]
    return [] if name == "jalr" else [pc + 4]


def region(hart, code, entry):
    """The blocks reachable from `entry` by constant jumps inside its page: {start: insns}.

    They are compiled into one function, so a loop made of several blocks (a branch inside
    the loop body) runs without returning to the hart between them: the blocks are chained.
    """
    blocks, keys, queue = {}, [], [entry]
    while queue and len(blocks) < MAX_REGION:
        start = queue.pop(0)
        if start in blocks or start >> 12 != entry >> 12:
            continue
        instructions, key = scan(hart, code, start)
        if instructions:
            blocks[start] = instructions
            keys.append(key)
            queue += successors(instructions)
    return blocks, tuple(keys)


def compile_block(hart, code, start):
    """(function, length of the first block) for the region at `start`, or None if its first
    instruction is one the fast path leaves to the reference interpreter.

    Compiling is the expensive part (a few hundred microseconds a block), so the code object
    is kept by the region's instructions (the hart's CodeCache): the same guest code in another
    run or after its page was written (but not
    changed) is not compiled again.
    """
    blocks, key = region(hart, code, start)
    if start not in blocks:
        return None
    compiled = code_cache(hart).get(hart, key, lambda: RegionWriter(start, blocks).source(),
                                    f"<block {start:#010x}>")
    if hart.ram_views is None:
        hart.ram_views = ram_views(hart.bus.ram)
    namespace = dict(_HELPERS, x=hart.x, hart=hart, ram=hart.bus.ram, lim=hart._limit,
                     **{f"ram_{fmt}": view for fmt, view in hart.ram_views.items()},
                     load_pages=hart.load_pages, store_pages=hart.store_pages,
                     load=hart.load, store=hart.store)
    exec(compiled, namespace)
    return namespace["block"], len(blocks[start])


def explain(hart, pc):
    """The Python source the fast path runs for the block at virtual address `pc` in the
    hart's current mode (raises Trap if pc cannot be fetched): for reading, in a notebook."""
    blocks, _ = region(hart, hart.fetch_page(pc), pc)
    if pc not in blocks:
        return f"# {pc:#010x}: not compiled; the reference interpreter runs it\n"
    return RegionWriter(pc, blocks).source()


class CodeCache:
    """A hart's compiled regions: code objects by (start pc, words...), and the estimated
    bytes held by them and by the functions made from them (in the hart's per-page lists)."""

    def __init__(self, limit=CODE_CACHE_BYTES):
        self.limit = limit
        self.code = {}
        self.size = 0
        self.flushes = 0

    def get(self, hart, key, source, name):
        """The code object for `key`, compiling `source()` if needed; flushes when full."""
        compiled = self.code.get(key)
        cost = FUNCTION_BYTES
        if compiled is None:
            text = source()
            cost += int(len(text) * CODE_BYTES_PER_SOURCE_BYTE)
        if self.size + cost > self.limit:
            self.flush(hart)
        if compiled is None:
            compiled = self.code[key] = compile(text, name, "exec")
        self.size += cost
        return compiled

    def flush(self, hart):
        """Forget every compiled block of `hart`; hot code is compiled again on demand. The
        per-page dicts are emptied in place: the run loop may hold one of them."""
        for code in hart.code_pages.values():
            code[1025].clear()
        self.code.clear()
        self.size = 0
        self.flushes += 1


_CACHES = weakref.WeakKeyDictionary()     # hart -> CodeCache, gone with the hart


def code_cache(hart):
    """The hart's CodeCache (made on first use)."""
    cache = _CACHES.get(hart)
    if cache is None:
        cache = _CACHES[hart] = CodeCache()
    return cache


_DECODED = {}       # word -> (row name, operands): the table lookup, once per word (bounded)


def _remember(cache, key, value, limit=1 << 14):
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


def _ram_item(fmt, size):
    """The RAM item an aligned access hits, at page offset b (from a page cache) + a's offset."""
    if not VIEWS:
        return f"read_{fmt[1]}(ram, b + (a & 0xFFF))[0]"
    index = "b + (a & 0xFFF)" if size == 1 else f"(b + (a & 0xFFF)) >> {size.bit_length() - 1}"
    return f"ram_{fmt[1]}[{index}]"


def _hex(target):
    return f"{target:#x}" if isinstance(target, int) else target


def _operand(expression, a, b):
    """An ALU or branch expression from execute.py with its operands a and b filled in."""
    expression = re.sub(r"\ba\b", a, expression)
    return re.sub(r"\bb\b", b, expression)


class RegionWriter:
    """Writes the Python source of a region: its blocks as the arms of one `if pc == ...`
    chain inside a `while` loop (see the module docstring for a one-block example).

    Invariants the generated code keeps: `pc` is the start of the block running now, `n`
    counts the instructions of the blocks completed in this call, `i` is set to an
    instruction's index in its block before anything that can fault, and a block is entered
    only if it fits in `budget` whole.
    """

    def __init__(self, entry, blocks):
        self.entry = entry
        self.blocks = blocks
        self.lines = []
        self.read, self.written = set(), set()
        self.memory = False
        self.start = self.length = 0      # of the block being written
        self.looping = False              # ... which jumps back to its own start
        self.indent = 4

    def emit(self, line, depth=0):
        self.lines.append("    " * (self.indent + depth) + line)

    def reg(self, number):
        self.read.add(number)
        return f"r{number}"

    def source(self):
        for arm, (start, instructions) in enumerate(self.blocks.items()):
            self.start, self.length = start, len(instructions)
            self.looping = start in successors(instructions)
            self.indent = 4
            self.emit(f"{'if' if arm == 0 else 'elif'} pc == {start:#x}:", -1)
            if self.looping:              # its own inner loop: no dispatch per iteration
                self.emit("while True:")
                self.indent = 5
            for k, (pc, name, ops, word) in enumerate(instructions):
                self.emit(f"# {pc:#010x}: " + disassemble_word(word, pc).replace("\t", " "))
                self.instruction(k, pc, name, ops)
            last_pc, last, _, _ = instructions[-1]
            if last not in JUMPS and last not in BRANCHES:
                self.leave(last_pc + 4)
            if self.looping:              # left the loop: on to the next block, or return
                self.indent = 4
                for target in successors(instructions):
                    if target != start and target in self.blocks:
                        self.chain(target, test_pc=True)
                self.emit("break")
        self.lines += ["            else:", "                break"]   # never spin on a pc
        registers = sorted((self.read | self.written) - {0})
        prologue = [f"r{r} = x[{r}]" for r in registers]
        prologue += ["r0 = 0", f"pc = {self.entry:#x}", "n = i = dh = 0"]
        epilogue = [f"x[{r}] = r{r}" for r in sorted(self.written)]
        if self.memory:
            epilogue.append("hart.data_hits += dh")
        out = ["def block(budget):"] + ["    " + line for line in prologue]
        out += ["    try:", "        while True:"] + self.lines
        out += ["    except BaseException:"] + ["        " + line for line in epilogue]
        out += ["        hart.block_fault = (n + i, pc + 4 * i)", "        raise"]
        out += ["    " + line for line in epilogue] + ["    return pc, n"]
        return "\n".join(out) + "\n"

    # -- exits ------------------------------------------------------------------------------
    def leave(self, target, depth=0):
        """End the block: go on to `target` here if it is a block of this region that still
        fits in the budget, else return it to the hart."""
        self.emit(f"n += {self.length}", depth)
        if self.looping and target == self.start:     # round the inner loop again
            self.emit(f"if n + {self.length} <= budget:", depth)
            self.emit("continue", depth + 1)
            self.emit("break", depth)
            return
        self.emit(f"pc = {_hex(target)}", depth)
        if not self.looping:
            self.chain(target, depth)
        self.emit("break", depth)

    def chain(self, target, depth=0, test_pc=False):
        """Go on to block `target` here if it belongs to this region and fits in the budget.
        After a self-loop, `test_pc`: only if that loop left for `target` (the loop also
        ends when the budget runs out or the hart asks to stop, with pc elsewhere)."""
        if target in self.blocks:
            test = f"pc == {target:#x} and " if test_pc else ""
            self.emit(f"if {test}n + {len(self.blocks[target])} <= budget:", depth)
            self.emit("continue", depth + 1)

    def leave_early(self, k, pc, depth):
        """After a slow memory access: stop here if the hart asked to look at interrupts."""
        self.emit("if not lim[0]:", depth)
        self.emit(f"n += {k + 1}", depth + 1)
        self.emit(f"pc = {pc + 4:#x}", depth + 1)
        self.emit("break", depth + 1)

    def target(self, k, target, depth=0):
        """A jump to a constant target; a misaligned one faults on the jump (IALIGN=32)."""
        if target & 3:
            self.emit(f"i = {k}", depth)
            self.emit(f"raise Trap(MISALIGNED, {target:#x})", depth)
        else:
            self.leave(target, depth)

    # -- instructions -----------------------------------------------------------------------
    def instruction(self, k, pc, name, ops):
        d, s, t = ops.get("d", 0), ops.get("s", 0), ops.get("t", 0)
        if d:
            self.written.add(d)
        if name in LOADS:
            return self.load(k, pc, name, d, s, ops["o"])
        if name in STORES:
            return self.store(k, pc, name, s, t, ops["q"])
        if name in BRANCHES:
            condition = _operand(BRANCHES[name], self.reg(s), self.reg(t))
            self.emit(f"if {condition}:")
            self.target(k, (pc + ops["p"]) & MASK, depth=1)
            return self.leave(pc + 4)
        if name == "jal":
            if d:
                self.emit(f"r{d} = {(pc + 4) & MASK:#x}")
            return self.target(k, (pc + ops["a"]) & MASK)
        if name == "jalr":
            self.emit(f"target = ({self.reg(s)} + {ops['o']}) & 0xFFFFFFFE")
            self.emit("if target & 3:")
            self.emit(f"i = {k}", 1)
            self.emit("raise Trap(MISALIGNED, target)", 1)
            if d:
                self.emit(f"r{d} = {(pc + 4) & MASK:#x}")
            return self.leave("target")
        if not d or name == "fence":
            return                            # no effect but being counted
        if name == "lui":
            return self.emit(f"r{d} = {(ops['u'] << 12) & MASK:#x}")
        if name == "auipc":
            return self.emit(f"r{d} = {(pc + (ops['u'] << 12)) & MASK:#x}")
        if name in IMMEDIATE_FORMS:
            immediate = ops.get("j", ops.get(">", 0))
            base = IMMEDIATE_FORMS[name]
            expression = _operand(ALU[base], self.reg(s), f"({immediate})")
            in_range = base in WORD_RESULTS and (immediate >= 0 or base == "and")
        else:
            expression = _operand(ALU[name], self.reg(s), self.reg(t))
            in_range = name in WORD_RESULTS
        # The mask is only needed where Python's result can leave 0..2**32-1.
        self.emit(f"r{d} = {expression}" if in_range else f"r{d} = ({expression}) & 0xFFFFFFFF")

    def address(self, s, offset, size, cache):
        """Emit the effective address and the page-cache probe; returns the slow-path test."""
        self.memory = True
        register = self.reg(s)          # registers always hold 0..2**32-1
        self.emit(f"a = {register}" if offset == 0 else
                  f"a = ({register} + {offset}) & 0xFFFFFFFF")
        self.emit(f"b = {cache}.get(a >> 12)")
        return "b is None" + (f" or a & {size - 1}" if size > 1 else "")

    def load(self, k, pc, name, d, s, offset):
        size, fmt, signed = LOADS[name]
        destination = f"r{d}" if d else "_"
        self.emit(f"if {self.address(s, offset, size, 'load_pages')}:")
        self.emit(f"i = {k}", 1)
        self.emit(f"{destination} = load(a, {size})", 1)
        if signed and d:
            sign, extend = 1 << (8 * size - 1), (1 << 32) - (1 << (8 * size))
            self.emit(f"if {destination} & {sign}: {destination} |= {extend}", 1)
        self.leave_early(k, pc, 1)
        self.emit("else:")
        self.emit("dh += 1", 1)
        value = _ram_item(fmt, size)
        self.emit(f"{destination} = {value}" + (" & 0xFFFFFFFF" if signed else ""), 1)

    def store(self, k, pc, name, s, t, offset):
        size, fmt = STORES[name]
        value = self.reg(t) + ("" if size == 4 else f" & {(1 << 8 * size) - 1}")
        self.emit(f"if {self.address(s, offset, size, 'store_pages')}:")
        self.emit(f"i = {k}", 1)
        self.emit(f"store(a, {size}, {value})", 1)
        self.leave_early(k, pc, 1)
        self.emit("else:")
        self.emit("dh += 1", 1)
        if VIEWS:
            self.emit(f"{_ram_item(fmt, size)} = {value}", 1)
        else:
            self.emit(f"write_{fmt[1]}(ram, b + (a & 0xFFF), {value})", 1)

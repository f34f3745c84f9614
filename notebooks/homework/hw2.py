"""Homework 2 (memory virtualization), the student's side: your variant's questions, the small
guests they are about, and the checks that tell you what is wrong. It holds no answers: those
are measured by the instructors' autograder when your notebook is graded.

    import hw2
    variant = hw2.Variant.of("your student ID")
    print(variant.text())

As in homework 1 (and OSTEP's simulators), a seed picks the problem; the seed is a hash of your
student ID. The guests are built here so that you can run them yourself: `touch_program` (one
load from a fresh page: question 1) and `trace_program` (a short trace of loads and stores:
question 3). Lecture names: page table (*laptábla*), TLB, nested paging (x86: EPT/NPT), shadow
page table (*árnyék laptábla*).
"""

import hashlib
import random
import traceback

from vmkit.asm import assemble

# PTE bits (privileged spec figure 4.18): the ones a shadow leaf is made of.
V, R, W, X, U, G, A, D = (1 << i for i in range(8))
KERNEL = 0x8000_0000                   # guest RAM: the guest's code, tables and pages
VA = 0x4000_0000                       # the virtual addresses the questions are about

# q1: (engine, G-stage leaf size, the guest maps VA with a 4 MiB megapage). `emulate` walks
# the guest's table in software; `hw` walks it in hardware, through the G-stage (hgatp).
Q1_CONFIGS = [("native", None, False), ("native", None, True),
              ("emulate", None, False), ("emulate", None, True),
              ("hw", 4096, False), ("hw", 4096, True),
              ("hw", 4 << 20, False), ("hw", 4 << 20, True)]
# q3: how the guest's table maps a page: its leaf PTE (0: not mapped).
PAGE_KINDS = {"read-write": V | R | W, "read-write, A and D set": V | R | W | A | D,
              "read-only": V | R, "not mapped": 0}
# q4: why a RISC-V VMM may sync shadows lazily; one option is right, the order is seeded.
Q4_OPTIONS = [
    "A RISC-V guest cannot store to its own page tables: it changes them through hypercalls "
    "to the VMM, which updates the shadow at the same time.",
    "RISC-V's TLB is tagged with ASIDs, so it never holds a stale translation and the shadow "
    "never needs to be synchronized.",
    "The spec lets a hart use a stale translation until sfence.vma, also for address spaces "
    "it is not running (the kernel must fence with their ASID), so a shadow is a TLB the guest "
    "already has to flush; an x86 kernel relied on `mov cr3` flushing the TLB and never "
    "announced its edits of other spaces' tables, so the VMM had to write-protect them.",
    "x86 page tables have no accessed and dirty bits, so the VMM had to watch each store to "
    "them to keep those bits itself.",
    "Under trap-and-emulate a RISC-V hart walks the guest's own page tables, so the shadow is "
    "only a hint that may be stale.",
]


def seed_of(student_id):
    """A stable seed from a student ID (sha256: Python's hash() changes between runs)."""
    text = "" if student_id is ... else str(student_id).strip()
    if not text:
        raise ValueError("put your student ID in STUDENT_ID first, e.g. STUDENT_ID = \"AB12CD\"")
    return int.from_bytes(hashlib.sha256(b"vmkit-hw2:" + text.encode()).digest()[:4], "big")


class Variant:
    """The configurations and the trace of one seed's questions (never the answers)."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.seed = seed
        # q1: one configuration with nested paging, one other.
        self.q1a = rng.choice([c for c in Q1_CONFIGS if c[0] == "hw"])
        self.q1b = rng.choice([c for c in Q1_CONFIGS if c != self.q1a])
        # q3: four pages A-D of each kind, touched once each and three times more.
        kinds = list(PAGE_KINDS)
        rng.shuffle(kinds)
        self.pages = dict(zip("ABCD", kinds))
        trace = [(rng.choice(("load", "store")), page) for page in "ABCD"]
        trace += [(rng.choice(("load", "store")), rng.choice("ABCD")) for _ in range(3)]
        rng.shuffle(trace)
        self.trace = trace
        # q4: the options in a seeded order, lettered a-e.
        self.q4_options = rng.sample(Q4_OPTIONS, len(Q4_OPTIONS))

    @classmethod
    def of(cls, student_id):
        """The variant of `student_id`; an example variant (with a note) while it is unset."""
        if student_id is ... or not str(student_id).strip():     # (seed_of would refuse it)
            print("STUDENT_ID is not set: these are the questions of an example variant. Put "
                  "your ID in (STUDENT_ID = \"AB12CD\") and run the cell again: you are graded "
                  "on the variant of your ID.\n")
            return cls(0)
        return cls(seed_of(student_id))

    def questions(self):
        pages = ", ".join(f"{page} {VA + 4096 * i:#x} {kind}"
                          for i, (page, kind) in enumerate(self.pages.items()))
        trace = ", ".join(f"{op} {page}" for op, page in self.trace)
        options = "\n".join(f"  ({letter}) {text}"
                            for letter, text in zip("abcde", self.q4_options))
        return {
            "q1": f"touch_program loads once from a fresh page, with a cold TLB. How many page "
                  f"table entries does that one TLB miss read (q1a) {describe(*self.q1a)}, and "
                  f"(q1b) {describe(*self.q1b)}?",
            "q2": "Write shadow_pte(guest_pte, host_frame, user, mxr): the shadow leaf a VMM "
                  "makes for one guest PTE.",
            "q3": f"Under `trap`, the guest kernel pages ({pages}; its table sets no A or D bit "
                  f"unless named) and runs this trace in S-mode, skipping any access that "
                  f"faults: {trace}. How many of its accesses make a hidden fault (q3_hidden), "
                  f"how many a true fault (q3_true)?",
            "q4": "Why may a RISC-V VMM update its shadow page tables only when the guest "
                  "executes sfence.vma, while VMware's VMM had to write-protect the guest's x86 "
                  f"page tables? (q4, a letter)\n{options}",
        }

    def text(self):
        return "\n\n".join(f"{name}: {text}" for name, text in self.questions().items())


def describe(engine, gstage_page, megapage):
    """A q1 configuration in words."""
    guest = "a 4 MiB megapage" if megapage else "a 4 KiB page"
    if engine == "hw":
        leaves = "4 KiB" if gstage_page == 4096 else "4 MiB"
        return f"under `hw` with {leaves} G-stage leaves, the guest mapping VA with {guest}"
    return f"under `{engine}`, the guest mapping VA with {guest}"


# -- the guests ----------------------------------------------------------------------------

SETUP = """
    .option norvc
    .equ VA, {VA:#x}
    .equ KERNEL, {KERNEL:#x}
    .equ MEGA_RWX, 0xCF                  # V R W X A D
    .equ SBI_SRST, 0x53525354
    .globl _start
_start:
    la t0, root
    li t1, (KERNEL >> 22) * 4            # root[KERNEL >> 22]: the code, identity megapage
    add t1, t0, t1
    li t2, (KERNEL >> 12) << 10 | MEGA_RWX
    sw t2, 0(t1)
"""
LEAF_TABLE = """
    la t3, leaves                        # root[VA >> 22] -> the leaf table
    srli t2, t3, 12
    slli t2, t2, 10
    ori t2, t2, 1
    li t1, (VA >> 22) * 4
    add t1, t0, t1
    sw t2, 0(t1)
"""
PAGING_ON = """
    la t1, skip                          # a fault (q3) skips the access
    csrw stvec, t1
    srli t0, t0, 12                      # satp = Sv32 | root
    li t1, 0x80000000
    or t0, t0, t1
    csrw satp, t0
    sfence.vma                           # a cold TLB
    nop                                  # (its fetch puts the code page back)
"""
SHUTDOWN = """
    li a0, 0                             # SBI system_reset: shutdown
    li a1, 0
    li a7, SBI_SRST
    li a6, 0
    ecall
1:  j 1b
skip:
    csrr t6, sepc                        # the faulting access: go on after it
    addi t6, t6, 4
    csrw sepc, t6
    sret
    .align 12
root:   .space 4096
leaves: .space 4096
"""


def touch_program(megapage=False):
    """Question 1's guest: it maps VA (a 4 KiB page, or a 4 MiB megapage), turns paging on,
    flushes its TLB and loads once from VA at the label `touch`. The load's fetch hits the
    TLB, so the load's data access is the run's only TLB miss between `touch` and shutdown."""
    if megapage:                         # root[VA >> 22]: VA -> KERNEL, a megapage
        mapping = """
    li t1, (VA >> 22) * 4
    add t1, t0, t1
    li t2, (KERNEL >> 12) << 10 | 0xC7   # V R W A D
    sw t2, 0(t1)
    la t4, data                          # VA + (data - KERNEL) is data
    li t5, VA - KERNEL
    add t5, t5, t4
"""
    else:
        mapping = LEAF_TABLE + """
    la t4, data                          # leaves[0]: VA -> data, 4 KiB
    srli t2, t4, 12
    slli t2, t2, 10
    ori t2, t2, 0xC7                     # V R W A D
    sw t2, 0(t3)
    li t5, VA
"""
    text = (SETUP + mapping + "    li t2, 0x5a5a\n    sw t2, 0(t4)\n" + PAGING_ON
            + "touch:\n    lw a0, 0(t5)                         # the walk in question\n"
            + SHUTDOWN + "data: .space 4096\n")
    return assemble(text.format(VA=VA, KERNEL=KERNEL), "touch.s")


def trace_program(pages, trace):
    """Question 3's guest: its table maps page i of `pages` (a dict letter -> kind of
    PAGE_KINDS) at VA + 4096 i, then it runs `trace` [(op, letter)] in S-mode from the label
    `trace`; a page fault skips the access (the handler `skip`)."""
    letters = list(pages)
    mapping = [LEAF_TABLE]
    for i, letter in enumerate(letters):
        bits = PAGE_KINDS[pages[letter]]
        mapping.append(f"""
    la t4, page{letter}                  # leaves[{i}]: page {letter}
    srli t2, t4, 12
    slli t2, t2, 10
    ori t2, t2, {bits}
    sw t2, {4 * i}(t3)
""" if bits else "")
    accesses = [f"    li t5, VA + {4096 * letters.index(page)}\n"
                + ("    lw t6, 0(t5)\n" if op == "load" else "    sw zero, 0(t5)\n")
                for op, page in trace]
    text = (SETUP + "".join(mapping) + PAGING_ON + "trace:\n" + "".join(accesses) + SHUTDOWN
            + "".join(f"page{letter}: .space 4096\n" for letter in letters))
    return assemble(text.format(VA=VA, KERNEL=KERNEL), "trace.s")


# -- checks the student may run (public): the form of an answer, never its value ---------------

def check_count(name, value):
    """q1, q3: a count is a whole number, not negative."""
    if value is ... or value is None:
        return print(f"{name} has no answer yet: replace the ... with a number")
    if isinstance(value, bool) or not isinstance(value, int):
        return print(f"{name} must be a whole number (an int), not {type(value).__name__}")
    if value < 0:
        return print(f"{name} is negative: it counts memory references or faults")
    print("ok")


def check_letter(value):
    """q4: one of the options' letters."""
    if not isinstance(value, str) or value.strip().lower() not in tuple("abcde"):
        return print("q4 must be one of the letters 'a' to 'e', in quotes")
    print("ok")


# -- q2: shadow_pte, checked bit by bit, then inside the trap engine ----------------------------

FRAME = 0x8030_5000                    # a host frame the checks hand to shadow_pte
LEAF_KINDS = (R, R | W, X, R | X, R | W | X)       # valid leaves (W alone is reserved)


def guest_ptes():
    """(guest PTE, user view) pairs a VMM can meet when it fills a shadow: A is always set
    (the VMM has just set it), D only after a store; a U-mode view only sees U=1 pages."""
    for leaf in LEAF_KINDS:
        for extra in (0, D, U, U | D, G, U | G | D):
            pte = 0x0007_7000 << 10 | V | A | leaf | extra      # some guest-physical frame
            for user in ((False, True) if pte & U else (False,)):
                yield pte, user


def shadow_pte_problems(shadow_pte):
    """What is wrong with `shadow_pte`, as sentences (empty: nothing found)."""
    for pte, user in guest_ptes():
        for mxr in (False, True):
            case = (f"(guest PTE {pte:#010x}: {bit_names(pte)}; user={user}, mxr={mxr}, "
                    f"host_frame={FRAME:#x})")
            try:
                leaf = shadow_pte(pte, FRAME, user, mxr)
            except Exception:
                return ["shadow_pte raised an exception " + case + ":\n" + traceback.format_exc()]
            problems = _leaf_problems(leaf, pte, user, mxr)
            if problems:
                return [f"{p} {case}" for p in problems]
    return []


def _leaf_problems(leaf, pte, user, mxr):
    if isinstance(leaf, bool) or not isinstance(leaf, int) or not 0 <= leaf < 1 << 32:
        return [f"shadow_pte must return a 32-bit PTE (an int), not {leaf!r}"]
    problems = []
    if leaf >> 10 != FRAME >> 12:
        problems.append("the leaf's PPN (bits 31:10) must be host_frame >> 12: the shadow maps "
                        "straight to the host frame")
    if not leaf & V:
        problems.append("V must be set: the shadow leaf is valid")
    if not leaf & U:
        problems.append("U must be set: virtual S and virtual U both run in real U-mode")
    if leaf & (A | D) != A | D:
        problems.append("A and D must be set in the shadow leaf: the VMM keeps A and D in the "
                        "guest's PTE, and the hart must never write them into the VMM's table")
    if leaf & G:
        problems.append("G must be clear: one host ASID serves every shadow, and switching "
                        "shadows flushes that ASID, which a global entry would survive")
    if leaf & 0x300:
        problems.append("the RSW bits (9:8) are the guest's software's; leave them 0")
    readable = bool(pte & R or mxr and pte & X)
    if bool(leaf & R) != readable:
        problems.append("R: readable when the guest PTE has R, or X with mxr (MXR makes "
                        "executable pages readable)" if readable else
                        "R must be clear: the shadow never allows what the guest PTE does not")
    writable = bool(pte & W and pte & D)
    if bool(leaf & W) != writable:
        problems.append("W only once the guest PTE is dirty (D): the first store must fault, so "
                        "that the VMM sets D in the guest's PTE" if pte & W else
                        "W must be clear: the guest PTE does not allow stores")
    executable = bool(pte & X and (user or not pte & U))
    if bool(leaf & X) != executable:
        problems.append("X as the guest PTE's, but never for a U=1 page in the S view "
                        "(user=False): S-mode never executes user pages" if pte & X else
                        "X must be clear: the guest PTE does not allow execution")
    return problems


def bit_names(pte):
    return " ".join(name for name, bit in zip("VRWXUGAD", (V, R, W, X, U, G, A, D))
                    if pte & bit) or "none"


# Guests whose run under `trap` with shadow_pte must show what native hardware shows: the
# paging benchmarks (a kernel with user tasks, fork, mprotect, demand paging) and a trace.
CHECK_TRACE = ({"A": "read-write", "B": "read-write, A and D set", "C": "read-only",
                "D": "not mapped"},
               [("load", "A"), ("store", "A"), ("load", "B"), ("store", "C"), ("load", "C"),
                ("store", "B"), ("load", "D"), ("store", "A")])
_native = {}


def _guests():
    from vmkit import guest
    yield "the trace guest", trace_program(*CHECK_TRACE)
    for name in guest.PAGING:
        yield name, guest.build(name, iterations=3)


def _finish(vm):
    """(console, registers and CSRs, guest RAM) after a run: what the guest can see."""
    stop = vm.run(3_000_000)
    if stop.reason != "shutdown":
        return f"did not finish: {stop.reason} {stop.message}"
    return bytes(vm.console), vm.engine.guest_state(), vm.read_guest(KERNEL, vm.ram_size)


def paging_problem(shadow_pte):
    """Run the paging guests under `trap` with `shadow_pte`; '' when each one sees exactly what
    it sees natively (console, registers, CSRs, every byte of its RAM: its page tables' A and D
    bits too), else what differs."""
    from vmkit.vmm.vm import VirtualMachine
    for name, program in _guests():
        if name not in _native:
            _native[name] = _finish(VirtualMachine(program, engine="native"))
        vm = VirtualMachine(program, engine="trap")
        vm.engine.shadows.student_shadow_pte = shadow_pte
        try:
            seen = _finish(vm)
        except Exception:
            return f"{name} under trap with shadow_pte raised an exception:\n" + \
                traceback.format_exc()
        if isinstance(seen, str):
            return f"{name} under trap with shadow_pte {seen}"
        for what, mine, native in zip(("printed something else",
                                       "ended with other registers or CSRs",
                                       "left other bytes in its RAM (a page table's A or D "
                                       "bits?)"), seen, _native[name]):
            if mine != native:
                return f"{name} under trap with shadow_pte {what} than on hardware"
    return ""


def check_shadow_pte(shadow_pte):
    """q2: print what is wrong with `shadow_pte` (one rule at a time), or 'ok'."""
    if not callable(shadow_pte):
        return print("shadow_pte must be a function of four arguments: guest_pte, host_frame, "
                     "user, mxr")
    problems = shadow_pte_problems(shadow_pte) or [paging_problem(shadow_pte)]
    print("\n".join(p for p in problems if p) or "ok")

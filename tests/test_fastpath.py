"""The fast path (compiled blocks, vmkit/hw/blocks.py) against the reference interpreter.

The reference interpreter is the specification. Three kinds of check:
* lockstep: random programs (loops, loads and stores that hit, miss, fault or reach a device,
  self-modifying code, calls, misaligned jumps, CSR access, ecall, timer interrupts, with Sv32
  on or off) run on two machines, one per path, in slices; after every slice (one block, or a
  random number of instructions) the full architectural state and every counter must agree;
* the QEMU-golden corpus and every guest workload under every engine give identical results
  on both paths;
* targeted cases: a fault in the middle of a block, code that rewrites itself inside a hot
  loop, the same virtual page mapped to other code after a satp write, a privilege change.

Tests set `Hart.hot = 0` where they want every block compiled on its first visit.
"""

import random

import pytest
from hypothesis import given, settings, strategies as st

from corpus import INCLUDE_DIR, PROGRAMS, expected
from vmkit import guest, lab
from vmkit.asm import assemble, assemble_file
from vmkit.hw.hart import Hart
from vmkit.hw.machine import Machine
from vmkit.vmm.engines import ENGINES, engine_class

# -- observing a machine ---------------------------------------------------------------------

HART_INTERNALS = {"bus", "clint", "plic", "mmu", "csrs", "trace", "poll", "decoded",
                  "code_pages", "fetch_pages", "load_pages", "store_pages", "watched_pages",
                  "trace_log", "_limit", "block_fault", "exit", "fast", "intercept",
                  "breakpoints", "quirks", "hot", "ram_views"}


def state(machine):
    """Everything architectural (registers, pc, modes, every CSR, RAM, devices) and every
    counter (instructions, traps, TLB hits/misses/flushes/evictions, page-walk reads)."""
    hart = machine.hart
    hart.sync_counters()
    tlb, mmu = hart.mmu.tlb, hart.mmu
    fields = {name: value for name, value in vars(hart).items()
              if name not in HART_INTERNALS}
    fields["tlb"] = (tlb.hits, tlb.misses, tlb.flushes, tlb.evictions)
    fields["walks"] = (mmu.walks, mmu.walk_references)
    fields["clint"] = (machine.clint.mtime, machine.clint.mtimecmp, machine.clint.msip)
    fields["console"] = bytes(machine.console_output)
    fields["ram"] = bytes(machine.bus.ram)
    return fields


def differences(a, b):
    return {key: (a[key], b[key]) for key in a if a[key] != b[key] and key != "ram"} or (
        "ram differs" if a["ram"] != b["ram"] else None)


def block_length_at(hart):
    """Length of the compiled block at pc (so a slice of that size runs exactly it), or 1."""
    code = hart.fetch_pages.get(hart.pc >> 12)
    block = code[1025].get(hart.pc) if code is not None else None
    return block[1] if isinstance(block, tuple) else 1


def lockstep(program, seed, ram_size=1 << 20, limit=200_000):
    """Run `program` on both paths in slices; compare after each slice. Returns the slices."""
    rng = random.Random(seed)
    fast, reference = Machine(ram_size=ram_size, fast=True), Machine(ram_size=ram_size,
                                                                     fast=False)
    for machine in (fast, reference):
        machine.load_program(program)
    fast.hart.hot = rng.choice((0, 0, 1, 3))
    slices = retired = 0
    while retired < limit:
        budget = block_length_at(fast.hart) if rng.random() < 0.6 else rng.randint(1, 80)
        exit_fast, exit_reference = fast.run(budget), reference.run(budget)
        slices += 1
        retired += budget
        assert exit_fast._replace(message="") == exit_reference._replace(message=""), slices
        diff = differences(state(fast), state(reference))
        assert diff is None, f"after slice {slices} (budget {budget}): {diff}"
        if exit_fast.reason != "budget":
            return slices, exit_fast
    raise AssertionError("the random program did not finish")


# -- random programs -------------------------------------------------------------------------

REGS = ["a0", "a1", "a2", "a3", "a4", "a5", "s2", "s3", "t3", "t4"]
ALU = ["add", "sub", "and", "or", "xor", "sll", "srl", "sra", "slt", "sltu", "mul", "mulh",
       "mulhsu", "mulhu", "div", "divu", "rem", "remu"]
ALU_IMM = ["addi", "andi", "ori", "xori", "slti", "sltiu"]
SHIFT_IMM = ["slli", "srli", "srai"]
LOADS = ["lw", "lh", "lhu", "lb", "lbu"]
STORES = ["sw", "sh", "sb"]
# Addresses that are not plain RAM: unmapped/outside RAM (a fault), the UART (a device).
ODD_ADDRESSES = [0x0, 0x8020_0000, 0x9000_0000, 0x1000_0005, 0x1000_0000]
ADDI_A0_5 = 0x00550513            # addi a0,a0,5: what the self-modifying code writes

PRELUDE = """
        .option norvc
        .text
        .globl _start
.macro ARM_TIMER                         # the handler uses t1: arm it after the set-up
.if TIMER
        li      t0, 0x2004000            # CLINT mtimecmp
        li      t1, TIMER
        sw      t1, 0(t0)
        sw      zero, 4(t0)
        li      t0, 0x80                 # mie.MTIE (S-mode always takes M interrupts)
        csrs    mie, t0
.endif
.endm
_start: la      t0, handler
        csrw    mtvec, t0
.if SV32
        li      t0, 0xFFFFFFFF           # PMP: everything, for S-mode
        csrw    pmpaddr0, t0
        li      t0, 0x1F
        csrw    pmpcfg0, t0
        la      t0, leaf_table           # identity map of 4 MiB from 0x80000000, 4 KiB pages
        li      t1, 0x80000000 >> 12
        li      t2, 1024
1:      slli    a0, t1, 10
        ori     a0, a0, 0xCF             # V R W X A D
        sw      a0, 0(t0)
        addi    t0, t0, 4
        addi    t1, t1, 1
        addi    t2, t2, -1
        bnez    t2, 1b
        la      t0, leaf_table
        srli    t0, t0, 12
        slli    t0, t0, 10
        ori     t0, t0, 1
        la      t1, root_table
        li      t2, 0x200 * 4
        add     t2, t1, t2
        sw      t0, 0(t2)
        srli    t1, t1, 12
        li      t0, 1 << 31
        or      t0, t0, t1
        csrw    satp, t0
        sfence.vma
        ARM_TIMER
        li      t0, 1 << 11              # mret to S-mode at body
        csrw    mstatus, t0
        la      t0, body
        csrw    mepc, t0
        li      t2, 0
        mret
.endif
        ARM_TIMER
        csrsi   mstatus, 8               # mstatus.MIE, for the M-mode body
        li      t2, 0
        j       body

# M-mode trap handler: the finishing ecall (t2 = 0x600D) powers off; other exceptions step
# over the faulting instruction; the timer interrupt re-arms the timer PERIOD later.
handler:
        csrw    mscratch, t0
        li      t1, 0x600D
        beq     t2, t1, finish
        csrr    t0, mcause
        bltz    t0, 2f
        csrr    t0, mepc
        addi    t0, t0, 4
        csrw    mepc, t0
        csrr    t0, mscratch
        mret
2:      li      t0, 0x2004000
        lw      t1, 0(t0)
        addi    t1, t1, PERIOD
        sw      t1, 0(t0)
        csrr    t0, mscratch
        mret
finish:
        li      t0, 0x100000
        li      t1, 0x5555
        sw      t1, 0(t0)
3:      j       3b

body:   la      s1, data
"""

EPILOGUE = """
        li      t2, 0x600D
        ecall
{subroutines}
        .data
        .balign 4
data:   .word 0x11111111, 0x82222222, 0x33333383, 0x44444444, 0, 0, 0, 0
        .bss
        .balign 4096
root_table: .space 4096
leaf_table: .space 4096
"""


class Generator:
    """Random straight-line code with loops, calls and forward branches (so it ends)."""

    def __init__(self, rng):
        self.rng = rng
        self.label = 0
        self.subroutines = []

    def fresh(self):
        self.label += 1
        return f"L{self.label}"

    def reg(self):
        return self.rng.choice(REGS)

    def simple(self):
        """One instruction that neither branches nor ends a block by itself."""
        rng, r = self.rng, self.reg
        kind = rng.randrange(9)
        if kind == 0:
            return f"{rng.choice(ALU)} {r()}, {r()}, {r()}"
        if kind == 1:
            return f"{rng.choice(ALU_IMM)} {r()}, {r()}, {rng.randrange(-2048, 2048)}"
        if kind == 2:
            return f"{rng.choice(SHIFT_IMM)} {r()}, {r()}, {rng.randrange(32)}"
        if kind == 3:
            return f"lui {r()}, {rng.randrange(1 << 20)}"
        if kind == 4:
            return f"auipc {r()}, {rng.randrange(1 << 20)}"
        if kind in (5, 6):       # data accesses, sometimes misaligned
            offset = rng.randrange(30)
            if kind == 5:
                return f"{rng.choice(LOADS)} {rng.choice(REGS + ['zero'])}, {offset}(s1)"
            return f"{rng.choice(STORES)} {r()}, {offset}(s1)"
        if kind == 7:
            return f"li {r()}, {rng.randrange(-2**31, 2**31)}"
        return "fence"

    def item(self, depth=0):
        rng = self.rng
        kind = rng.randrange(14)
        if kind <= 4:
            return self.simple()
        if kind == 5 and depth == 0:       # a counted loop: a self-looping block
            label = self.fresh()
            body = "\n".join(self.item(1) if rng.random() < 0.2 else self.simple()
                             for _ in range(rng.randint(1, 5)))
            return (f"li t6, {rng.randint(1, 60)}\n{label}:\n{body}\n"
                    f"addi t6, t6, -1\nbnez t6, {label}")
        if kind == 6:                      # a load or store that is not plain RAM
            address = rng.choice(ODD_ADDRESSES)
            op = rng.choice([f"lw {self.reg()}", f"lbu {self.reg()}", f"sb {self.reg()}"])
            return f"li a6, {address:#x}\n{op}, 0(a6)"
        if kind == 7:                      # a forward branch over one item
            label = self.fresh()
            branch = rng.choice(["beq", "bne", "blt", "bge", "bltu", "bgeu"])
            return f"{branch} {self.reg()}, {self.reg()}, {label}\n{self.simple()}\n{label}:"
        if kind == 8:                      # code that rewrites the instruction after it
            label = self.fresh()
            fence = "fence.i\n" if rng.random() < 0.5 else ""
            return (f"la a6, {label}\nli a7, {ADDI_A0_5:#x}\nsw a7, 0(a6)\n{fence}"
                    f"{label}: addi a0, a0, 1")
        if kind == 9 and depth == 0:       # a call
            name = f"sub{len(self.subroutines)}"
            self.subroutines.append(f"{name}:\n" + "\n".join(
                self.simple() for _ in range(rng.randint(1, 4))) + "\nret")
            return f"call {name}"
        if kind == 10:                     # a misaligned jump: faults on the jalr
            return "la a6, 1f\naddi a6, a6, 2\njalr zero, 0(a6)\n1:"
        if kind == 11:
            return rng.choice(["csrr a0, sscratch", "csrw sscratch, a1", "ecall",
                               "rdinstret a2", "csrr a3, mscratch", ".word 0",
                               "amoadd.w a4, a1, (s1)", "lr.w a5, (s1)", "sc.w a3, a2, (s1)"])
        return self.simple()

    def program(self, length, sv32, timer):
        body = "\n".join(self.item() for _ in range(length))
        header = (f".equ SV32, {int(sv32)}\n.equ TIMER, {timer}\n"
                  f".equ PERIOD, {self.rng.randint(40, 400)}\n")
        return header + PRELUDE + body + EPILOGUE.format(
            subroutines="\n".join(self.subroutines))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 60), sv32=st.booleans(),
       timer=st.sampled_from([0, 0, 30, 150, 700]))
def test_lockstep_random_programs(seed, length, sv32, timer):
    source = Generator(random.Random(seed)).program(length, sv32, timer)
    program = assemble(source, "random.s")
    slices, exit = lockstep(program, seed)
    assert exit.reason == "poweroff" and exit.code == 0, exit.describe()


# -- the corpus and the guest workloads, on both paths ------------------------------------------

class eager:
    """Compile every block on its first visit (instead of after `Hart.hot` visits)."""

    def __enter__(self):
        self.saved, Hart.hot = Hart.hot, 0

    def __exit__(self, *error):
        Hart.hot = self.saved


def _include(name):
    path = INCLUDE_DIR / name
    return path.read_text() if path.is_file() else None


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_corpus_identical_on_both_paths(program):
    """Each QEMU-golden program: the QEMU output on both paths, and the same final state."""
    image = assemble_file(program, include=_include)
    want_output, want_status = expected(program)
    finals = []
    for fast in (False, True):
        machine = Machine(ram_size=16 << 20, fast=fast)
        machine.load_program(image)
        with eager():
            exit = machine.run(20_000_000)
        assert bytes(machine.console_output) == want_output, ("fast" if fast else "reference")
        assert exit.reason == "poweroff" and exit.code == want_status, exit.describe()
        finals.append((exit, state(machine)))
    assert finals[0][0] == finals[1][0]
    assert differences(finals[0][1], finals[1][1]) is None


# A paging workload only under the engines that run guest paging (the others refuse it:
# tests/test_paging_guest.py), so no pair here is a skip.
RUNNABLE = [(workload, engine) for workload in sorted(guest.WORKLOADS) for engine in ENGINES
            if workload not in guest.PAGING or engine_class(engine).paging_mode]


@pytest.mark.parametrize("workload, engine", RUNNABLE)
def test_workloads_identical_on_both_paths(workload, engine):
    """Every counter a notebook shows (exits, TLB, walks, the bt cache...) is path-independent."""
    results = [lab.run(workload, engine, fast=False)]
    with eager():
        results.append(lab.run(workload, engine, fast=True))
    a, b = (r.to_dict() for r in results)
    for result in (a, b):
        result.pop("wall_s")
    assert a == b
    assert results[0].exit_code == 0


def test_random_guest_code_equivalent_under_every_engine_with_eager_blocks():
    """test_equivalence's random privileged kernels, with every block compiled."""
    from test_equivalence import build, observe
    for seed in range(12):
        program = assemble(build(seed, 5 + 3 * seed), "random.s")
        with eager():
            reference = observe(program, "native")
            assert all(observe(program, engine) == reference for engine in ENGINES)


# -- targeted cases ------------------------------------------------------------------------------

def _machine(source, fast=True, ram_size=1 << 20):
    machine = Machine(ram_size=ram_size, fast=fast)
    machine.load_program(assemble(".option norvc\n.text\n.globl _start\n" + source, "t.s"))
    machine.hart.hot = 0
    return machine


def test_fault_in_the_middle_of_a_block_is_precise():
    source = """
_start: la   t0, handler
        csrw mtvec, t0
        li   a0, 1
        li   a1, 2
        lw   a2, 0(zero)        # access fault: a0, a1 written, a3 not
        li   a3, 3
handler:
        li   t0, 0x100000
        li   t1, 0x5555
        sw   t1, 0(t0)
"""
    machine, reference = _machine(source), _machine(source, fast=False)
    assert machine.run(1000).reason == reference.run(1000).reason == "poweroff"
    hart = machine.hart
    assert hart.mcause == 5 and hart.mtval == 0
    assert hart.mepc == machine.symbols["_start"] + 4 * 5      # la is two instructions
    assert hart.x[10:14] == [1, 2, 0, 0]
    assert hart.instret == reference.hart.instret == 5 + 4     # 5 before the fault, handler 4


def test_code_rewritten_inside_a_hot_loop_runs_the_new_code():
    """From iteration 10 on, the loop overwrites its own `addi a0,a0,1` with `addi a0,a0,5`."""
    source = f"""
_start: li   t6, 20
        la   a6, patch
        li   a7, {ADDI_A0_5:#x}
        li   a0, 0
loop:   li   t5, 10
        bgt  t6, t5, 1f
        sw   a7, 0(a6)
1:
patch:  addi a0, a0, 1
        addi t6, t6, -1
        bnez t6, loop
        li   t0, 0x100000
        li   t1, 0x5555
        sw   t1, 0(t0)
"""
    for fast in (False, True):
        machine = _machine(source, fast)
        assert machine.run(10_000).reason == "poweroff"
        assert machine.hart.x[10] == 10 * 1 + 10 * 5, fast


def test_same_virtual_page_after_satp_write_runs_the_other_code():
    """One virtual page, two page tables mapping it to two different physical pages."""
    source = """
_start: li   t0, -1
        csrw pmpaddr0, t0
        li   t0, 0x1F
        csrw pmpcfg0, t0
        la   t0, handler
        csrw mtvec, t0
        # Root tables A and B: megapage 0x80000000 identity (kernel), and virtual page
        # 0x40000000 mapped through leaf tables to code_a or code_b.
        la   a0, root_a
        la   a1, leaf_a
        la   a2, code_a
        call build
        la   a0, root_b
        la   a1, leaf_b
        la   a2, code_b
        call build
        la   t0, root_a
        srli t0, t0, 12
        li   t1, 1 << 31
        or   s2, t0, t1           # satp A
        la   t0, root_b
        srli t0, t0, 12
        or   s3, t0, t1           # satp B
        csrw satp, s2
        li   t0, 1 << 11
        csrw mstatus, t0
        la   t0, kernel
        csrw mepc, t0
        mret
build:  li   t0, 0x200 * 4        # root[0x200]: megapage 0x80000000, V R W X A D
        add  t0, a0, t0
        li   t1, (0x80000000 >> 12 << 10) | 0xCF
        sw   t1, 0(t0)
        srli t1, a1, 12           # root[0x100] -> leaf (0x40000000 >> 22 = 0x100)
        slli t1, t1, 10
        ori  t1, t1, 1
        sw   t1, 0x100 * 4(a0)
        srli t1, a2, 12           # leaf[0] -> the code page, V R X A D
        slli t1, t1, 10
        ori  t1, t1, 0xCB
        sw   t1, 0(a1)
        ret
kernel: li   s4, 0x40000000
        li   a0, 0
        li   s5, 15
1:      csrw satp, s2             # the same virtual address, through table A ...
        sfence.vma
        jalr s4
        csrw satp, s3             # ... and through table B
        sfence.vma
        jalr s4
        addi s5, s5, -1
        bnez s5, 1b
        ecall
handler:
        li   t0, 0x100000
        li   t1, 0x5555
        sw   t1, 0(t0)
        .balign 4096
code_a: addi a0, a0, 1
        ret
        .balign 4096
code_b: addi a0, a0, 100
        ret
        .bss
        .balign 4096
root_a: .space 4096
root_b: .space 4096
leaf_a: .space 4096
leaf_b: .space 4096
"""
    results = []
    for fast in (False, True):
        machine = _machine(source, fast)
        assert machine.run(100_000).reason == "poweroff"
        results.append(state(machine))
    assert results[1]["x"][10] == 15 * 1 + 15 * 100
    assert differences(*results) is None


def test_privilege_change_refetches_through_the_new_mode():
    """A block compiled in M-mode, later reached from U-mode where it may not run."""
    source = """
_start: la   t0, handler
        csrw mtvec, t0
        li   s0, 0                # PMP: U may execute nothing but `user`'s page
        la   t1, user
        srli t1, t1, 2
        ori  t1, t1, 0x1FF        # NAPOT: 4 KiB at user
        csrw pmpaddr0, t1
        li   t0, 0x1D             # NAPOT, R X
        csrw pmpcfg0, t0
        li   s1, 20
1:      call shared               # compiled and hot in M-mode
        addi s1, s1, -1
        bnez s1, 1b
        la   t0, user
        csrw mepc, t0
        csrw mstatus, zero        # MPP = U
        mret
shared: addi s0, s0, 1
        ret
handler:
        csrr s2, mcause
        li   t0, 0x100000
        li   t1, 0x5555
        sw   t1, 0(t0)
        .balign 4096
user:   call shared               # instruction access fault: PMP forbids U here
"""
    for fast in (False, True):
        machine = _machine(source, fast)
        assert machine.run(100_000).reason == "poweroff"
        assert machine.hart.x[8] == 20 and machine.hart.x[18] == 1, fast   # mcause 1


def test_budget_is_exact_inside_a_hot_loop():
    machine = _machine("""
_start: li a0, 0
1:      addi a0, a0, 1
        j 1b
""")
    for budget in (1, 2, 3, 5, 1000, 12345):
        before = machine.hart.instret
        assert machine.run(budget).reason == "budget"
        assert machine.hart.instret - before == budget


def test_tracing_and_breakpoints_use_the_reference_interpreter():
    lines = []
    machine = _machine("""
_start: li a0, 0
1:      addi a0, a0, 1
        j 1b
""")
    machine.hart.trace = lines.append
    machine.run(50)
    assert len(lines) == 50
    assert not any(code[1025] for code in machine.hart.code_pages.values())
    machine.hart.trace = None
    machine.run(50)
    assert any(code[1025] for code in machine.hart.code_pages.values())

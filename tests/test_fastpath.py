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
from vmkit.vmm.engines import ENGINES

# -- observing a machine ---------------------------------------------------------------------

HART_INTERNALS = {"bus", "clint", "plic", "mmu", "csrs", "trace", "poll", "decoded",
                  "code_pages", "fetch_pages", "load_pages", "store_pages", "watched_pages",
                  "trace_log", "_limit", "block_fault", "exit", "fast", "intercept",
                  "breakpoints", "quirks", "hot"}


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

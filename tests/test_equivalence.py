"""Equivalence (Popek & Goldberg; the lecture's transparency): random guest kernel code,
privileged instructions included, leaves the same guest-visible state under every engine.

Each example is a random straight-line S-mode program (forward branches only, so it ends)
with a trap handler that records causes and steps over faulting instructions. What is
compared: every register, pc, the supervisor CSRs, the console, and the guest instruction
count (so even the counters the guest reads back, rdinstret and rdtime, must agree).

Left out on purpose: the hypervisor and VS CSRs (bare-metal `native` shows the host's H
extension to its kernel, a virtual machine hides it), satp writes (guest paging comes later),
stvec writes (they would lose the handler), sret/wfi in the body (they change control flow;
the handler's sret is exercised on every trap).
"""

import random

from hypothesis import given, settings, strategies as st

from vmkit.asm import assemble
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.vm import VirtualMachine

REGS = ["a0", "a1", "a2", "a3", "a4", "s2", "s3", "t3", "t4"]
ALU = ["add", "sub", "and", "or", "xor", "sll", "srl", "sra", "slt", "sltu", "mul", "mulh",
       "mulhu", "div", "divu", "rem", "remu"]
ALU_IMM = ["addi", "andi", "ori", "xori", "slti", "sltiu"]
S_CSRS = ["sstatus", "sie", "sip", "sscratch", "sepc", "scause", "stval", "scounteren"]
ILLEGAL = [".word 0", "csrr a0, mstatus", "csrw mtvec, a1", "mret", ".word 0xffffffff"]

PRELUDE = """
        .text
        .globl _start
_start: la      t0, handler
        csrw    stvec, t0
        la      s1, data
        j       body
# Record the cause; step over exceptions, clear a software interrupt and return.
handler:
        csrr    t5, scause
        add     s4, s4, t5
        addi    s5, s5, 1
        bltz    t5, 1f
        csrr    t6, sepc
        addi    t6, t6, 4
        csrw    sepc, t6
        sret
1:      csrci   sip, 2
        sret
body:
"""
EPILOGUE = """
        li      a7, 0x53525354
        li      a6, 0
        li      a0, 0
        li      a1, 0
        ecall
        .data
        .balign 4
data:   .word 0x11111111, 0x22222222, 0x33333333, 0x44444444
"""


def random_line(rng, label_count):
    r = lambda: rng.choice(REGS)
    kind = rng.randrange(12)
    if kind == 0:
        return f"{rng.choice(ALU)} {r()}, {r()}, {r()}"
    if kind == 1:
        return f"{rng.choice(ALU_IMM)} {r()}, {r()}, {rng.randrange(-2048, 2048)}"
    if kind == 2:
        return f"li {r()}, {rng.randrange(-2**31, 2**31)}"
    if kind == 3:
        return f"lw {r()}, {4 * rng.randrange(4)}(s1)"
    if kind == 4:
        return f"sw {r()}, {4 * rng.randrange(4)}(s1)"
    if kind == 5:
        return f"csrr {r()}, {rng.choice(S_CSRS)}"
    if kind == 6:
        op = rng.choice(["csrw", "csrs", "csrc"])
        return f"{op} {rng.choice(S_CSRS)}, {r()}"
    if kind == 7:
        op = rng.choice(["csrwi", "csrsi", "csrci"])
        return f"{op} {rng.choice(['sstatus', 'sie', 'sip'])}, {rng.randrange(32)}"
    if kind == 8:
        return rng.choice(ILLEGAL + ["ebreak"])
    if kind == 9:
        return f"{rng.choice(['rdinstret', 'rdtime', 'rdcycle'])} {r()}"
    if kind == 10:   # an SBI call with a random (mostly unknown) extension
        return f"li a7, {rng.choice([0x10, 0x99, 0x4442434E])}\n li a6, {rng.randrange(3)}\n ecall"
    return f"{rng.choice(['beq', 'bne', 'blt', 'bgeu'])} {r()}, {r()}, {label_count}f"


def build(seed, length):
    rng = random.Random(seed)
    lines = []
    for i in range(length):
        lines.append(random_line(rng, i + 1))
        lines.append(f"{i + 1}:")
    return PRELUDE + "\n".join(lines) + EPILOGUE


def observe(program, engine):
    vm = VirtualMachine(program, engine=engine)
    stop = vm.run(100_000)
    state = vm.engine.guest_state()
    return (stop.reason, stop.code, bytes(vm.console), vm.counters.guest_instructions,
            state["x"], state["pc"], tuple(sorted(state["csrs"].items())))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 40))
def test_random_guest_code_is_equivalent_under_every_engine(seed, length):
    program = assemble(build(seed, length), "random.s")
    reference = observe(program, "native")
    assert reference[0] == "shutdown"
    for engine in ENGINES:
        assert observe(program, engine) == reference, engine

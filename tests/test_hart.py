"""The hart: instruction semantics per class, trap and interrupt paths, the run loop's exits.

Expected values come from the spec, computed here independently of vmkit's own execute.py
(two's-complement arithmetic written out with Python integers), or stated with the spec
section that defines them.
"""

import random

import pytest
from hypothesis import given, settings, strategies as st

from vmkit.asm import assemble
from vmkit.hw.csr import MPIE, MPP, MSTATUSH_MPV, SPP
from vmkit.hw.machine import Machine
from vmkit.hw.trap import INTERRUPT_BIT
from vmkit.isa import BY_NAME, REGISTERS, encode

RAM = 0x8000_0000
words32 = st.integers(0, 2**32 - 1)


def s32(v):
    v &= 0xFFFFFFFF
    return v - 2**32 if v >> 31 else v


# `halt`: power off through the sifive_test finisher (clobbers t5, t6).
HALT = """
.macro halt
        li t6, 0x100000
        li t5, 0x5555
        sw t5, 0(t6)
        j .
.endm
"""


def run_source(source, budget=100_000, **machine_options):
    machine = Machine(ram_size=1 << 20, **machine_options)
    machine.load_program(assemble(HALT + source, "test.s"))
    exit = machine.run(budget)
    return machine, exit


def one(name, **operands):
    """Encode one instruction from the table (registers by name)."""
    row = next(r for r in BY_NAME[name] if not r.alias)
    values = {c: 0 for c in row.fields()}
    for key, value in operands.items():
        values[key] = REGISTERS[value] if isinstance(value, str) else value
    return encode(row, values)


def execute_one(word, a, b):
    """Run `word` with a0=a, a1=b in M-mode; return a2."""
    machine = Machine(ram_size=1 << 16)
    machine.bus.write_bytes(RAM, word.to_bytes(4, "little"))
    hart = machine.hart
    hart.pc = RAM
    hart.x[10], hart.x[11] = a, b
    hart.step()
    assert hart.pc == RAM + 4, "the instruction trapped"
    return hart.x[12]


# --- arithmetic: RV32I and M against independent definitions --------------------------------

REFERENCE = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
    "sll": lambda a, b: a << (b % 32), "srl": lambda a, b: a >> (b % 32),
    "sra": lambda a, b: s32(a) >> (b % 32),
    "slt": lambda a, b: int(s32(a) < s32(b)), "sltu": lambda a, b: int(a < b),
    "xor": lambda a, b: a ^ b, "or": lambda a, b: a | b, "and": lambda a, b: a & b,
    "mul": lambda a, b: a * b,
    "mulh": lambda a, b: (s32(a) * s32(b)) >> 32,
    "mulhsu": lambda a, b: (s32(a) * b) >> 32,
    "mulhu": lambda a, b: (a * b) >> 32,
    # Spec 7.2 table 7.1: x/0 = -1 (all ones), x%0 = x; overflow -2^31/-1 = -2^31, rem 0.
    "div": lambda a, b: -1 if b == 0 else (s32(a) if (s32(a), s32(b)) == (-2**31, -1)
                                            else int(s32(a) / s32(b))),
    "divu": lambda a, b: 2**32 - 1 if b == 0 else a // b,
    "rem": lambda a, b: a if b == 0 else (0 if (s32(a), s32(b)) == (-2**31, -1)
                                          else s32(a) - s32(b) * int(s32(a) / s32(b))),
    "remu": lambda a, b: a if b == 0 else a % b,
}
EDGES = [0, 1, 2, 31, 32, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 12345]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_register_register_edges(name):
    word = one(name, d="a2", s="a0", t="a1")
    for a in EDGES:
        for b in EDGES:
            assert execute_one(word, a, b) == REFERENCE[name](a, b) & 0xFFFFFFFF, (name, a, b)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(REFERENCE)), a=words32, b=words32)
def test_register_register_random(name, a, b):
    assert execute_one(one(name, d="a2", s="a0", t="a1"), a, b) == REFERENCE[name](a, b) & 0xFFFFFFFF


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["addi", "slti", "sltiu", "xori", "ori", "andi"]),
       a=words32, imm=st.integers(-2048, 2047))
def test_register_immediate(name, a, imm):
    # The 12-bit immediate is sign-extended to 32 bits first (spec 2.4), also for sltiu.
    b = imm & 0xFFFFFFFF
    expected = REFERENCE[name[:-1] if name != "sltiu" else "sltu"](a, b) & 0xFFFFFFFF
    assert execute_one(one(name, d="a2", s="a0", j=imm), a, 0) == expected


@pytest.mark.parametrize("name", ["slli", "srli", "srai"])
def test_shift_immediate(name):
    for a in EDGES:
        for shamt in (0, 1, 7, 31):
            expected = REFERENCE[name[:3]](a, shamt) & 0xFFFFFFFF
            assert execute_one(one(name, d="a2", s="a0", **{">": shamt}), a, 0) == expected


def test_x0_stays_zero():
    machine, exit = run_source("""
        _start: li x0, 5
                addi x0, x0, 1
                lui x0, 0x12345
                mv a0, x0
                halt
    """)
    assert machine.hart.x[0] == 0 and machine.hart.x[10] == 0


# --- loads, stores, jumps ----------------------------------------------------------------------

def test_loads_sign_and_zero_extend():
    machine, _ = run_source("""
        _start: la t0, data
                lb a0, 0(t0)
                lbu a1, 0(t0)
                lh a2, 0(t0)
                lhu a3, 0(t0)
                lw a4, 0(t0)
                lw a5, 3(t0)        # misaligned: QEMU performs it, so do we
                halt
        .data
        data: .word 0x8081f0f1, 0x11223344
    """)
    x = machine.hart.x
    assert x[10] == 0xFFFFFFF1 and x[11] == 0xF1
    assert x[12] == 0xFFFFF0F1 and x[13] == 0xF0F1
    assert x[14] == 0x8081F0F1 and x[15] == 0x22334480


def test_stores_and_jalr_clears_bit_zero():
    machine, _ = run_source("""
        _start: la t0, data
                li t1, 0xAABBCCDD
                sb t1, 0(t0)
                sh t1, 4(t0)
                sw t1, 8(t0)
                la t2, target
                addi t2, t2, 1       # jalr ignores bit 0 of the target (spec 2.5)
                jalr ra, 0(t2)
                li a0, 1             # skipped
        target: lw a1, 0(t0)
                lw a2, 4(t0)
                lw a3, 8(t0)
                halt
        .data
        data: .word 0, 0, 0
    """)
    x = machine.hart.x
    assert (x[11], x[12], x[13]) == (0xDD, 0xCCDD, 0xAABBCCDD)
    assert x[10] == 0


# --- traps ---------------------------------------------------------------------------------------

def test_illegal_instruction_traps_to_mtvec_with_the_word_in_mtval():
    machine, exit = run_source("""
        _start: la t0, handler
                csrw mtvec, t0
        bad:    .word 0xFFFFFFFF
        handler:
                csrr a0, mcause
                csrr a1, mtval
                csrr a2, mepc
                la a3, bad
                halt
    """, budget=100)
    x = machine.hart.x
    assert x[10] == 2 and x[11] == 0xFFFFFFFF and x[12] == x[13]


def test_ecall_from_user_delegated_to_supervisor():
    # M delegates ecall-from-U (cause 8) to S; a U-mode ecall lands at stvec with
    # scause=8 and sstatus.SPP=0 (came from U); then sret returns to U.
    machine, exit = run_source("""
        _start: la t0, s_handler
                csrw stvec, t0
                li t0, 1 << 8
                csrw medeleg, t0
                li t0, -1
                csrw pmpaddr0, t0
                li t0, 0x1f
                csrw pmpcfg0, t0
                la t0, user
                csrw mepc, t0
                mret                    # MPP = 0 after reset: to U-mode
        user:   ecall
                li s1, 0x5e
                ecall
        s_handler:
                csrr a0, scause
                csrr a1, sstatus
                addi s0, s0, 1
                li t0, 2
                beq s0, t0, 1f
                csrr t0, sepc
                addi t0, t0, 4
                csrw sepc, t0
                sret
        1:      halt
    """, budget=200)
    x = machine.hart.x
    assert x[10] == 8 and not x[11] & SPP and x[9] == 0x5E and x[8] == 2


def test_intercepted_trap_returns_to_the_caller_without_changing_state():
    machine = Machine(ram_size=1 << 20)
    machine.load_program(assemble("_start: li a7, 1\n ecall\n li a0, 1\n ebreak\n"))
    machine.hart.intercept.add("M")
    exit = machine.run(100)
    assert exit.reason == "trap" and exit.target == "M" and exit.cause == 11
    assert exit.pc == RAM + 4 and machine.hart.mcause == 0      # not delivered
    machine.hart.intercept.clear()
    machine.hart.pc += 4                                        # the caller handled it
    machine.hart.intercept.add("M")
    exit = machine.run(100)
    assert machine.hart.x[10] == 1 and exit.cause == 3          # then the ebreak


def test_virtual_instruction_from_vs_mode():
    # VS-mode reading hstatus: HS-mode could, so it is a virtual-instruction exception (22)
    # with the instruction word in mtval (spec 8.6.1).
    machine, exit = run_source("""
        _start: la t0, handler
                csrw mtvec, t0
                li t0, -1
                csrw pmpaddr0, t0
                li t0, 0x1f
                csrw pmpcfg0, t0
                li t0, 1 << 11          # MPP = S
                csrw mstatus, t0
                li t0, 1 << 7           # mstatush.MPV = 1: mret enters VS
                csrw mstatush, t0
                la t0, guest
                csrw mepc, t0
                mret
        guest:  csrr a0, hstatus
        handler:
                csrr a0, mcause
                csrr a1, mtval
                csrr a2, mstatush
                csrr a3, mstatus
                halt
    """, budget=200)
    x = machine.hart.x
    assert x[10] == 22
    assert x[11] == one("csrrs", d="a0", E=0x600, s="zero")
    assert x[12] & MSTATUSH_MPV                      # the trap came from V=1
    assert (x[13] & MPP) >> 11 == 1                  # ... in S-mode: VS


def test_timer_interrupt_is_taken_at_a_deterministic_instruction():
    source = """
        _start: la t0, handler
                csrw mtvec, t0
                li t0, 0x2004000        # mtimecmp
                li t1, 500
                sw t1, 0(t0)
                sw zero, 4(t0)
                li t0, 1 << 7
                csrw mie, t0
                csrsi mstatus, 8
        1:      addi a0, a0, 1
                j 1b
        handler:
                csrr a1, mcause
                halt
    """
    results = set()
    for budget in (10_000, 777, 1234):          # how the caller slices time must not matter
        machine = Machine(ram_size=1 << 20)
        machine.load_program(assemble(HALT + source))
        while machine.run(budget).reason == "budget" and machine.hart.instret < 5000:
            pass
        results.add((machine.hart.x[10], machine.hart.x[11]))
    assert len(results) == 1, results
    (count, cause), = results
    assert cause == INTERRUPT_BIT | 7 and count > 100


def test_wfi_without_wakeup_source_exits():
    machine, exit = run_source("_start: wfi\n j _start\n")
    assert exit.reason == "wfi" and exit.pc == RAM + 4


def test_breakpoint_stops_before_the_instruction():
    machine = Machine(ram_size=1 << 20)
    program = assemble("_start: li a0, 1\nstop: li a0, 2\n ebreak\n")
    machine.load_program(program)
    machine.hart.breakpoints.add(program.symbols["stop"])
    exit = machine.run(100)
    assert exit.reason == "breakpoint" and exit.pc == program.symbols["stop"]
    assert machine.hart.x[10] == 1


def test_breakpoint_on_the_trap_handler_of_the_first_instruction():
    """Resuming at a breakpoint skips only that one; when the instruction there traps, a
    breakpoint on the handler still stops the run (the stepping loop ends its stretch at a
    trap, and the next stretch is not "the first" any more)."""
    machine = Machine(ram_size=1 << 20)
    program = assemble("_start: la t0, handler\n csrw mtvec, t0\n"
                       "bad: .word 0\n li a0, 1\nhandler: li a0, 2\n j handler\n")
    machine.load_program(program)
    machine.hart.breakpoints.update({program.symbols["bad"], program.symbols["handler"]})
    assert machine.run(100).pc == program.symbols["bad"]
    exit = machine.run(100)
    assert exit.reason == "breakpoint" and exit.pc == program.symbols["handler"]
    assert exit.instructions == 0 and machine.hart.x[10] == 0    # stopped on the first visit
    assert machine.hart.mcause == 2


def test_mret_restores_mie_from_mpie():
    machine, _ = run_source("""
        _start: li t0, (3 << 11) | (1 << 7)     # MPP = M, MPIE = 1
                csrw mstatus, t0
                la t0, next
                csrw mepc, t0
                mret
        next:   csrr a0, mstatus
                halt
    """)
    status = machine.hart.x[10]
    assert status & 8 and status & MPIE and (status & MPP) == 0   # MIE=1, MPIE=1, MPP=U


def test_finisher_and_htif_power_off_codes():
    _, exit = run_source("_start: li t0, 0x100000\n li t1, (7 << 16) | 0x3333\n sw t1, 0(t0)\n j .\n")
    assert exit.reason == "poweroff" and exit.code == 7
    _, exit = run_source("""
        _start: la t0, tohost
                li t1, (5 << 1) | 1
                sw t1, 0(t0)
                sw zero, 4(t0)
        1:      j 1b
        .data
        .balign 8
        tohost: .dword 0
        fromhost: .dword 0
    """.replace(".dword 0", ".word 0, 0"))
    assert exit.reason == "poweroff" and exit.code == 5


# --- robustness: a guest can never make run() raise or escape ---------------------------------

@settings(max_examples=40, deadline=None)
@given(st.lists(words32, min_size=1, max_size=64), st.integers(0, 2**32 - 1))
def test_random_code_never_breaks_the_run_loop(words, seed):
    machine = Machine(ram_size=1 << 16)
    data = b"".join(w.to_bytes(4, "little") for w in words)
    machine.bus.write_bytes(RAM, data)
    rng = random.Random(seed)
    machine.hart.x[1:] = [rng.getrandbits(32) for _ in range(31)]
    machine.hart.x[2] = RAM + 0x8000
    machine.hart.mtvec = RAM                  # traps loop back into the random code
    exit = machine.run(2_000)
    assert exit.reason in {"budget", "poweroff", "reset", "wfi"}, exit


def test_every_instruction_in_the_table_has_semantics_and_nothing_else_does():
    # One table: the hart executes exactly the non-alias rows; SYSTEM rows are executed by
    # system.py, everything else by a closure from execute.py.
    from vmkit.hw import execute, system
    from vmkit.isa import BASE
    names = {row.name for row in BASE}
    assert names == set(execute.MAKERS)
    assert set(system.HANDLERS) == set(execute.SERIALIZING)
    assert set(execute.SERIALIZING) <= names


def test_zero_triggers_as_the_debug_spec_describes():
    """Sdtrig with no triggers (debug spec 1.0, 5.7): tselect is WARL and holds only 0, tdata1
    reads type 0 ("no trigger at this tselect") with dmode/data hard-wired to 0, tdata2/3 read
    0, tinfo of a trigger that does not exist "contains 1"; writes are ignored, nothing traps
    in M-mode. (Spike --triggers=0 gives the same except tinfo = 0, against the spec's text.)"""
    machine, exit = run_source("""
        _start: li t0, 5
                csrw tselect, t0
                csrr a0, tselect
                li t0, -1
                csrw tdata1, t0
                csrr a1, tdata1
                csrw tdata2, t0
                csrr a2, tdata2
                csrw tdata3, t0
                csrr a3, tdata3
                csrw tinfo, t0
                csrr a4, tinfo
                halt
    """)
    assert exit.reason == "poweroff" and machine.hart.traps == 0
    assert machine.hart.x[10:15] == [0, 0, 0, 0, 1]


@pytest.mark.parametrize("mode", ["S", "VS"])
def test_trigger_csrs_are_m_mode_only(mode):
    """0x7A0-0x7A4 are M-level CSRs (bits 9:8 = 3): illegal below M, also in VS (not a
    virtual-instruction exception: privileged spec 8.6.1)."""
    machine, _ = run_source(f"""
        _start: la t0, handler
                csrw mtvec, t0
                li t0, -1               # PMP: all memory RWX for S/U
                csrw pmpaddr0, t0
                li t0, 0x1f
                csrw pmpcfg0, t0
                li t0, 1 << 11          # MPP = S
                csrw mstatus, t0
                li t0, {1 << 7 if mode == "VS" else 0}
                csrw mstatush, t0       # MPV
                la t0, guest
                csrw mepc, t0
                mret
        guest:  csrr a0, tinfo
        handler:
                csrr a1, mcause
                csrr a2, mtval
                halt
    """)
    assert machine.hart.x[11] == 2                       # illegal instruction
    assert machine.hart.x[12] == one("csrrs", d="a0", E=0x7A4, s="zero")

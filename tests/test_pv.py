"""The `pv` engine and the paravirtual build of the guest kernels (priv.inc with PV = 1).

Expected outputs come from the native build under `native` (the yardstick); expected exit
counts from reading priv.inc and the workload sources (reasoning in the comments); SBI error
codes from the SBI specification v2.0, table 1; section bytes from GNU as + ld.
"""

import re
import subprocess
from importlib import resources

import pytest

from conftest import need_tool
from vmkit.asm import assemble
from vmkit.guest import INCLUDES, WORKLOADS, build, source
from vmkit.vmm.engines.pv import EID_PV
from vmkit.vmm.vm import VirtualMachine

MICRO = ("syscall", "io", "csr", "callret", "trapinsn")
SUCCESS, NOT_SUPPORTED, INVALID_PARAM, DENIED, INVALID_ADDRESS = 0, -2, -3, -4, -5


def run(program, engine, budget=3_000_000):
    vm = VirtualMachine(program, engine=engine)
    return vm, vm.run(budget)


def exits(name, engine, iterations, pv):
    vm, stop = run(build(name, iterations=iterations, pv=pv), engine)
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    return vm.counters.exits


# -- the PV builds run, and print what the native builds print ---------------------------------

@pytest.mark.parametrize("name", MICRO)
def test_pv_build_prints_what_native_prints(name):
    native, stop = run(build(name), "native")
    assert (stop.reason, stop.code) == ("shutdown", 0)
    vm, stop = run(build(name, pv=True), "pv")
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    assert bytes(vm.console) == bytes(native.console)
    # Not one privileged instruction was left to trap: every one went through priv.inc.
    assert vm.counters.exits["illegal_instruction"] == 0
    # At least REGISTER_VCPU_PAGE and SET_TRAP_VECTOR (micro.inc's priv_csrw stvec).
    assert vm.counters.exits["hypercall"] >= 2


TASK_LINE = re.compile(r"task ([AB]): i=\d+ pid=\d+$")


def task_lines(console):
    """Each task's own lines, in order (the kernel's timer lines may fall elsewhere: the PV
    build runs a different number of instructions between two timer interrupts)."""
    lines = bytes(console).decode().splitlines()
    return {task: [line for line in lines if TASK_LINE.match(line) and line[5] == task]
            for task in "AB"}


@pytest.mark.parametrize("console_sbi", [False, True], ids=["uart", "sbi"])
def test_pv_tinyos_runs_its_tasks_like_native(console_sbi):
    native, stop = run(build("tinyos", console_sbi=console_sbi), "native")
    assert (stop.reason, stop.code) == ("shutdown", 0)
    vm, stop = run(build("tinyos", pv=True, console_sbi=console_sbi), "pv")
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    assert task_lines(vm.console) == task_lines(native.console)
    assert len(task_lines(vm.console)["B"]) == 7         # ITERATIONS + 2 (tinyos.s)
    assert vm.counters.exits["illegal_instruction"] == 0
    # Timer interrupts were delivered through the shared page: the kernel counted them.
    assert vm.counters.exits["interrupt"] > 0
    assert b"kernel: all tasks exited after " in bytes(vm.console)


def test_native_build_under_pv_is_trap_and_emulate():
    """No vCPU page registered: the pv engine is the trap engine, exit for exit."""
    pv, stop = run(build("syscall", iterations=10), "pv")
    assert (stop.reason, stop.code) == ("shutdown", 0)
    trap, _ = run(build("syscall", iterations=10), "trap")
    assert pv.counters.as_dict() == trap.counters.as_dict()
    assert pv.engine.guest_state() == trap.engine.guest_state()


# -- what paravirtualization saves -------------------------------------------------------------

def per_iteration(name, engine, pv):
    """Exits per loop trip: the difference between 60 and 10 trips, over 50. Both counts have
    two digits, so the final "N iterations done" line costs the same."""
    few, many = exits(name, engine, 10, pv), exits(name, engine, 60, pv)
    return {kind: (many[kind] - few[kind]) / 50 for kind in set(few) | set(many)
            if many[kind] != few[kind]}


def test_csr_cli_sti_without_exits():
    # priv_csrci/csrsi sstatus, SIE are a store of VIF in the shared page (and a load of
    # PENDING, which stays 0: sie = 0 in csr.s). Under trap, each is an emulated instruction.
    assert per_iteration("csr", "pv", pv=True) == {}
    assert per_iteration("csr", "trap", pv=False) == {"illegal_instruction": 2}


def test_syscall_costs_fewer_exits():
    # pv, per syscall: the ecall from virtual U (reflected) + TRAP_RETURN = 2; the handler's
    # csrw sscratch / csrr scause, sepc, sscratch / csrw sepc are loads and stores.
    # trap: the ecall + those 5 CSR accesses + sret = 7.
    pv = per_iteration("syscall", "pv", pv=True)
    trap = per_iteration("syscall", "trap", pv=False)
    assert pv == {"ecall": 1, "hypercall": 1}
    assert trap == {"ecall": 1, "illegal_instruction": 6}
    assert sum(pv.values()) < sum(trap.values())


def test_trapinsn_exception_goes_through_the_page():
    # Per illegal instruction: its exception (reflected, cause and sepc into the page) +
    # TRAP_RETURN; the handler's scause/sepc/sscratch accesses are loads and stores.
    assert per_iteration("trapinsn", "pv", pv=True) == {"exception": 1, "hypercall": 1}


# -- without a PV hypervisor, the PV build fails cleanly ---------------------------------------

@pytest.mark.parametrize("engine", ["native", "trap", "hw", "emulate"])
def test_pv_build_needs_the_pv_engine(engine):
    # REGISTER_VCPU_PAGE is an unknown SBI extension there: NOT_SUPPORTED, so pv_boot prints
    # why and powers off with SRST reason "system failure" (exit code 1).
    vm, stop = run(build("csr", pv=True), engine)
    assert (stop.reason, stop.code) == ("shutdown", 1)
    assert bytes(vm.console) == (b"kernel: no paravirtual hypervisor (the PV build needs the "
                                 b"pv engine)\n")
    assert vm.sbi.calls[(EID_PV, 0)] == 1


# -- hostile hypercalls: an SBI error, never a Python exception --------------------------------

HYPERCALLS = """
        .equ    PV_EID, {eid}
        .text
_start: {setup}
        li      a7, PV_EID
        li      a6, {fid}
        {load_a0}
        li      a1, {a1}
        ecall
        la      t0, result
        sw      a0, 0(t0)
        sw      a1, 4(t0)
        li      a0, 0
        li      a1, 0
        li      a7, 0x53525354             # SRST: shutdown
        li      a6, 0
        ecall
        .data
result: .word   0x11111111, 0x22222222
pair:   .word   {pair}
        .bss
        .balign 4096
page:   .space  4096
"""
REGISTER = """la      a0, page
        li      a7, PV_EID
        li      a6, 0
        ecall
        bnez    a0, _start"""            # (loops forever if registering fails: budget stop)


def hypercall(fid, a0=0, a1=0, registered=True, pair="0, 0"):
    """Run one hypercall from a tiny kernel; `a0` is a number or a label. -> (vm, a0, a1)."""
    load = f"la      a0, {a0}" if isinstance(a0, str) else f"li      a0, {a0}"
    text = HYPERCALLS.format(eid=EID_PV, fid=fid, load_a0=load, a1=a1, pair=pair,
                             setup=REGISTER if registered else "")
    program = assemble(text, "hyper.s")
    vm, stop = run(program, "pv", 10_000)
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    data = vm.read_guest(program.symbols["result"], 8)
    error, value = (int.from_bytes(data[i:i + 4], "little", signed=True) for i in (0, 4))
    return vm, error, value


@pytest.mark.parametrize("fid, a0, a1, registered, error", [
    (0, 0x80000800, 0, False, INVALID_PARAM),        # vCPU page not 4 KiB-aligned
    (0, 0x10000000, 0, False, INVALID_ADDRESS),      # the UART, not RAM
    (0, 0x80400000, 0, False, INVALID_ADDRESS),      # just past the 4 MiB of guest RAM
    (0, 0xFFFFF000, 0, False, INVALID_ADDRESS),      # the alias itself is not RAM
    (3, 0x80000000, 1, False, DENIED),               # CSR_BATCH before registering
    (2, 0, 0, False, DENIED),                        # TRAP_RETURN before registering
    (99, 0, 0, True, NOT_SUPPORTED),                 # no such function
    (0xFFFFFFFF, 0, 0, True, NOT_SUPPORTED),
    (1, 0x10000000, 0, True, INVALID_ADDRESS),       # trap vector outside RAM
    (1, 0x80000002, 0, True, INVALID_ADDRESS),       # ... or not 4-byte aligned
    (3, 0x803FFFFC, 1, True, INVALID_ADDRESS),       # a pair running past the end of RAM
    (3, 0x00000000, 1, True, INVALID_ADDRESS),
    (3, 0x80000000, 0xFFFFFFFF, True, INVALID_PARAM),   # an absurd count
])
def test_bad_hypercall_arguments(fid, a0, a1, registered, error):
    assert hypercall(fid, a0, a1, registered)[1] == error


def test_event_check_and_idle_with_nothing_pending():
    # EVENT_CHECK when no interrupt waits (the kernel set PENDING itself): SUCCESS, and the
    # VMM clears PENDING.
    text = HYPERCALLS.format(eid=EID_PV, fid=5, load_a0="li a0, 0", a1=0, pair="0, 0",
                             setup=REGISTER + "\n        li t0, 1\n        sw t0, -2044(zero)")
    program = assemble(text, "event.s")
    vm, stop = run(program, "pv", 10_000)
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    assert vm.read_guest(program.symbols["result"], 4) == bytes(4)          # SUCCESS
    assert vm.read_guest(vm.engine.area + 4, 4) == bytes(4)
    # IDLE with no interrupt enabled can never wake: the VM stops, as on a bare wfi.
    text = HYPERCALLS.format(eid=EID_PV, fid=4, load_a0="li a0, 0", a1=0, pair="0, 0",
                             setup=REGISTER)
    vm, stop = run(assemble(text, "idle.s"), "pv", 10_000)
    assert stop.reason == "wfi"
    assert vm.counters.exits["wfi"] == 1


@pytest.mark.parametrize("pair, error, done", [
    ("0x180 | 1 << 12, 0x80000000", INVALID_PARAM, 0),   # satp: not a CSR_BATCH CSR
    ("0x104 | 0 << 12, 0x20", INVALID_PARAM, 0),         # funct3 0 is no CSR operation
    ("0x104 | 4 << 12, 0x20", INVALID_PARAM, 0),
    ("0x104 | 1 << 12, 0xFFFFFFFF", SUCCESS, 1),         # sie = all ones
])
def test_csr_batch(pair, error, done):
    vm, got, value = hypercall(3, "pair", 1, pair=pair)
    assert (got, value) == (error, done)
    # sie's writable bits are SSIE, STIE and SEIE (privileged spec 4.1.3): 0x222.
    assert vm.engine.read_supervisor_csr(0x104) == (0x222 if error == SUCCESS else 0)


# -- the macros keep every register, even when an interrupt lands inside one -------------------

STRESS = """
# A PV kernel that keeps VIF = 1 and is interrupted by its timer at every point of a loop of
# priv.inc macros; the handler uses the macros too. Any register a macro fails to preserve,
# or a scratch word the handler clobbers under a macro, ends in SRST failure.
        .equ    PV, 1
        .include "priv.inc"
        .include "sbi.inc"
        .equ    LOOPS, 400
        .equ    INTERVAL, 113              # guest time between timer interrupts

        .text
_start:
        la      sp, kernel_stack_top
        la      t0, handler
        priv_csrw stvec, t0
        la      s4, save
        priv_csrw sscratch, s4
        li      t0, SIE_STIE
        priv_csrs sie, t0
        call    arm
        li      s1, LOOPS
        li      s2, 0x5A5A5A5A
        li      s3, 0x0BADCAFE
        li      t0, SSTATUS_SIE
        priv_csrs sstatus, t0              # VIF = 1, through pv_status
1:      mv      t0, s2
        mv      a0, s3
        mv      a1, s3
        mv      a6, s3
        mv      a7, s3
        mv      t2, s4
        priv_csrrw t2, sscratch, t2        # swaps the save area with itself
        bne     t2, s4, fail
        bne     t0, s2, fail
        priv_csrci sstatus, SSTATUS_SIE
        priv_csrsi sstatus, SSTATUS_SIE    # a timer that came meanwhile: EVENT_CHECK
        bne     t0, s2, fail
        bne     a0, s3, fail
        bne     a1, s3, fail
        bne     a6, s3, fail
        bne     a7, s3, fail
        priv_csrr t1, sscratch
        bne     t1, s4, fail
        addi    s1, s1, -1
        bnez    s1, 1b
        la      t0, ticks
        lw      t0, 0(t0)
        li      t1, 50                     # the timer really did interrupt the loop
        bltu    t0, t1, fail
        sbi_shutdown SRST_SUCCESS
fail:   sbi_shutdown SRST_FAILURE

arm:                                       # timer in INTERVAL; uses t0 a0 a1 a6 a7
        rdtime  t0
        addi    a0, t0, INTERVAL
        li      a1, 0
        sbi_call SBI_TIME, 0
        ret

        .balign 4
handler:
        priv_csrrw a0, sscratch, a0        # a0 = the save area, sscratch = interrupted a0
        sw      t0, 0(a0)
        sw      t1, 4(a0)
        sw      a1, 8(a0)
        sw      a6, 12(a0)
        sw      a7, 16(a0)
        sw      ra, 20(a0)
        priv_csrr t0, sscratch
        sw      t0, 24(a0)
        priv_csrr t0, scause
        li      t1, SCAUSE_TIMER
        bne     t0, t1, fail
        la      t0, ticks
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        mv      t1, a0
        call    arm
        mv      a0, t1
        priv_csrrw t0, sepc, t0            # use the macros' scratch words, as any handler may
        priv_csrw sepc, t0
        li      t0, SIE_STIE
        priv_csrs sie, t0
        lw      t1, 24(a0)
        priv_csrw sscratch, t1
        lw      t0, 0(a0)
        lw      t1, 4(a0)
        lw      a1, 8(a0)
        lw      a6, 12(a0)
        lw      a7, 16(a0)
        lw      ra, 20(a0)
        priv_csrrw a0, sscratch, a0        # a0 = interrupted a0, sscratch = the save area
        priv_sret

        .data
ticks:  .word   0
        .bss
        .balign 16
save:   .space  32
        .space  1024
kernel_stack_top:
"""


def test_macros_survive_interrupts_anywhere():
    # The handler's own macros overwrite the page's scratch words; a timer interrupt that
    # lands inside one of the loop's macros only comes out right because the VMM keeps the
    # interrupted scratch words across the trap (with that taken out of pv.py, this fails).
    program = assemble(STRESS, "stress.s")
    program.entry = program.symbols["pv_boot"]
    vm, stop = run(program, "pv")
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    ticks = int.from_bytes(vm.read_guest(program.symbols["ticks"], 4), "little")
    assert ticks >= 200                      # 400 loops of ~45 instructions, one per ~150
    assert vm.counters.exits["illegal_instruction"] == 0


def test_unfetchable_trap_vector_stops_the_vm():
    # Not registered (entry _start, not pv_boot): the first page access is an access fault,
    # delivered to stvec = 0, which cannot be fetched: a clean stop, not an endless loop.
    program = assemble(STRESS, "stress.s")
    vm, stop = run(program, "pv", 20_000)
    assert stop.reason == "error"
    assert stop.message == "the guest's trap vector 0x00000000 cannot be fetched"


def test_hypercall_from_user_mode_is_a_syscall():
    # Only virtual S may call the VMM: an ecall from a U-mode task with a7 = EID_PV is the
    # task's own system call, reflected to its kernel; tinyos answers unknown calls ENOSYS.
    text = source("tinyos").replace("li      a7, SYS_GETPID\n",
                                    f"li      a7, {EID_PV}\n", 1)
    program = assemble(".equ PV, 1; " + text, "tinyos.s")
    program.entry = program.symbols["pv_boot"]
    vm, stop = run(program, "pv")
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    # getpid replaced: the lines print pid=-ENOSYS, 4294967258 unsigned.
    assert b"task A: i=0 pid=4294967258\n" in bytes(vm.console)


# -- GNU binutils agree ------------------------------------------------------------------------

@pytest.mark.parametrize("name", WORKLOADS)
def test_gnu_as_builds_the_same_pv_bytes(name, tmp_path):
    """GNU as + ld, given vmkit's section addresses, produce the same PV section bytes."""
    gas, ld = need_tool("riscv64-unknown-elf-as"), need_tool("riscv64-unknown-elf-ld")
    objcopy = need_tool("riscv64-unknown-elf-objcopy")
    program = build(name, pv=True)
    folder = resources.files("vmkit.guest")
    for include in INCLUDES:
        (tmp_path / include).write_text(folder.joinpath(include).read_text())
    (tmp_path / "guest.s").write_text(".equ PV, 1\n" + source(name))
    subprocess.run([gas, "-march=rv32ima_zicsr", "-mabi=ilp32", "-mno-relax", "-I",
                    str(tmp_path), "-o", str(tmp_path / "guest.o"), str(tmp_path / "guest.s")],
                   check=True, capture_output=True)
    addresses = {s.name: s.address for s in program.sections}
    subprocess.run([ld, "-m", "elf32lriscv", "--no-relax", "--no-warn-rwx-segments",
                    "-Ttext", hex(addresses[".text"]), "-Tdata", hex(addresses[".data"]),
                    "-Tbss", hex(program.bss[0]), "-o", str(tmp_path / "guest.elf"),
                    str(tmp_path / "guest.o")], check=True, capture_output=True)
    for section in program.sections:
        out = tmp_path / f"{section.name[1:]}.bin"
        subprocess.run([objcopy, "-O", "binary", "-j", section.name, str(tmp_path / "guest.elf"),
                        str(out)], check=True, capture_output=True)
        assert out.read_bytes() == bytes(section.data), section.name

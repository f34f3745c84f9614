"""The VMM: run loop, SBI, the engines' equivalence, isolation and liveness.

The small guests here are written for the purpose; the teaching kernel and the
microbenchmarks have their own tests (test_guest.py).
"""

from pathlib import Path

import pytest

from vmkit.asm import assemble, assemble_file
from vmkit.vmm import sbi
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.vm import VirtualMachine

HERE = Path(__file__).parent
ENGINE_NAMES = sorted(ENGINES)

SBI_MACROS = """
        .equ SBI_TIME, 0x54494D45
        .equ SBI_SRST, 0x53525354
        .equ SBI_DBCN, 0x4442434E
.macro sbi eid, fid
        li a7, \\eid
        li a6, \\fid
        ecall
.endm
.macro shutdown code
        li a0, 0
        li a1, \\code
        sbi SBI_SRST, 0
.endm
"""


def run(source, engine, budget=200_000, **options):
    vm = VirtualMachine(assemble(SBI_MACROS + source, "guest.s"), engine=engine, **options)
    return vm, vm.run(budget)


def final_state(vm):
    """What the guest can see of itself: registers, pc, supervisor CSRs."""
    state = vm.engine.guest_state()
    return state["x"], state["pc"], tuple(sorted(state["csrs"].items()))


# --- the same guest, every engine --------------------------------------------------------------

def test_uart_sbi_and_timer_identical_under_every_engine():
    program = assemble_file(HERE / "data/guest/hello_timer.s")
    results = {}
    for engine in ENGINE_NAMES:
        vm = VirtualMachine(program, engine=engine)
        stop = vm.run(100_000)
        assert stop.reason == "shutdown" and stop.code == 0, (engine, stop)
        results[engine] = (bytes(vm.console), vm.counters.guest_instructions, vm.counters.idle,
                           final_state(vm))
    assert results["native"][0] == b"hello from the guest\nsbi!\ntimer fired\n"
    assert len(set(results.values())) == 1, results


def test_exits_per_engine_show_where_the_cost_is():
    # 21 + 12 UART bytes: the hw guest exits once per MMIO access; native touches the real
    # UART directly; emulate has no exits at all, devices are part of the interpretation.
    program = assemble_file(HERE / "data/guest/hello_timer.s")
    exits = {}
    for engine in ("native", "hw", "emulate"):
        vm = VirtualMachine(program, engine=engine)
        vm.run(100_000)
        exits[engine] = vm.counters.exits
    assert exits["hw"]["mmio"] == 33 and exits["hw"]["sbi"] == 4
    assert "mmio" not in exits["native"] and exits["native"]["sbi"] == 4
    assert "mmio" not in exits["emulate"] and "sbi" not in exits["emulate"]


# --- SBI: hostile arguments give errors, never exceptions --------------------------------------

@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_sbi_errors(engine):
    vm, stop = run("""
        _start:
            sbi 0x12345678, 0           # unknown extension
            mv s0, a0
            li a0, 100                  # DBCN write from outside guest RAM
            li a1, 0x20000000
            li a2, 0
            sbi SBI_DBCN, 0
            mv s1, a0
            li a0, 4                    # DBCN write with a base above 4 GiB
            li a1, 0x80000000
            li a2, 1
            sbi SBI_DBCN, 0
            mv s2, a0
            li a0, 9                    # SRST with a reset type that does not exist
            li a1, 0
            sbi SBI_SRST, 0
            mv s3, a0
            li a0, 0x10                 # probe: base is there, 0x99 is not
            sbi 0x10, 3
            mv s4, a1
            li a0, 0x99
            sbi 0x10, 3
            mv s5, a1
            shutdown 0
    """, engine)
    assert stop.reason == "shutdown"
    x = final_state(vm)[0]
    assert x[8] == sbi.NOT_SUPPORTED & 0xFFFFFFFF
    assert x[9] == sbi.INVALID_PARAM & 0xFFFFFFFF
    assert x[18] == sbi.INVALID_PARAM & 0xFFFFFFFF
    assert x[19] == sbi.INVALID_PARAM & 0xFFFFFFFF
    assert (x[20], x[21]) == (1, 0)


# --- isolation: a guest cannot reach memory that is not its own ---------------------------------

@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_store_outside_guest_ram_is_an_access_fault(engine):
    vm, stop = run("""
        _start:
            la t0, handler
            csrw stvec, t0
            li t0, 0x80400000           # just past the guest's 4 MiB of RAM
            li t1, 0xdeadbeef
            sw t1, 0(t0)
            shutdown 0                  # not reached
        handler:
            csrr s0, scause
            csrr s1, stval
            shutdown 1
    """, engine)
    assert stop.reason == "shutdown" and stop.code == 1
    x = final_state(vm)[0]
    assert x[8] == 7 and x[9] == 0x80400000          # store access fault, address in stval
    host_ram = vm.engine.machine.bus.ram
    assert b"\xef\xbe\xad\xde" not in bytes(host_ram[:64 << 20])


# --- liveness: the guest cannot keep the VMM --------------------------------------------------

@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_wfi_forever_and_spinning_return_control(engine):
    vm, stop = run("_start: wfi\n j _start\n", engine)
    assert stop.reason == "wfi"
    vm, stop = run("_start: j _start\n", engine, budget=5_000)
    assert stop.reason == "budget" and vm.counters.guest_instructions == 5_000


def test_bad_vm_configuration_is_refused():
    program = assemble("_start: j _start\n")
    with pytest.raises(ValueError, match="unknown engine 'vt-x'; choose one of"):
        VirtualMachine(program, engine="vt-x")
    with pytest.raises(ValueError, match="power of two"):
        VirtualMachine(program, ram_size=3 << 20)
    with pytest.raises(ValueError, match="outside guest RAM"):
        VirtualMachine(assemble("_start: j _start\n", base=0x9000_0000))


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_a_faulting_trap_vector_stops_the_vm_instead_of_spinning(engine):
    # stvec points at nothing: every trap faults again and no instruction ever retires.
    vm, stop = run("""
        _start: li t0, 0x40000000
                csrw stvec, t0
                .word 0                     # illegal: trap to the unfetchable vector
    """, engine, budget=10_000)
    assert stop.reason == "error" and "trap" in stop.message


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_legacy_sbi_shutdown_powers_off(engine):
    # SBI v2.0, 5.7: legacy extension 0x08, sbi_shutdown(), does not return.
    vm, stop = run("""
        .globl _start
_start: li a0, 'A'
        li a7, 0x01
        ecall
        li a7, 0x08
        ecall
        li a0, 'B'                      # never reached
        li a7, 0x01
        ecall
1:      j 1b
""", engine)
    assert stop.reason == "shutdown" and stop.code == 0, stop
    assert vm.console == b"A"

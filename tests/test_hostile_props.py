"""Hostile guests and hostile input, tried at random (issue 12 item 7): property tests over
random guests under every engine, random guest stores to every page the VMM shows a guest,
random SBI and hypercall arguments, and mutated ELF and assembly files.

What must hold whatever the input (the lecture's isolation property, made executable):
  * `vm.run` returns a VmStop, never raises, and never runs past its budget (plus the one
    instruction an exit may finish);
  * the VMM's counters add up: guest_instructions == direct + emulated;
  * host memory outside the guest's RAM is unchanged (the VMM's own tables included), except
    the pages the VMM itself rewrites for the guest: bt's translation cache and vCPU page;
  * the console stays within its bound;
  * bad input gives the module's own one-line error (ElfError, AsmError: both ValueError).

test_hostile.py holds the hand-written reproducers; this file tries what nobody wrote down.
Every VM run is bounded twice: by its instruction budget, and by `Runaway` below, which stops
a run loop that keeps entering the guest far more often than the budget can explain.
"""

import time

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from vmkit.asm import AsmError, assemble
from vmkit.elf import ElfError, read_elf
from vmkit.hw.devices.console import CONSOLE_LIMIT
from vmkit.hw.machine import STORM_TRAPS
from vmkit.isa import BASE
from vmkit.vmm import sbi
from vmkit.vmm.engines import bt, pv
from vmkit.vmm.vm import GUEST_RAM, GUEST_UART, VirtualMachine, VmStop

from test_hostile import ENGINE_NAMES, guest

RAM_SIZE = 64 << 10
SBI_ERRORS = {sbi.SUCCESS, sbi.FAILED, sbi.NOT_SUPPORTED, sbi.INVALID_PARAM, sbi.DENIED,
              sbi.INVALID_ADDRESS}
# Hypothesis: bounded examples, no per-example deadline (a VM's first run compiles blocks), and
# the whole file well under a minute with -m "not slow".
QUICK = settings(max_examples=30, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- running a VM within bounds and checking what it may not change ------------------------------

class Runaway(AssertionError):
    """The run loop entered the guest far more often, or far longer, than its budget allows."""


def bounded(vm, budget, seconds=20):
    """Have `vm.run(budget)` fail with Runaway instead of hanging. Each entry either retires an
    instruction or counts toward a storm (vm.py), so more entries than this is a bug."""
    enter, calls, start = vm.engine.enter, [0], time.monotonic()
    limit = 4 * (budget + 2 * STORM_TRAPS) + 100

    def guarded(slice_):
        calls[0] += 1
        if calls[0] > limit or time.monotonic() - start > seconds:
            raise Runaway(f"{calls[0]} entries, {time.monotonic() - start:.1f} s for a budget "
                          f"of {budget}: {vm.counters.as_dict()}")
        return enter(slice_)
    vm.engine.enter = guarded


def vmm_owned_pages(vm):
    """[(start, end)] of host RAM the VMM rewrites on the guest's behalf (excluded from the
    unchanged check): bt's translation cache and vCPU page, pv's alias entry for the page."""
    name = vm.engine.name
    if name == "bt":
        return [(bt.TC_PA, bt.TC_PA + bt.TC_SIZE), (bt.VCPU_PAGE_PA, bt.VCPU_PAGE_PA + 4096)]
    if name == "pv":
        return [(pv.ALIAS_LEAF + 4 * 1023, pv.ALIAS_LEAF + 4096)]
    return []


def outside_guest(vm):
    """The host machine's RAM outside the guest's RAM (and outside `vmm_owned_pages`)."""
    engine = vm.engine
    bus = engine.machine.bus
    if engine.name == "emulate":
        start = bus.ram_base + engine.guest_offset
    else:
        start = engine.guest_base
    holes = sorted([(start, start + vm.ram_size)] + vmm_owned_pages(vm))
    ram, base, pieces, at = memoryview(bus.ram), bus.ram_base, [], bus.ram_base
    for low, high in holes:
        pieces.append(bytes(ram[at - base:low - base]))
        at = high
    pieces.append(bytes(ram[at - base:]))
    return pieces


def run_hostile(vm, budget):
    """Run `vm` for `budget` instructions and check every property a hostile guest must not
    break. Returns the VmStop."""
    before = outside_guest(vm)
    bounded(vm, budget)
    stop = vm.run(budget)
    counters = vm.counters
    assert isinstance(stop, VmStop), stop
    assert stop.reason in ("budget", "shutdown", "wfi", "error"), stop
    if stop.reason == "error":
        assert "internal error" not in stop.message, stop
    assert counters.guest_instructions == (counters.direct_instructions
                                           + counters.emulated_instructions), counters
    assert 0 <= counters.guest_instructions <= budget + 1, counters
    assert len(vm.console) <= CONSOLE_LIMIT
    after = outside_guest(vm)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert not changed, f"host memory outside the guest changed (pieces {changed})"
    return stop


# --- strategies -----------------------------------------------------------------------------------

# Addresses a hostile guest would try: its own RAM and just past it, the UART, the pages the
# VMM maps at the top (bt: TC and vCPU page; pv: the vCPU page alias), host-physical addresses
# of the VMM's tables (which must mean nothing to a guest), and the ends of the address space.
LANDMARKS = (0, GUEST_RAM, GUEST_RAM + RAM_SIZE, GUEST_RAM + RAM_SIZE - 4, GUEST_UART,
             0x0200_0000, bt.TC_VA, bt.VCPU_PAGE_VA, bt.VCPU_PAGE_VA + 0x800, bt.TC_PA,
             bt.VCPU_PAGE_PA, 0x8080_0000, 0x8100_0000, 0xFFFF_FFFC)
ADDRESSES = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.tuples(st.sampled_from(LANDMARKS), st.integers(-256, 256)).map(
        lambda p: (p[0] + p[1]) & 0xFFFFFFFF))
VALUES = st.one_of(ADDRESSES, st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))

# Real instructions from the ISA table with random operands (registers, immediates, CSRs), and
# words no table row matches.
TABLE_WORDS = st.tuples(st.sampled_from(BASE), st.integers(0, 0xFFFFFFFF)).map(
    lambda p: p[0].match | (p[1] & ~p[0].mask & 0xFFFFFFFF))
WORDS = st.one_of(TABLE_WORDS, TABLE_WORDS, st.integers(0, 0xFFFFFFFF))

# A trap handler that steps over what trapped, so a random guest keeps going after a fault.
HANDLER = """
handler: csrr t6, sepc
        addi t6, t6, 4
        csrw sepc, t6
        sret
"""


def preload(registers):
    """Set registers x1.. to hostile values (addresses, mostly) before the random code runs."""
    return "".join(f"        li x{n}, {value:#x}\n" for n, value in registers.items())


def random_guest(registers, words):
    return ("_start: la t0, handler\n        csrw stvec, t0\n" + preload(registers)
            + "body:\n" + "".join(f"        .word {w:#010x}\n" for w in words) + HANDLER)


REGISTERS = st.dictionaries(st.integers(1, 31), VALUES, max_size=12)


# --- 1. random guests under every engine -----------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINE_NAMES)
@QUICK
@given(registers=REGISTERS, words=st.lists(WORDS, min_size=1, max_size=32),
       budget=st.integers(1, 3000))
def test_random_guests_cannot_escape(engine, registers, words, budget):
    vm = guest(random_guest(registers, words), engine, ram_size=RAM_SIZE)
    run_hostile(vm, budget)

"""The hart's context (vmkit/hw/context.py): save, scramble the hart, load -> the program runs on
exactly as if nothing had happened; the context survives JSON; a bad context changes nothing."""

import json
import random

import pytest

from corpus import INCLUDE_DIR, PROGRAM_DIR
from vmkit.asm import assemble_file
from vmkit.hw.context import load_context, save_context
from vmkit.hw.hart import CSR_STATE
from vmkit.hw.machine import Machine

# Programs that between them use every kind of state the context holds: VS-mode and the
# G-stage, VS interrupts (hvip), Sv32 with ASIDs, the timer, PMP, LR/SC, the counters, MPRV.
PROGRAMS = ["h_two_stage", "h_vs_interrupts", "h_guest_page_fault", "h_hlv_hsv", "clint_timer",
            "pmp", "sv32_4k", "a_lrsc", "counters", "mprv", "warl_h"]
BIG = 5_000_000


def _include(name):
    path = INCLUDE_DIR / name
    return path.read_text() if path.is_file() else None


def _machine(name, fast):
    machine = Machine(ram_size=4 << 20, fast=fast)
    machine.load_program(assemble_file(PROGRAM_DIR / f"{name}.s", include=_include))
    return machine


def _csr_reads(hart):
    """Every CSR as an instruction would read it (views included)."""
    return {number: hart.csrs.read(number) for number in hart.csrs.readers}


CLINT_STATE = ("msip", "mtimecmp", "_mtime_base", "_instructions")


def _scramble(hart, seed):
    """Load a random (valid) context and run whatever that makes the hart do."""
    rng = random.Random(seed)
    junk = save_context(hart)
    junk["x"] = [0] + [rng.getrandbits(32) for _ in range(31)]
    junk["csrs"] = {name: rng.getrandbits(32) for name in CSR_STATE}
    junk["pmpaddr"] = [rng.getrandbits(32) for _ in range(16)]
    junk["priv"], junk["virt"], junk["instret"] = 1, True, rng.getrandbits(40)
    junk["pc"] = rng.getrandbits(32) & ~3
    load_context(hart, junk)
    hart.run(2000)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_save_scramble_load_runs_on_identically(name, fast):
    whole = _machine(name, fast)
    assert whole.run(BIG).reason == "poweroff"
    steps = whole.hart.instret + whole.hart.traps     # the budget counts both
    for split in (7, steps // 3, steps * 5 // 6):
        machine = _machine(name, fast)
        hart = machine.hart
        assert machine.run(split).reason == "budget"
        context = json.loads(json.dumps(save_context(hart)))   # plain data: a JSON round trip
        ram, printed = bytes(machine.bus.ram), len(bytes(machine.console_output))
        clint = {key: getattr(machine.clint, key) for key in CLINT_STATE}
        reads = _csr_reads(hart)
        first = machine.run(BIG)
        first_state, first_out = save_context(hart), bytes(machine.console_output)[printed:]
        assert first.reason == "poweroff"

        _scramble(hart, seed=split)
        assert save_context(hart) != context
        # Rewind RAM and the timer as a snapshot restore would (the RAM changed under the
        # hart, so its decoded code and TLB go); then the context.
        machine.bus.ram[:] = ram
        hart.code_pages.clear()
        machine.tlb.flush_all()
        for key, value in clint.items():
            setattr(machine.clint, key, value)
        load_context(hart, context)
        assert save_context(hart) == context
        assert _csr_reads(hart) == reads
        mark = len(bytes(machine.console_output))
        again = machine.run(BIG)
        assert (again.reason, again.code, again.pc) == (first.reason, first.code, first.pc)
        assert bytes(machine.console_output)[mark:] == first_out
        assert save_context(hart) == first_state


def test_load_keeps_the_tlb():
    # A world switch relies on the ASID/VMID tags: loading a context must not flush.
    machine = _machine("h_two_stage", True)
    tlb = machine.tlb
    while not len(tlb):
        assert machine.run(50).reason == "budget"
    before = (tlb.flushes, len(tlb))
    assert before[1] > 0
    load_context(machine.hart, save_context(machine.hart))
    assert (tlb.flushes, len(tlb)) == before


def test_compiled_blocks_see_the_loaded_registers():
    # blocks.py binds hart.x into compiled code: load must write that very list.
    machine = _machine("rv32i_alu", True)
    machine.hart.hot = 0
    x = machine.hart.x
    load_context(machine.hart, save_context(machine.hart))
    assert machine.hart.x is x


BAD = [
    ("version", 2), ("x", [0] * 31), ("x", [1] + [0] * 31), ("x", [0] * 31 + [1 << 32]),
    ("pc", 0x8000_0002), ("pc", -4), ("pc", "0x80000000"), ("priv", 2), ("priv", True),
    ("virt", 1), ("csrs", {}), ("pmpcfg", [256] + [0] * 15), ("pmpaddr", None),
    ("instret", -1), ("counter_offset", {"cycle": 0}), ("counter_offset",
                                                         {"cycle": "0", "instret": 0}),
    ("reservation", [1]), ("intercept", ["HS", "U"]), ("quirks", ["nope"]),
    ("breakpoints", [1.5]), ("fast", "yes"),
]


@pytest.mark.parametrize("key, value", BAD, ids=[f"{k}={v!r}"[:30] for k, v in BAD])
def test_a_bad_context_is_refused_and_changes_nothing(key, value):
    machine = _machine("h_two_stage", True)
    machine.run(500)
    hart = machine.hart
    good = save_context(hart)
    bad = json.loads(json.dumps(good))
    bad[key] = value
    with pytest.raises(ValueError, match="^hart context: "):
        load_context(hart, bad)
    assert save_context(hart) == good


def test_virt_in_m_mode_and_extra_keys_are_refused():
    hart = Machine(ram_size=1 << 20).hart
    for change in ({"priv": 3, "virt": True}, {"extra": 1}):
        context = {**save_context(hart), **change}
        with pytest.raises(ValueError, match="hart context"):
            load_context(hart, context)
    with pytest.raises(ValueError, match="hart context"):
        load_context(hart, [1, 2])
    bad = save_context(hart)
    bad["csrs"]["mstatus"] = 1 << 32
    with pytest.raises(ValueError, match="csrs.mstatus"):
        load_context(hart, bad)

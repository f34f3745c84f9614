"""Every way of virtualizing guest paging is invisible to the guest (memory virtualization,
the lecture's transparency): a guest that pages sees the same console, guest instruction
count, registers, supervisor CSRs (satp among them) and guest RAM - so its page tables' A/D
bits too - under every engine with a `paging_mode`: the hardware walking the guest's tables
(native, the reference), a software MMU (emulate), the 2D walk through the VMM's G-stage (hw,
with each G-stage leaf size it offers) and shadow page tables (trap); on both execution paths.

Guests: random scripts of tests/programs/guests/pte_script.s (PTE edits, each followed by a
fence the spec makes sufficient; satp switches; SUM/MXR; S- and U-mode accesses; the guest
megapage window), written by test_shadow_paging.random_script; and the four memory
microbenchmarks. tests/test_paging_guest.py already compares the benchmarks' console,
instruction count and CPU state under each engine's default; this file adds guest RAM and the
G-stage leaf sizes other than hw's default.

A random script under hw with 4 KiB G-stage pages found a TLB bug here: a guest megapage was
cached as 4 KiB entries that a fence of another of its pages did not drop (tests/test_tlb.py).
"""

import pytest
from hypothesis import given, settings, strategies as st

from test_shadow_paging import observe, program, random_script
from vmkit.guest import PAGING, build
from vmkit.vmm.engines import ENGINES, offering

REFERENCE = offering("native")[0]          # the hardware itself walks the guest's tables


def configurations():
    """(id, engine, VirtualMachine options) for every engine that runs guest paging and each
    G-stage leaf size it can build, read from the registry."""
    for name, engine in ENGINES.items():
        if engine.paging_mode is None or engine.needs_pv_build or name == REFERENCE:
            continue
        for page in engine.gstage_pages or (None,):
            options = {} if page is None else {"gstage_page": page}
            label = name if page is None else f"{name}-g{page >> 10}k"
            yield label, name, options


CONFIGURATIONS = list(configurations())


def test_every_paging_mode_and_gstage_page_is_covered():
    modes = {ENGINES[name].paging_mode for _, name, _ in CONFIGURATIONS}
    # (direct paging runs only the PV build of a kernel: tests/test_pv_paging.py)
    assert modes | {"native", "direct"} == {e.paging_mode for e in ENGINES.values()
                                            if e.paging_mode}
    assert {options.get("gstage_page") for _, name, options in CONFIGURATIONS
            if ENGINES[name].gstage_pages} == {4096, 4 << 20}


def same_everywhere(prog, fast):
    reference, _ = observe(prog, REFERENCE, fast)
    assert reference[0] == "shutdown", reference[:3]
    for label, name, options in CONFIGURATIONS:
        seen, _ = observe(prog, name, fast, **options)
        assert seen == reference, label


def check_random_script(seed, length, fast):
    same_everywhere(program(random_script(seed, length)), fast)


SCRIPTS = dict(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 40), fast=st.booleans())


@settings(max_examples=50, deadline=None, derandomize=True)
@given(**SCRIPTS)
def test_random_pte_scripts_are_the_same_under_every_paging_mode(seed, length, fast):
    check_random_script(seed, length, fast)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True)
@given(**SCRIPTS)
def test_many_random_pte_scripts_are_the_same_under_every_paging_mode(seed, length, fast):
    check_random_script(seed, length, fast)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_the_scripts_own_cases_are_the_same_under_every_paging_mode(fast):
    same_everywhere(program(), fast)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("name", PAGING)
def test_benchmarks_leave_the_same_ram_under_every_paging_mode(name, fast):
    same_everywhere(build(name, iterations=5), fast)

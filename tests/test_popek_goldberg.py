"""The Popek-Goldberg lab: what happens when a sensitive instruction does not trap.

RISC-V is classically virtualizable: every instruction that reads or changes privileged state
traps when run below its privilege, so trap-and-emulate gives the guest the right answers. The
`pushf`/`popf` quirks make sstatus accesses from U-mode behave like x86's PUSHF/POPF in ring 3
(Robin & Irvine 2000): no trap, and a read shows the *real* state. A guest kernel run
deprivileged then sees wrong values: the equivalence property fails.
"""

from pathlib import Path

import pytest

from vmkit.asm import assemble_file
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.vm import VirtualMachine

PROGRAM = assemble_file(Path(__file__).parent / "data/guest/sti_pushf.s")


def interrupt_flag_seen(engine, quirks=()):
    vm = VirtualMachine(PROGRAM, engine=engine, quirks=quirks)
    assert vm.run(1000).reason == "shutdown"
    x = vm.engine.guest_state()["x"]
    return x[8], x[9]           # SIE read back after sti, after cli


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_without_quirks_every_engine_is_right(engine):
    assert interrupt_flag_seen(engine) == (2, 0)


@pytest.mark.parametrize("quirk", ["pushf", "popf"])
def test_trap_and_emulate_breaks_when_a_sensitive_instruction_does_not_trap(quirk):
    # pushf: the read does not trap and shows the host's real sstatus (SIE=0 in U-mode).
    # popf: the sti does not trap, so the VMM never learns that the guest enabled interrupts.
    assert interrupt_flag_seen("trap", (quirk,)) == (0, 0)


@pytest.mark.parametrize("engine", ["native", "hw", "emulate", "bt"])
def test_engines_that_do_not_run_sensitive_instructions_deprivileged_are_unaffected(engine):
    # native/hw/emulate: the kernel runs in (V)S-mode or in software, its sstatus accesses are
    # legal and no quirk applies. bt: the kernel is deprivileged like under trap, but its
    # sensitive instructions are rewritten before they run, so whether the hardware would
    # trap them does not matter: this is why VMware could virtualize x86 without VT-x.
    assert interrupt_flag_seen(engine, ("pushf", "popf")) == (2, 0)


def test_unknown_quirk_is_refused():
    with pytest.raises(ValueError, match="unknown quirk 'cli'; choose from pushf, popf"):
        VirtualMachine(PROGRAM, quirks=("cli",))

"""A guest kernel turns on Sv32 paging the way Linux does, under every engine.

`tests/programs/guests/vs_paging.s` (read its header) points stvec at the virtual address of
the instruction after `csrw satp`, writes satp, and continues there through the instruction
page fault that the next fetch, at the old physical pc, must take. Its output is fixed by the
privileged spec (4.3.1, 4.1.11: a change of satp.MODE takes effect at once, with no fence):
scause 12, stval = sepc = the physical address of that instruction, and the code then runs at
PAGE_OFFSET. The expected text below is that, with the offset of `high` in the guest (0x68)
read from the source and checked against GNU as.

Where each engine stands: `native` runs the kernel in real S-mode (satp is the hart's),
`emulate` interprets it (the vCPU's own MMU), `hw` runs it in VS-mode through both stages
(vsatp + the VMM's hgatp), `trap` and `bt` on shadow page tables (tests/test_shadow_paging.py),
and so does `pv` for a kernel not built for it (this one: its own paging is direct paging
through hypercalls, tests/test_pv_paging.py). An engine whose class says it does not
virtualize guest paging must refuse with a clean stop, not misbehave.

The same guest runs on QEMU 7.2 twice, behind a few lines of M-mode firmware
(corpus.KERNEL_FIRMWARE): as an S-mode kernel (as under OpenSBI) and as a VS-mode guest of a
hypervisor (hgatp identity), and must print exactly what vmkit prints.
"""

import subprocess

import pytest

import corpus
from conftest import need_tool
from vmkit.asm import assemble_file
from vmkit.vmm.engines import ENGINES, engine_class
from vmkit.vmm.vm import VirtualMachine

GUEST = corpus.PROGRAM_DIR / "guests" / "vs_paging.s"
HIGH = 0x68                      # offset of `high` from _start: 26 instructions of 4 bytes
EXPECTED = (b"scause 0000000c\n"                  # instruction page fault
            b"stval  base+%08x\n"                 # the faulting (physical) address
            b"sepc   base+%08x\n"
            b"pc     PAGE_OFFSET+%08x\n") % (HIGH, HIGH, HIGH)
PAGING = tuple(e for e in ENGINES if engine_class(e).paging_mode)
REFUSED = tuple(e for e in ENGINES if e not in PAGING)


def run(engine, fast=True):
    vm = VirtualMachine(assemble_file(GUEST), engine=engine, fast=fast)
    return vm, vm.run(200_000)


def test_high_is_where_the_source_says():
    assert assemble_file(GUEST).symbols["high"] - 0x8000_0000 == HIGH


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("engine", PAGING)
def test_paging_on_through_the_fault(engine, fast):
    vm, stop = run(engine, fast)
    assert (stop.reason, stop.code) == ("shutdown", 0), stop
    assert bytes(vm.console) == EXPECTED


def test_hw_guest_runs_without_vmm_help():
    """Under hw the page fault is the guest's own (hedeleg): no exit but the UART and SBI."""
    vm, stop = run("hw")
    assert stop.reason == "shutdown"
    assert set(vm.counters.exits) == {"mmio", "sbi"}
    assert vm.counters.exits["sbi"] == 1


if REFUSED:                      # (no case to run once every engine pages)
    @pytest.mark.parametrize("engine", REFUSED)
    def test_engines_without_guest_paging_refuse_cleanly(engine):
        vm, stop = run(engine)
        assert stop.reason == "error"
        assert "does not yet virtualize guest paging" in stop.message
        assert bytes(vm.console) == b""


def test_the_shadow_paging_engines_page():
    assert {"native", "emulate", "hw", "trap", "bt"} <= set(PAGING)


# -- the same guest on QEMU -------------------------------------------------------------------
@pytest.mark.parametrize("virt", [0, 1], ids=["S-under-firmware", "VS-under-hypervisor"])
def test_same_output_on_qemu(virt, tmp_path):
    for tool in (corpus.AS, corpus.LD, corpus.QEMU, "riscv64-unknown-elf-objcopy"):
        need_tool(tool)
    subprocess.run([corpus.AS, *corpus.AS_FLAGS, str(GUEST), "-o", str(tmp_path / "guest.o")],
                   check=True)
    subprocess.run([corpus.LD, "-m", "elf32lriscv", f"-Ttext={corpus.KERNEL_BASE:#x}",
                    str(tmp_path / "guest.o"), "-o", str(tmp_path / "guest.elf")], check=True)
    output, status = corpus.run_kernel_on_qemu(tmp_path / "guest.elf", tmp_path, virt)
    assert (output, status) == (EXPECTED, 0)

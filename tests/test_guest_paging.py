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
(vsatp + the VMM's hgatp), `trap` on shadow page tables (tests/test_shadow_paging.py). `bt`
and `pv` do not virtualize guest paging yet: they must refuse with a clean stop, not misbehave.

The same guest runs on QEMU 7.2 twice, behind a few lines of M-mode firmware (FIRMWARE): as
an S-mode kernel (as under OpenSBI) and as a VS-mode guest of a hypervisor (hgatp identity),
and must print exactly what vmkit prints.
"""

import subprocess

import pytest

import corpus
from conftest import need_tool
from vmkit.asm import assemble_file
from vmkit.vmm.engines import ENGINES
from vmkit.vmm.vm import VirtualMachine

GUEST = corpus.PROGRAM_DIR / "guests" / "vs_paging.s"
HIGH = 0x68                      # offset of `high` from _start: 26 instructions of 4 bytes
EXPECTED = (b"scause 0000000c\n"                  # instruction page fault
            b"stval  base+%08x\n"                 # the faulting (physical) address
            b"sepc   base+%08x\n"
            b"pc     PAGE_OFFSET+%08x\n") % (HIGH, HIGH, HIGH)
PAGING = ("native", "emulate", "hw", "trap")
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


@pytest.mark.parametrize("engine", REFUSED)
def test_engines_without_guest_paging_refuse_cleanly(engine):
    vm, stop = run(engine)
    assert stop.reason == "error"
    assert "does not yet virtualize guest paging" in stop.message
    assert bytes(vm.console) == b""


def test_every_engine_is_covered():
    assert set(PAGING) | set(REFUSED) == set(ENGINES)
    assert len(PAGING) >= 3


# -- the same guest on QEMU -------------------------------------------------------------------
GUEST_BASE = 0x8040_0000         # where OpenSBI's fw_dynamic would start the kernel on RV32
FIRMWARE = """
    .option norvc
    .option arch, +h
    .equ VIRT, {virt}
    .globl _start
_start:
    li t0, -1                     # PMP: everything RWX for S/U
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    li t0, (1 << 12) | (1 << 13) | (1 << 15)    # page faults go to the kernel
    csrw medeleg, t0
.if VIRT
    csrw hedeleg, t0
    la t0, groot                  # G-stage (Sv32x4) identity: 8 MiB of RAM and the UART, U=1
    li t1, 0x80000000 >> 22 << 2
    add t1, t0, t1
    li t2, (0x80000000 >> 12 << 10) | 0xdf
    sw t2, 0(t1)
    li t2, (0x80400000 >> 12 << 10) | 0xdf
    sw t2, 4(t1)
    li t1, 0x10000000 >> 22 << 2
    add t1, t0, t1
    li t2, (0x10000000 >> 12 << 10) | 0xd7
    sw t2, 0(t1)
    srli t0, t0, 12
    li t1, 0x80000000
    or t0, t0, t1
    csrw hgatp, t0
    hfence.gvma
    li t0, 1 << 7                 # mstatush.MPV: mret enters VS
    csrs mstatush, t0
.endif
    la t0, mtrap
    csrw mtvec, t0
    li t0, 3 << 11                # MPP = S
    csrc mstatus, t0
    li t0, 1 << 11
    csrs mstatus, t0
    li t0, {base:#x}
    csrw mepc, t0
    li a0, 0
    mret
    .align 2
mtrap:                            # SBI: only system_reset (from S: cause 9, VS: 10)
    csrr t0, mcause
    li t1, 9 + VIRT
    bne t0, t1, 1f
    li t0, 0x53525354
    bne a7, t0, 1f
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
1:  li t0, 0x100000               # anything else: exit status 1
    li t1, 0x13333
    sw t1, 0(t0)
    j .
    .align 14
groot: .space 16384
    .section .guest, "ax"
    .incbin "{binary}"
"""


@pytest.mark.parametrize("virt", [0, 1], ids=["S-under-firmware", "VS-under-hypervisor"])
def test_same_output_on_qemu(virt, tmp_path):
    for tool in (corpus.AS, corpus.LD, corpus.QEMU, "riscv64-unknown-elf-objcopy"):
        need_tool(tool)
    guest_elf = tmp_path / "guest.elf"
    subprocess.run([corpus.AS, *corpus.AS_FLAGS, str(GUEST), "-o", str(tmp_path / "guest.o")],
                   check=True)
    subprocess.run([corpus.LD, "-m", "elf32lriscv", f"-Ttext={GUEST_BASE:#x}",
                    str(tmp_path / "guest.o"), "-o", str(guest_elf)], check=True)
    binary = tmp_path / "guest.bin"
    subprocess.run(["riscv64-unknown-elf-objcopy", "-O", "binary", str(guest_elf),
                    str(binary)], check=True)
    firmware = tmp_path / "firmware.s"
    firmware.write_text(FIRMWARE.format(virt=virt, base=GUEST_BASE, binary=binary))
    subprocess.run([corpus.AS, *corpus.AS_FLAGS, str(firmware), "-o",
                    str(tmp_path / "firmware.o")], check=True)
    elf = tmp_path / "firmware.elf"
    subprocess.run([corpus.LD, "-m", "elf32lriscv", "-Ttext=0x80000000",
                    f"--section-start=.guest={GUEST_BASE:#x}", str(tmp_path / "firmware.o"),
                    "-o", str(elf)], check=True)
    output, status = corpus.run_qemu(elf)
    assert (output, status) == (EXPECTED, 0)

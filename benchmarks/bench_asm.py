"""Benchmark: how long vmkit.asm takes to assemble a 5,000-line file on this Python.

Run standalone: ``python3 benchmarks/bench_asm.py [lines] [runs]``; prints the median of
several runs (the issue asks for well under a second for 5,000 lines on CPython).
The source is a mix like a guest kernel's: labels, branches to numeric labels, loads and
stores, li/la/call expansions, CSR accesses, a macro, and data directives.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmkit.asm import assemble  # noqa: E402

BLOCK = """\
func_{n}:
    addi    sp, sp, -16
    sw      ra, 12(sp)
    li      a0, {n}
    li      a1, 0x12345{n:03x}
    la      a2, data_{n}
1:  lw      t0, 0(a2)
    addi    t0, t0, 1
    sw      t0, 0(a2)
    blt     t0, a1, 1b
    csrr    t1, mstatus
    csrs    mstatus, 8
    SAVE    s0, 8
    beqz    a0, 2f
    call    func_{m}
2:  lw      ra, 12(sp)
    addi    sp, sp, 16
    ret
    .data
data_{n}:
    .word   {n}, func_{n}
    .text
"""
HEADER = """\
    .macro SAVE reg, off
    sw      \\reg, \\off(sp)
    .endm
    .text
    .globl _start
_start:
    j       func_0
"""


def source(lines: int) -> str:
    per_block = BLOCK.count("\n")
    blocks = max(1, (lines - HEADER.count("\n")) // per_block)
    return HEADER + "".join(BLOCK.format(n=n, m=(n + 1) % blocks) for n in range(blocks))


def main():
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    text = source(lines)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        prog = assemble(text, "bench.s")
        times.append(time.perf_counter() - start)
    size = sum(len(s.data) for s in prog.sections)
    print(f"assembled {text.count(chr(10))} lines into {size} bytes: "
          f"median {statistics.median(times) * 1000:.0f} ms over {runs} runs "
          f"(min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

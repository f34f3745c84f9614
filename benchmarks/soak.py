"""Soak: a hostile guest runs for a long time and the host's memory stays flat.

The guest kernel rewrites an instruction of its own hot loop every round (1024 different words,
then they repeat: the fast path compiles the loop again each time, and a self-modifying guest
is exactly what grows an unbounded code cache) and floods the console with an SBI debug-console
write of all of its RAM every round (what grew an unbounded console buffer).

Run standalone (10^8 guest instructions under hw: 89 s on CPython 3.11 on the 2-core CI
machine, resident memory 57.2-58.4 MiB at all ten checkpoints):

    python3 benchmarks/soak.py [instructions] [--engine hw] [--tracemalloc]

It prints the memory in use at every checkpoint: Python's own allocations (tracemalloc, exact
but ~3x slower) or the process's resident set (/proc/self/statm, Linux). tests/test_hostile.py
runs the same soak for a smaller count and asserts that the memory is flat.
"""

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmkit.asm import assemble  # noqa: E402
from vmkit.hw import blocks  # noqa: E402
from vmkit.vmm.vm import VirtualMachine  # noqa: E402

RAM_SIZE = 1 << 20

GUEST = """
_start: la      s0, patch
        lw      s2, 0(s0)                # addi a0, a0, 0
        li      s1, 0
        li      s3, 0x80000000
outer:  addi    s1, s1, 1
        slli    t0, s1, 22               # a new immediate (10 bits) for the addi below
        srli    t0, t0, 2
        or      t1, s2, t0
        sw      t1, 0(s0)                # rewrite the hot loop's first instruction
        fence.i
        li      t2, {inner}                # iterations of the hot loop: > Hart.hot
inner:
patch:  addi    a0, a0, 0
        addi    t2, t2, -1
        bnez    t2, inner
        li      a0, {ram_size}           # DBCN console_write(all of RAM): a flood
        mv      a1, s3
        li      a2, 0
        li      a7, 0x4442434E
        li      a6, 0
        ecall
        j       outer
"""


def soak_vm(engine="hw", inner=200, code_cache_bytes=None):
    """A VM running the soak guest, `inner` iterations of its hot loop per rewrite (its code
    cache limited to `code_cache_bytes` if given)."""
    source = GUEST.format(inner=inner, ram_size=RAM_SIZE)
    vm = VirtualMachine(assemble(source, "soak.s"), engine=engine, ram_size=RAM_SIZE)
    if code_cache_bytes is not None:
        blocks.code_cache(vm.engine.cpu).limit = code_cache_bytes
    return vm


def memory(traced):
    """Bytes in use: Python's allocations (tracemalloc) or the resident set."""
    gc.collect()
    if traced:
        return tracemalloc.get_traced_memory()[0]
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096
    except OSError:
        return 0


def soak(vm, instructions, checkpoints, traced=False, report=None):
    """Run `vm` for `instructions`, measuring memory at `checkpoints` evenly spaced points;
    returns [(guest instructions, bytes in use)]. The VM must not stop (budget only)."""
    points = []
    step = instructions // checkpoints
    for _ in range(checkpoints):
        stop = vm.run(step)
        if stop.reason != "budget":
            raise RuntimeError(f"the soak guest stopped: {stop}")
        points.append((vm.counters.guest_instructions, memory(traced)))
        if report is not None:
            report(*points[-1])
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instructions", nargs="?", type=int, default=10**8)
    parser.add_argument("--engine", default="hw")
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    if args.instructions < args.checkpoints or args.checkpoints < 1:
        parser.error("need at least one instruction per checkpoint")
    if args.tracemalloc:
        tracemalloc.start()
    vm = soak_vm(args.engine)
    start = time.perf_counter()

    def report(done, used):
        seconds = time.perf_counter() - start
        print(f"{done:>12,} instructions  {used / 2**20:8.1f} MiB  {seconds:7.0f} s  "
              f"console {len(vm.console):,} kept, {vm.console_dropped:,} dropped  "
              f"code cache {blocks.code_cache(vm.engine.cpu).size / 2**20:.1f} MiB",
              flush=True)

    points = soak(vm, args.instructions, args.checkpoints, args.tracemalloc, report)
    first, last = points[0][1], points[-1][1]
    print(f"memory from the first checkpoint to the last: {(last - first) / 2**20:+.1f} MiB")


if __name__ == "__main__":
    main()

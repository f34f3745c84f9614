"""`vmkit bench`: how fast the simulated machine runs, measured, not asserted.

Each workload (vmkit/guest/bench.s) runs with paging off (M-mode, `bare`) and with Sv32 on
(S-mode through the MMU and TLB, `sv32`); a row reports the median guest MIPS over a few
repetitions run one after the other in this process, so rows are comparable with each other.
The last row reports the host memory a machine with 64 MiB of guest RAM costs.
"""

import json
import statistics
import time
from importlib import resources

from .asm import assemble
from .hw.machine import Machine

WORKLOADS = {"intloop": 0, "memcpy": 1}
PAGING = {"bare": 0, "sv32": 1}
ITERATIONS = {"intloop": 200_000, "memcpy": 80}      # about 0.6 M instructions each


def _program(workload, paging, iterations):
    source = resources.files("vmkit.guest").joinpath("bench.s").read_text()
    header = (f".equ WORKLOAD, {WORKLOADS[workload]}\n.equ SV32, {PAGING[paging]}\n"
              f".equ ITERATIONS, {iterations}\n")
    return assemble(header + source, "bench.s")


def measure(workload, paging, repeat=5, scale=1.0):
    """Median MIPS of `repeat` runs of one workload; also returns the instruction count."""
    program = _program(workload, paging, max(1, int(ITERATIONS[workload] * scale)))
    rates = []
    for _ in range(repeat):
        machine = Machine(ram_size=16 << 20)
        machine.load_program(program)
        start = time.perf_counter()
        exit = machine.run(100_000_000)
        seconds = time.perf_counter() - start
        if exit.reason != "poweroff" or exit.code != 0:
            raise RuntimeError(f"benchmark {workload}/{paging} failed: {exit.describe()}")
        rates.append(exit.instructions / seconds / 1e6)
    tlb = machine.hart.mmu.tlb
    machine.hart.sync_counters()
    return {"path": "reference", "workload": workload, "paging": paging,
            "mips": round(statistics.median(rates), 3),
            "runs": [round(r, 3) for r in rates], "instructions": exit.instructions,
            "tlb_hits": tlb.hits, "tlb_misses": tlb.misses}


def measure_memory(ram_size=64 << 20):
    """Host bytes allocated by building (and briefly running) a machine with `ram_size`."""
    import tracemalloc                 # imported here: not every Python build (Pyodide) has it
    tracemalloc.start()
    machine = Machine(ram_size=ram_size)
    machine.load_program(_program("intloop", "sv32", 10))
    machine.run(100_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"path": "reference", "workload": "machine-64MiB", "paging": "-", "mips": None,
            "guest_ram_bytes": ram_size, "host_bytes": peak,
            "ratio": round(peak / ram_size, 3)}


def run(repeat=5, scale=1.0):
    rows = [measure(w, p, repeat, scale) for w in WORKLOADS for p in PAGING]
    rows.append(measure_memory())
    return rows


def table(rows):
    lines = [f"{'path':<10} {'workload':<14} {'paging':<7} {'MIPS':>7}   runs / notes"]
    for row in rows:
        if row["mips"] is None:
            lines.append(f"{row['path']:<10} {row['workload']:<14} {row['paging']:<7} "
                         f"{'':>7}   host memory {row['host_bytes'] / 2**20:.1f} MiB for "
                         f"{row['guest_ram_bytes'] / 2**20:.0f} MiB guest RAM "
                         f"(x{row['ratio']})")
        else:
            runs = ", ".join(f"{r:.2f}" for r in row["runs"])
            lines.append(f"{row['path']:<10} {row['workload']:<14} {row['paging']:<7} "
                         f"{row['mips']:>7.2f}   median of [{runs}]; TLB "
                         f"{row['tlb_hits']} hits / {row['tlb_misses']} misses")
    return "\n".join(lines) + "\n"


def main(as_json=False, repeat=5, scale=1.0):
    rows = run(repeat, scale)
    return json.dumps(rows, indent=1) + "\n" if as_json else table(rows)

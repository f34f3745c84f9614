"""`vmkit bench`: how fast the simulated machine runs, measured, not asserted.

Each workload (vmkit/guest/bench.s) runs with paging off (M-mode, `bare`) and with Sv32 on
(S-mode through the MMU and TLB, `sv32`), on both execution paths of the hart: `reference`
(one pre-decoded closure per instruction, hart.py) and `fast` (compiled basic blocks,
hw/blocks.py). The two paths' runs alternate in this one process, so their medians and the
ratio between them are measured side by side under the same machine load. A `compare` row
times the lecture's five-technique comparison of tinyos (all engines, `vmkit.lab.compare`),
and the last row reports the host memory a machine with 64 MiB of guest RAM costs.
"""

import json
import os
import platform
import statistics
import sys
import time
from importlib import resources

from .asm import assemble
from .hw.machine import Machine

WORKLOADS = {"intloop": 0, "memcpy": 1}
PAGING = {"bare": 0, "sv32": 1}
ITERATIONS = {"intloop": 200_000, "memcpy": 80}      # about 0.6 M instructions each
PATHS = {"reference": False, "fast": True}


def _program(workload, paging, iterations):
    source = resources.files("vmkit.guest").joinpath("bench.s").read_text()
    header = (f".equ WORKLOAD, {WORKLOADS[workload]}\n.equ SV32, {PAGING[paging]}\n"
              f".equ ITERATIONS, {iterations}\n")
    return assemble(header + source, "bench.s")


def _run_once(program, fast):
    """(MIPS, machine) of one run of `program` from reset to power-off."""
    machine = Machine(ram_size=16 << 20, fast=fast)
    machine.load_program(program)
    start = time.perf_counter()
    exit = machine.run(100_000_000)
    seconds = time.perf_counter() - start
    if exit.reason != "poweroff" or exit.code != 0:
        raise RuntimeError(f"benchmark failed: {exit.describe()}")
    return exit.instructions / seconds / 1e6, machine


def measure(workload, paging, repeat=5, scale=1.0):
    """One row per path: median MIPS of `repeat` alternating runs, with the TLB counts."""
    program = _program(workload, paging, max(1, int(ITERATIONS[workload] * scale)))
    rates = {path: [] for path in PATHS}
    machines = {}
    for _ in range(repeat):
        for path, fast in PATHS.items():
            rate, machines[path] = _run_once(program, fast)
            rates[path].append(rate)
    rows = []
    for path in PATHS:
        hart = machines[path].hart
        hart.sync_counters()
        median = statistics.median(rates[path])
        rows.append({"path": path, "workload": workload, "paging": paging,
                     "mips": round(median, 3), "runs": [round(r, 3) for r in rates[path]],
                     "instructions": hart.instret, "tlb_hits": hart.mmu.tlb.hits,
                     "tlb_misses": hart.mmu.tlb.misses,
                     "ratio": round(median / statistics.median(rates["reference"]), 2)})
    return rows


def measure_compare(repeat=3, workload="tinyos"):
    """Seconds for the five-technique comparison of `workload` (every engine), per path."""
    from . import lab
    times = {path: [] for path in PATHS}
    for _ in range(repeat):
        for path, fast in PATHS.items():
            start = time.perf_counter()
            results = lab.compare(workload, fast=fast)
            times[path].append(time.perf_counter() - start)
            if any(r.exit_code != 0 for r in results):
                raise RuntimeError(f"benchmark compare/{workload} failed")
    reference = statistics.median(times["reference"])
    return [{"path": path, "workload": f"compare-{workload}", "paging": "-", "mips": None,
             "seconds": round(statistics.median(times[path]), 3),
             "runs": [round(t, 3) for t in times[path]],
             "instructions": sum(r.counters["guest_instructions"] for r in results),
             "ratio": round(reference / statistics.median(times[path]), 2)}
            for path in PATHS]


def measure_consolidation(repeat=3, guests=8):
    """Seconds to run `guests` idle guests (hw) on one host, per path, and the host
    utilization one host each vs all on one (vmkit/vmm/consolidation.py)."""
    from .vmm import consolidation
    program = consolidation.idle_guest()
    times = {path: [] for path in PATHS}
    for _ in range(repeat):
        for path, fast in PATHS.items():
            start = time.perf_counter()
            report = consolidation.run_host(guests, program, fast=fast)
            times[path].append(time.perf_counter() - start)
    alone = consolidation.run_host(1, program)["utilization"]
    reference = statistics.median(times["reference"])
    return [{"path": path, "workload": f"consolidate-{guests}", "paging": "-", "mips": None,
             "seconds": round(statistics.median(times[path]), 3),
             "runs": [round(t, 3) for t in times[path]], "instructions": report["busy"],
             "utilization": [round(alone, 3), round(report["utilization"], 3)],
             "ratio": round(reference / statistics.median(times[path]), 2)}
            for path in PATHS]


def measure_memory(ram_size=64 << 20):
    """Host bytes allocated by building (and briefly running) a machine with `ram_size`."""
    import tracemalloc                 # imported here: not every Python build (Pyodide) has it
    tracemalloc.start()
    machine = Machine(ram_size=ram_size)
    machine.load_program(_program("intloop", "sv32", 10))
    machine.run(100_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"path": "-", "workload": "machine-64MiB", "paging": "-", "mips": None,
            "guest_ram_bytes": ram_size, "host_bytes": peak,
            "ratio": round(peak / ram_size, 3)}


def host():
    """Where the figures were measured: they mean little without it."""
    return {"path": "-", "workload": "host", "paging": "-", "mips": None,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "system": sys.platform, "machine": platform.machine(),
            "processors": os.cpu_count()}


def run(repeat=5, scale=1.0):
    rows = [host()]
    rows += [row for w in WORKLOADS for p in PAGING for row in measure(w, p, repeat, scale)]
    rows += measure_compare(max(1, min(repeat, 3)))
    rows += measure_consolidation(max(1, min(repeat, 3)))
    rows.append(measure_memory())
    return rows


def table(rows):
    lines = [f"{'path':<10} {'workload':<15} {'paging':<7} {'MIPS':>7} {'x ref':>6}   "
             "runs / notes"]
    for row in rows:
        if row["workload"] == "host":
            lines.insert(0, f"vmkit bench on {row['python']}, {row['system']} "
                            f"{row['machine']}, {row['processors'] or '?'} processor(s)")
            continue
        head = f"{row['path']:<10} {row['workload']:<15} {row['paging']:<7}"
        if "host_bytes" in row:
            lines.append(f"{head} {'':>7} {'':>6}   host memory "
                         f"{row['host_bytes'] / 2**20:.1f} MiB for "
                         f"{row['guest_ram_bytes'] / 2**20:.0f} MiB guest RAM (x{row['ratio']})")
        elif "utilization" in row:
            runs = ", ".join(f"{r:.2f}" for r in row["runs"])
            alone, together = row["utilization"]
            lines.append(f"{head} {'':>7} {row['ratio']:>6.2f}   {row['seconds']:.2f} s "
                         f"(median of [{runs}]); host utilization {alone:.0%} one host each, "
                         f"{together:.0%} on one")
        elif "seconds" in row:
            runs = ", ".join(f"{r:.2f}" for r in row["runs"])
            lines.append(f"{head} {'':>7} {row['ratio']:>6.2f}   {row['seconds']:.2f} s "
                         f"(median of [{runs}]) for {row['instructions']} guest instructions "
                         "under all engines")
        else:
            runs = ", ".join(f"{r:.2f}" for r in row["runs"])
            lines.append(f"{head} {row['mips']:>7.2f} {row['ratio']:>6.2f}   median of "
                         f"[{runs}]; TLB {row['tlb_hits']} hits / {row['tlb_misses']} misses")
    return "\n".join(lines) + "\n"


def main(as_json=False, repeat=5, scale=1.0):
    rows = run(repeat, scale)
    return json.dumps(rows, indent=1) + "\n" if as_json else table(rows)

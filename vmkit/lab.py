"""Experiments: run one workload under the CPU-virtualization techniques, get tidy rows.

    from vmkit import lab
    results = lab.compare("syscall", iterations=100)     # one RunResult per engine
    [r.to_dict() for r in results]                       # rows for a table or a Bokeh plot

Every number in a row is counted or derived from counts (the cost model), except `wall_s`,
which is how long the simulation took on this machine and says nothing about the technique.
"""

import time
from pathlib import Path

from . import guest
from .vmm.costs import RunResult, cost_model
from .vmm.engines import ENGINES
from .vmm.vm import VirtualMachine

# The engines a comparison runs by default, in the lecture's order.
DEFAULT_ENGINES = tuple(name for name in ("native", "emulate", "trap", "bt", "pv", "hw")
                        if name in ENGINES)


def load_program(workload, iterations=None, pv=False):
    """A workload name from vmkit.guest (tinyos, syscall, ...) or a path to a .s/.elf file.
    `pv`: the paravirtual build of a named workload (the `pv` engine runs that one)."""
    if workload in guest.WORKLOADS:
        return guest.build(workload, iterations=iterations, pv=pv)
    path = Path(workload)
    if path.suffix in (".s", ".S") and path.is_file():
        from .asm import assemble_file
        return assemble_file(path)
    if path.suffix == ".elf" and path.is_file():
        from .elf import load_elf_file
        return load_elf_file(path)
    raise ValueError(f"unknown workload {workload!r}; choose one of "
                     f"{', '.join(guest.WORKLOADS)}, or give a .s or .elf file")


def run(workload, engine="hw", iterations=None, model="modern", max_instructions=50_000_000,
        console=None, quirks=(), fast=True):
    """Run `workload` under `engine`; return a RunResult (counters, cycles, console, ...).
    `quirks`: Popek-Goldberg lab switches of the host CPU (vmkit.hw.system.QUIRKS).
    `fast=False` runs the simulator's reference interpreter (same results, slower)."""
    program = load_program(workload, iterations, pv=(engine == "pv"))
    vm = VirtualMachine(program, engine=engine, console=console, quirks=quirks, fast=fast)
    start = time.perf_counter()
    stop = vm.run(max_instructions)
    wall = time.perf_counter() - start
    counters = vm.counters.as_dict()
    counters.update(_mmu_counters(vm))
    costs = cost_model(model)
    cycles = costs.estimate(counters, vm_exits=(engine == "hw"))
    return RunResult(engine=engine, workload=str(workload), counters=counters, cycles=cycles,
                     total_cycles=sum(cycles.values()), wall_s=round(wall, 4),
                     console=bytes(vm.console).decode("utf-8", "replace"),
                     exit_code=stop.code if stop.reason == "shutdown" else None,
                     exit_reason=stop.reason if not stop.message else
                     f"{stop.reason}: {stop.message}")


def compare(workload, engines=DEFAULT_ENGINES, iterations=None, model="modern",
            max_instructions=50_000_000, quirks=(), fast=True):
    """The same workload under each engine: a list of RunResults, in `engines` order."""
    for name in engines:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
    return [run(workload, name, iterations, model, max_instructions, quirks=quirks, fast=fast)
            for name in engines]


def _mmu_counters(vm):
    """TLB and page-walk counts of the CPU that ran the guest's code, and the engine's own."""
    cpu = vm.engine.cpu
    cpu.sync_counters()
    tlb = cpu.mmu.tlb
    counters = {"tlb_hits": tlb.hits, "tlb_misses": tlb.misses, "tlb_flushes": tlb.flushes,
                "walk_references": cpu.mmu.walk_references}
    statistics = getattr(vm.engine, "statistics", None)       # bt's translation cache
    if statistics is not None:
        counters.update(statistics())
    return counters

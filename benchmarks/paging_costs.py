"""What memory virtualization costs: the four paging microbenchmarks (pagefault, ptemod,
ctxswitch, forkwait; Adams & Agesen, ASPLOS 2006) under every engine that runs guest paging,
priced by both cost models.

One row per (benchmark, engine, G-stage leaf size where the engine has a G-stage): the
estimated cycles of the whole run under 'modern' and 'p4-2006' (one run, priced twice: the
counts are facts, the prices assumptions), those totals divided by the iteration count (boot
and shutdown included), the cycles of one more iteration (runs of N and 2N iterations,
subtracted: boot left out), the shadow-paging faults (trap), and the page-walk references per
TLB miss, of the whole run and of one more iteration (a native Sv32 walk of a 4 KiB page reads
2; the 2D walk up to 8 with 4 KiB G-stage leaves, 5 with 4 MiB ones; the boot, which clears
the kernel's frames through its megapage, walks cheaper and, with 4 KiB G-stage leaves, misses
far more often). Engines that refuse guest paging (Engine.paging_mode None) are listed as
such, unpriced.

    python3 benchmarks/paging_costs.py [--iterations N] [--json]

Deterministic: every figure is a count or a count times a constant of vmkit/vmm/costs.py.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vmkit import lab  # noqa: E402
from vmkit.guest import PAGING  # noqa: E402
from vmkit.vmm.costs import PRESETS, REFUSED, cost_model  # noqa: E402
from vmkit.vmm.engines import ENGINES  # noqa: E402


def configurations():
    """(label, engine, G-stage leaf size or None) for every registered engine, each G-stage
    leaf size it offers (its default first)."""
    for name, engine in ENGINES.items():
        if not engine.gstage_pages:
            yield name, name, None
        for page in engine.gstage_pages:
            yield f"{name} g{page >> 10}k" if page < 1 << 20 else f"{name} g{page >> 20}m", \
                name, page


def measure(benchmark, label, engine, page, iterations):
    runs = [lab.run(benchmark, engine, iterations=n, gstage_page=page)
            for n in (iterations, 2 * iterations)]
    row = {"benchmark": benchmark, "engine": label,
           "paging_mode": ENGINES[engine].paging_mode, "iterations": iterations}
    if runs[0].paging_refused:
        return row | {"refused": True}
    counters = runs[0].counters
    for model in PRESETS:
        total, more = (sum(lab.price(engine, r.counters, cost_model(model)).values())
                       for r in runs)
        row[model] = {"total": total, "per_iteration": round(total / iterations),
                      "one_more_iteration": round((more - total) / iterations)}
    misses = counters["tlb_misses"]
    more_misses, more_references = (runs[1].counters[key] - counters[key]
                                    for key in ("tlb_misses", "walk_references"))
    return row | {"refused": False,
                  "guest_instructions": counters["guest_instructions"],
                  "hidden_faults": counters.get("hidden_faults"),
                  "true_faults": counters.get("true_faults"),
                  "walk_references": counters["walk_references"], "tlb_misses": misses,
                  "references_per_miss": ratio(counters["walk_references"], misses),
                  "one_more_iteration_misses": round(more_misses / iterations, 2),
                  "one_more_iteration_references_per_miss": ratio(more_references,
                                                                   more_misses)}


def ratio(references, misses):
    return round(references / misses, 2) if misses else None


def table(rows):
    models = list(PRESETS)
    lines = [f"{'benchmark':<10} {'engine':<11} " + " ".join(
        f"{m + ' total':>16} {'/iter':>8} {'+1 iter':>8}" for m in models)
        + f" {'hidden':>7} {'true':>6} {'refs/miss':>9} {'+1: misses':>10} {'refs/miss':>9}"]
    for r in rows:
        head = f"{r['benchmark']:<10} {r['engine']:<11} "
        if r["refused"]:
            lines.append(head + REFUSED)
            continue
        shown = lambda n: "-" if n is None else str(n)
        lines.append(head + " ".join(
            f"{r[m]['total']:>16} {r[m]['per_iteration']:>8} {r[m]['one_more_iteration']:>8}"
            for m in models) + f" {shown(r['hidden_faults']):>7} {shown(r['true_faults']):>6}"
            f" {shown(r['references_per_miss']):>9} {r['one_more_iteration_misses']:>10}"
            f" {shown(r['one_more_iteration_references_per_miss']):>9}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100,
                        help="loop count of each benchmark (default 100; a second run has 2x)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")
    rows = [measure(benchmark, label, engine, page, args.iterations)
            for benchmark in PAGING for label, engine, page in configurations()]
    print(json.dumps(rows, indent=1) if args.json else
          f"{args.iterations} iterations per run (cycles: estimates, vmkit/vmm/costs.py)\n"
          + table(rows))


if __name__ == "__main__":
    main()

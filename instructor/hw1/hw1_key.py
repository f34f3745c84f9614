"""Homework 1's answer key (instructors only: it goes into the autograder, never to students).

The answers are measured by running vmkit, so they follow the simulator and the cost model.
Every question is about what ONE iteration of a loop adds, so the key measures each
(workload, engine, cost model) once, at two loop lengths, and scales: a loop's counts grow
linearly with its iterations (tests/test_homework.py checks that against direct runs).
Printing cannot leak in: the key counts exits by reason and leaves out 'mmio' (the UART
accesses of the final "N iterations done" line), and prices runs whose printed lines have
the same length.

    python3 hw1_key.py --id AB12CD -c     # the questions of a student and their answers (OSTEP -c)
    python3 hw1_key.py --seed 7 -c
"""

import argparse
import functools
import math

import hw1
from vmkit import lab

# Two loop lengths with the same number of digits, so that the final line is as long in both.
SHORT, LONG = 10, 60


@functools.cache
def per_iteration(workload, engine, preset):
    """(exits by reason, cycles by category) that one more iteration adds."""
    a = lab.run(workload, engine, iterations=SHORT, model=preset)
    b = lab.run(workload, engine, iterations=LONG, model=preset)
    exits = {reason: (b.counters["exits"].get(reason, 0) - a.counters["exits"].get(reason, 0))
             / (LONG - SHORT) for reason in b.counters["exits"]}
    cycles = {category: (b.cycles[category] - a.cycles[category]) / (LONG - SHORT)
              for category in b.cycles}
    return exits, cycles


def loop_exits(engine):
    """Exits one iteration of the cli/sti loop adds, 'mmio' (printing) left out."""
    exits, _ = per_iteration("csr", engine, "modern")
    return sum(count for reason, count in exits.items() if reason != "mmio")


def answers(seed):
    v = hw1.Variant(seed)
    growth = v.n_large - v.n_small
    _, cycles3 = per_iteration(*v.q3_run)
    _, cycles4 = per_iteration(*v.q4_run)
    return {"q1_trap": round(loop_exits("trap") * growth),
            "q1_bt": round(loop_exits("bt") * growth),
            "q3": max(cycles3, key=cycles3.get),
            "q4": round(sum(cycles4.values()))}


def check(name, value, student_id):
    """True when `value` answers question `name` of this student's variant. Prints a hint (never
    the answer) when it does not: the student reads it in the graded report."""
    expected = answers(hw1.seed_of(student_id))[name]
    if name == "q4":
        right = (isinstance(value, (int, float)) and not isinstance(value, bool)
                 and math.isfinite(value) and abs(value - expected) <= 1)
    else:
        right = type(value) is type(expected) and value == expected
    if not right:
        print(HINTS[name])
    return right


HINTS = {
    "q1_trap": "q1_trap: under trap every privileged instruction of the loop traps to the VMM.",
    "q1_bt": "q1_bt: under bt the loop's cli/sti are translated before they run.",
    "q3": "q3: subtract the cycles by category of a short run from those of a long one.",
    "q4": "q4: (cycles of a long run - cycles of a short run) / (difference in iterations), "
          "with runs whose final line has the same number of digits.",
}


def reference_sret(state):
    """The solution of q2 (privileged spec 4.1.1): privilege <- SPP; SIE <- SPIE; SPIE <- 1;
    SPP <- U; continue at sepc."""
    spp, spie = state.sstatus >> 8 & 1, state.sstatus >> 5 & 1
    state.priv = spp
    state.sstatus = (state.sstatus & ~hw1.SIE) | (hw1.SIE if spie else 0)
    state.sstatus = (state.sstatus | hw1.SPIE) & ~hw1.SPP
    state.pc = state.sepc


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", help="a student ID (the seed is its hash)")
    who.add_argument("--seed", type=int)
    parser.add_argument("-c", action="store_true", help="compute the answers too")
    args = parser.parse_args()
    seed = hw1.seed_of(args.id) if args.id is not None else args.seed
    print(f"seed {seed}\n\n{hw1.Variant(seed).text()}\n")
    if args.c:
        print("answers:", answers(seed), "(q2: reference_sret)")


if __name__ == "__main__":
    main()

"""Homework 2's answer key (instructors only: it goes into the autograder, never to students).

The answers are measured by running vmkit on the guests of hw2.py, so they follow the
simulator: q1 is the MMU's own count of PTE reads across the one load of `touch_program`, q3
the trap engine's count of hidden and true faults across the trace of `trace_program` (a run
with the trace less a run without it: both pay the same faults to turn paging on). q2 is
graded by hw2.check_shadow_pte (every rule, then the paging guests under `trap` against
native); q4 is the letter the seed gave the right option. tests/test_homework.py checks the
key against the lecture's reasoning: (n+1)(m+1)-1 references, and a shadow filled as a TLB.

    python3 hw2_key.py --id AB12CD -c     # the questions of a student and their answers (OSTEP -c)
    python3 hw2_key.py --seed 7 -c
"""

import argparse
import functools

import hw2
from vmkit.hw.mmu import COUNTERS
from vmkit.vmm.shadow import shadow_flags
from vmkit.vmm.vm import VirtualMachine


# q4's right option (lecture: shadow.py's coherence paragraph); the others are false.
Q4_RIGHT = next(o for o in hw2.Q4_OPTIONS if o.startswith("The spec lets a hart"))


@functools.cache
def walk_references(engine, gstage_page, megapage):
    """PTE reads of touch_program's one load, counted by the MMU (vmkit/hw/mmu.py)."""
    program = hw2.touch_program(megapage)
    vm = VirtualMachine(program, engine=engine, gstage_page=gstage_page)
    symbols = program.symbols
    vm.run((symbols["touch"] - symbols["_start"]) // 4)      # straight-line code up to the load
    assert vm.engine.cpu.pc == symbols["touch"]
    before = vm.counters.as_dict()
    vm.run(1)
    after = vm.counters.as_dict()
    delta = {key: after[key] - before[key] for key in COUNTERS}
    assert delta["page_walks"] == 1 and vm.engine.cpu.mmu.last_walk.vaddr >> 22 == hw2.VA >> 22
    return delta["walk_references"]


def trace_faults(pages, trace):
    """(hidden, true) faults of `trace` under trap: the trace's run less an empty trace's."""
    def faults(accesses):
        vm = VirtualMachine(hw2.trace_program(pages, accesses), engine="trap")
        stop = vm.run(100_000)
        assert stop.reason == "shutdown", stop
        stats = vm.engine.statistics()
        return stats["hidden_faults"], stats["true_faults"]
    (hidden, true), (hidden0, true0) = faults(trace), faults([])
    return hidden - hidden0, true - true0


def answers(seed):
    v = hw2.Variant(seed)
    hidden, true = trace_faults(v.pages, v.trace)
    return {"q1a": walk_references(*v.q1a), "q1b": walk_references(*v.q1b),
            "q3_hidden": hidden, "q3_true": true,
            "q4": "abcde"[v.q4_options.index(Q4_RIGHT)]}


def check(name, value, student_id):
    """True when `value` answers question `name` of this student's variant. Prints a hint (never
    the answer) when it does not: the student reads it in the graded report."""
    expected = answers(hw2.seed_of(student_id))[name]
    if name == "q4" and isinstance(value, str):
        value = value.strip().lower()
    right = type(value) is type(expected) and value == expected
    if not right:
        print(HINTS[name])
    return right


HINTS = {
    "q1a": "q1a: each guest PTE's address is guest-physical: the G-stage translates it first; "
           "and the data's guest-physical address too. A 4 MiB leaf ends a walk one level early.",
    "q1b": "q1b: count one read per level walked; a megapage's leaf is in the root. A software "
           "MMU (emulate) translates guest-physical addresses without a table walk.",
    "q3_hidden": "q3_hidden: the first access to a page the guest maps misses in the shadow; a "
                 "page whose guest PTE is not yet dirty is mapped read-only there.",
    "q3_true": "q3_true: a true fault is one the guest's own table causes: the access would "
               "fault on the bare machine too.",
    "q4": "q4: read the coherence paragraph of vmkit/vmm/shadow.py's docstring.",
}


def check_shadow_pte(shadow_pte):
    """q2's hidden part: every rule holds and the paging guests under `trap` with
    `shadow_pte` see what they see natively. Prints what is wrong (a rule, never code)."""
    if not callable(shadow_pte):
        print("q2: shadow_pte is not a function")
        return False
    problem = (hw2.shadow_pte_problems(shadow_pte) or [hw2.paging_problem(shadow_pte)])[0]
    if problem:
        print("q2: " + problem)
    return not problem


def reference_shadow_pte(guest_pte, host_frame, user, mxr):
    """The solution of q2: the frame, V, and the bits the VMM's own shadow_flags gives."""
    return host_frame >> 12 << 10 | hw2.V | shadow_flags(guest_pte, user, mxr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", help="a student ID (the seed is its hash)")
    who.add_argument("--seed", type=int)
    parser.add_argument("-c", action="store_true", help="compute the answers too")
    args = parser.parse_args()
    seed = hw2.seed_of(args.id) if args.id is not None else args.seed
    print(f"seed {seed}\n\n{hw2.Variant(seed).text()}\n")
    if args.c:
        print("answers:", answers(seed), "(q2: reference_shadow_pte)")


if __name__ == "__main__":
    main()

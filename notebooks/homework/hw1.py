"""Homework 1 (CPU virtualization): seeded problems and their answers.

Like OSTEP's homework simulators: a seed picks the numbers of a problem, and the answers are
computed by running vmkit, so they are right for every seed.

    python3 hw1.py --seed 7              # the problems of variant 7
    python3 hw1.py --seed 7 --answers    # ... and their answers (for instructors)
"""

import argparse
import random

from vmkit import lab
from vmkit.vmm.costs import cost_model


class Homework:
    def __init__(self, seed):
        rng = random.Random(seed)
        self.seed = seed
        self.n_small = rng.randrange(5, 30)
        self.n_large = self.n_small + rng.randrange(10, 60)
        self.preset = rng.choice(["p4-2006", "modern"])
        self.workload = rng.choice(["syscall", "trapinsn"])

    def problems(self):
        return {
            "q1": f"Run the `csr` microbenchmark (cli/sti in a loop) with {self.n_small} and with "
                  f"{self.n_large} iterations. By how many do the exits grow under `trap` "
                  f"(q1_trap) and under `bt` (q1_bt)?",
            "q2": "Write my_sret(state): the emulation of `sret` that the trap engine calls.",
            "q3": f"Run `{self.workload}` with {self.n_large} iterations under `trap` and price it "
                  f"with the `{self.preset}` cost model. Which cost category is the largest "
                  f"(q3, a string such as 'execute')?",
            "q4": f"With the `{self.preset}` cost model, how many estimated cycles does ONE "
                  f"iteration of `io` cost under `hw` (q4, an integer)?",
        }

    # -- answers, computed by running the guests ----------------------------------------------
    def _exits(self, workload, engine, iterations):
        result = lab.run(workload, engine, iterations=iterations)
        return sum(result.counters["exits"].values())

    def answer(self, name):
        if name in ("q1_trap", "q1_bt"):
            engine = name[3:]
            return (self._exits("csr", engine, self.n_large)
                    - self._exits("csr", engine, self.n_small))
        if name == "q3":
            result = lab.run(self.workload, "trap", iterations=self.n_large, model=self.preset)
            return max(result.cycles, key=result.cycles.get)
        if name == "q4":
            small = lab.run("io", "hw", iterations=self.n_small, model=self.preset)
            large = lab.run("io", "hw", iterations=self.n_small + 1, model=self.preset)
            return large.total_cycles - small.total_cycles
        raise KeyError(name)

    def answers(self):
        return {name: self.answer(name) for name in ("q1_trap", "q1_bt", "q3", "q4")}


# sret back to S-mode with every combination of SPIE and SIE; the guest records sstatus after
# each, so a wrong SIE/SPIE/SPP update shows in its registers.
SRET_PROBE = """
        .globl _start
_start: li      s0, 0
        li      s2, 4
1:      andi    t0, s0, 1           # SPIE from bit 0 of the counter
        slli    t0, t0, 5
        andi    t1, s0, 2           # SIE from bit 1 (0b10 = SIE already)
        or      t0, t0, t1
        li      t1, 1 << 8          # SPP = S
        or      t0, t0, t1
        csrw    sstatus, t0
        la      t0, 2f
        csrw    sepc, t0
        sret
2:      csrr    t0, sstatus
        slli    s1, s1, 8
        or      s1, s1, t0
        addi    s0, s0, 1
        blt     s0, s2, 1b
        li      a7, 0x53525354
        li      a6, 0
        li      a0, 0
        li      a1, 0
        ecall
"""


def check_sret(my_sret):
    """Run guests under `trap` with `my_sret` as the sret emulation; True when each guest sees
    exactly what it sees on real hardware (output, registers, CSRs): the teaching kernel, and
    a probe that returns to S-mode with every combination of SPIE and SIE."""
    from vmkit import guest
    from vmkit.asm import assemble
    from vmkit.vmm.vm import VirtualMachine

    for program in (guest.build("tinyos"), assemble(SRET_PROBE, "sret_probe.s")):
        reference = VirtualMachine(program, engine="native")
        reference.run(2_000_000)
        try:
            vm = VirtualMachine(program, engine="trap")
            vm.engine.student_sret = my_sret
            stop = vm.run(2_000_000)
        except Exception:
            return False
        if not (stop.reason == "shutdown" and vm.console == reference.console
                and vm.engine.guest_state() == reference.engine.guest_state()):
            return False
    return True


def reference_sret(state):
    """The instructors' solution (privileged spec 4.1.1): privilege <- SPP; SIE <- SPIE;
    SPIE <- 1; SPP <- U; continue at sepc."""
    spp, spie = state.sstatus >> 8 & 1, state.sstatus >> 5 & 1
    state.priv = spp
    state.sstatus = (state.sstatus & ~(1 << 1)) | (spie << 1)
    state.sstatus = (state.sstatus | 1 << 5) & ~(1 << 8)
    state.pc = state.sepc


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--answers", action="store_true", help="print the answers too")
    args = parser.parse_args()
    homework = Homework(args.seed)
    for name, text in homework.problems().items():
        print(f"{name}: {text}")
    if args.answers:
        print("answers:", homework.answers(), "(q2: see reference_sret)")


if __name__ == "__main__":
    main()

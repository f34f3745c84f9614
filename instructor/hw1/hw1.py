"""Homework 1 (CPU virtualization), the student's side: your variant's questions and the checks
that tell you what is wrong. It holds no answers: those are computed by the instructors'
autograder when your notebook is graded.

    import hw1
    variant = hw1.Variant.of("your student ID")
    print(variant.text())

Like OSTEP's homework simulators, a seed picks the problem; here the seed is a hash of your
student ID, so you and your neighbour most likely got different questions.
"""

import hashlib
import random
import traceback

# (workload, engine, cost preset): the runs question 3 asks about, one per seed. Chosen so that
# different runs are dominated by different cost categories (the instructors' tests check it).
Q3_RUNS = [("syscall", "trap", "p4-2006"), ("trapinsn", "trap", "modern"),
           ("csr", "hw", "p4-2006"), ("syscall", "hw", "modern"), ("callret", "trap", "modern"),
           ("callret", "emulate", "p4-2006"), ("csr", "emulate", "modern"),
           ("io", "emulate", "p4-2006"), ("io", "trap", "p4-2006"), ("io", "trap", "modern")]
# (workload, engine, cost preset): the run whose price per iteration question 4 asks for.
Q4_RUNS = [("io", "hw", "p4-2006"), ("io", "hw", "modern"), ("io", "trap", "modern"),
           ("syscall", "trap", "p4-2006"), ("syscall", "pv", "modern"),
           ("csr", "trap", "p4-2006"), ("trapinsn", "pv", "p4-2006")]
# The cost categories of a run's breakdown (vmkit.vmm.costs): the names question 3 accepts.
CATEGORIES = ("execute", "emulate", "translate", "exits", "hypercalls", "interrupts", "memory",
              "io")


def seed_of(student_id):
    """A stable seed from a student ID (sha256: Python's hash() changes between runs)."""
    text = "" if student_id is ... else str(student_id).strip()
    if not text:
        raise ValueError("put your student ID in STUDENT_ID first, e.g. STUDENT_ID = \"AB12CD\"")
    return int.from_bytes(hashlib.sha256(b"vmkit-hw1:" + text.encode()).digest()[:4], "big")


class Variant:
    """The numbers and runs of one seed's questions (the questions only, never the answers)."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.seed = seed
        # q1: two lengths of the cli/sti loop; they may print with different numbers of digits.
        self.n_small = rng.randrange(3, 40)
        self.n_large = rng.randrange(self.n_small + 10, 130)
        self.q3_run = rng.choice(Q3_RUNS)
        self.q4_run = rng.choice(Q4_RUNS)

    @classmethod
    def of(cls, student_id):
        """The variant of `student_id`; an example variant (with a note) while it is unset."""
        if student_id is ... or not str(student_id).strip():     # (seed_of would refuse it)
            print("STUDENT_ID is not set: these are the questions of an example variant. Put "
                  "your ID in (STUDENT_ID = \"AB12CD\") and run the cell again: you are graded "
                  "on the variant of your ID.\n")
            return cls(0)
        return cls(seed_of(student_id))

    def questions(self):
        w3, e3, p3 = self.q3_run
        w4, e4, p4 = self.q4_run
        return {
            "q1": f"Run `csr` (cli/sti in a loop) with {self.n_small} and with {self.n_large} "
                  f"iterations. By how many do the exits grow under `trap` (q1_trap) and under "
                  f"`bt` (q1_bt)? Count every exit reason except 'mmio': those are the UART "
                  f"accesses of the line the guest prints at the end, not the loop.",
            "q2": "Write my_sret(state): the emulation of `sret` that the trap engine calls.",
            "q3": f"Run `{w3}` under `{e3}` and price it with the `{p3}` cost model. Which cost "
                  f"category grows the most with each iteration (q3, a name such as 'execute')?",
            "q4": f"With the `{p4}` cost model, how many estimated cycles does ONE iteration of "
                  f"`{w4}` cost under `{e4}` (q4, rounded to a whole number)?",
        }

    def text(self):
        return "\n\n".join(f"{name}: {text}" for name, text in self.questions().items())


# -- checks the student may run (public): the form of an answer, never its value ---------------

def check_count(name, value):
    """q1: an exit count difference is a whole number, not negative."""
    if value is ... or value is None:
        return print(f"{name} has no answer yet: replace the ... with a number")
    if isinstance(value, bool) or not isinstance(value, int):
        return print(f"{name} must be a whole number (an int), not {type(value).__name__}: "
                     f"a difference of two exit counts")
    if value < 0:
        return print(f"{name} is negative: subtract the shorter run's exits from the longer's")
    print("ok")


def check_category(value):
    """q3: one of the cost model's category names."""
    if value not in CATEGORIES:
        return print(f"q3 must be one of the names in result.cycles: {', '.join(CATEGORIES)}")
    print("ok")


def check_cycles(value):
    """q4: cycles per iteration, a positive number."""
    if value is ... or value is None:
        return print("q4 has no answer yet: replace the ... with a number")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return print(f"q4 must be a number of cycles, not {type(value).__name__}")
    if value <= 0:
        return print("q4 must be positive: one more iteration never makes a run cheaper")
    print("ok")


# -- q2: my_sret, checked field by field, then on the teaching kernel --------------------------

SIE, SPIE, SPP = 1 << 1, 1 << 5, 1 << 8
OTHER = 1 << 18 | 1 << 19 | 3 << 13        # SUM, MXR, FS: bits sret must leave alone
SEPC, SRET_PC = 0x8000_1234, 0x8000_0100


def sret_problems(my_sret):
    """What is wrong with `my_sret`, as sentences (empty: nothing found). Calls it on each
    combination of SPP, SPIE and SIE and compares each field with the privileged spec (4.1.1)."""
    from vmkit.vmm.engines.trap import SretState
    for spp in (0, 1):
        for spie in (0, 1):
            for sie in (0, 1):
                before = OTHER | (SPP if spp else 0) | (SPIE if spie else 0) | (SIE if sie else 0)
                state = SretState(before, 1, SEPC, SRET_PC)
                case = (f"(sret with sstatus.SPP={spp}, SPIE={spie}, SIE={sie}, "
                        f"sepc={SEPC:#x})")
                try:
                    my_sret(state)
                except Exception:
                    return ["my_sret raised an exception " + case + ":\n" + traceback.format_exc()]
                problems = _field_problems(state, before, spp, spie)
                if problems:
                    return [f"{p} {case}" for p in problems]
    return []


def _field_problems(state, before, spp, spie):
    if not isinstance(state.sstatus, int) or not isinstance(state.priv, int):
        return ["sstatus and priv must stay integers (change the bits, keep the type)"]
    problems = []
    if state.pc != SEPC:
        problems.append(f"pc must be sepc after sret: sret returns to where the trap "
                        f"happened (pc is {_hex(state.pc)})")
    if state.priv != spp:
        problems.append(f"the mode (priv) must become sstatus.SPP, the mode the trap came "
                        f"from: {spp} ({'S' if spp else 'U'}), not {state.priv}")
    if bool(state.sstatus & SIE) != bool(spie):
        problems.append(f"sstatus.SIE must become the old SPIE ({spie}): sret restores the "
                        f"interrupt enable that the trap saved")
    if not state.sstatus & SPIE:
        problems.append("after sret, sstatus.SPIE must be 1")
    if state.sstatus & SPP:
        problems.append("after sret, sstatus.SPP must be 0 (U), the least privileged mode")
    changed = (state.sstatus ^ before) & ~(SIE | SPIE | SPP)
    if changed:
        problems.append(f"sret changes only SIE, SPIE and SPP; your sstatus also changed "
                        f"bits {changed:#x}")
    return problems


def _hex(value):
    return f"{value:#x}" if isinstance(value, int) else repr(value)


_native = {}


def tinyos_problem(my_sret):
    """Run the teaching kernel under `trap` with `my_sret`; '' when the guest sees exactly what
    it sees natively (console, registers, CSRs), else what differs."""
    from vmkit import guest
    from vmkit.vmm.vm import VirtualMachine
    program = guest.build("tinyos")
    if "tinyos" not in _native:
        native = VirtualMachine(program, engine="native")
        native.run(2_000_000)
        _native["tinyos"] = (bytes(native.console), native.engine.guest_state())
    console, state = _native["tinyos"]
    vm = VirtualMachine(program, engine="trap")
    vm.engine.student_sret = my_sret
    try:
        stop = vm.run(2_000_000)
    except Exception:
        return "tinyos under trap with my_sret raised an exception:\n" + traceback.format_exc()
    if stop.reason != "shutdown":
        return f"tinyos under trap with my_sret did not finish: {stop.reason} {stop.message}"
    if bytes(vm.console) != console:
        return "tinyos under trap with my_sret printed something else than on hardware"
    if vm.engine.guest_state() != state:
        return "tinyos ended with other registers or CSRs than on hardware"
    return ""


def check_sret(my_sret):
    """q2: print what is wrong with `my_sret` (one field at a time), or 'ok'."""
    if not callable(my_sret):
        return print("my_sret must be a function of one argument, state")
    problems = sret_problems(my_sret) or [tinyos_problem(my_sret)]
    print("\n".join(p for p in problems if p) or "ok")

"""Homework 1: the key is right for hundreds of seeds, the student's files hold no key, and a
wrong my_sret is told which field is wrong.

The key (instructor/hw1/hw1_key.py) is graded here against the reasoning of the lecture: the
cli/sti loop exits twice per iteration under trap and never under bt, and one iteration costs
what notebook 02 measures (two loop lengths, difference divided by the difference in
iterations). The end-to-end parts (otter assign, grading submissions) are in
tests/test_homework_otter.py.
"""

import hashlib
import inspect
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
STUDENT = ROOT / "notebooks" / "homework"
INSTRUCTOR = ROOT / "instructor" / "hw1"
SEEDS = range(200)

pytestmark = pytest.mark.skipif(sys.platform == "emscripten",
                                reason="the homework is not part of the Pyodide core suite")


@pytest.fixture(scope="module")
def hw():
    """(student module, key module), imported from instructor/hw1 (the source of both)."""
    sys.path.insert(0, str(INSTRUCTOR))
    import hw1
    import hw1_key
    yield hw1, hw1_key
    sys.path.remove(str(INSTRUCTOR))


def notebook02_per_iteration(workload, engine, preset, small=10, large=60):
    """Cycles by category that one iteration adds, measured as notebook 02 measures it."""
    from vmkit import lab
    a = lab.run(workload, engine, iterations=small, model=preset)
    b = lab.run(workload, engine, iterations=large, model=preset)
    return {k: (b.cycles[k] - a.cycles[k]) / (large - small) for k in b.cycles}


def loop_exits(engine, iterations):
    """What a student counts for q1: every exit of a csr run but the console's mmio ones."""
    from vmkit import lab
    exits = lab.run("csr", engine, iterations=iterations).counters["exits"]
    return sum(count for reason, count in exits.items() if reason != "mmio")


def test_the_key_follows_the_reasoning_for_200_seeds(hw):
    hw1, key = hw
    measured = {}
    q3_answers = set()
    for seed in SEEDS:
        v, answers = hw1.Variant(seed), key.answers(seed)
        # Both cli and sti trap under trap-and-emulate; bt translates them into plain code.
        assert answers["q1_trap"] == 2 * (v.n_large - v.n_small), seed
        assert answers["q1_bt"] == 0, seed
        for run in (v.q3_run, v.q4_run):
            if run not in measured:
                measured[run] = notebook02_per_iteration(*run)
        cycles3 = measured[v.q3_run]
        assert answers["q3"] == max(cycles3, key=cycles3.get), seed
        assert answers["q4"] == round(sum(measured[v.q4_run].values())), seed
        q3_answers.add(answers["q3"])
    # Seeds vary what q3 asks: different runs are dominated by different categories.
    assert len(q3_answers) >= 3, q3_answers


def test_every_q3_run_has_a_clear_winner(hw):
    """A near tie would make q3 a coin toss: the largest category leads by a quarter at least."""
    hw1, _ = hw
    for run in hw1.Q3_RUNS:
        first, second = sorted(notebook02_per_iteration(*run).values(), reverse=True)[:2]
        assert first >= 1.25 * second, (run, first, second)


# 2: 6 and 27 iterations, 3: 18 and 103, 19: 5 and 115 (one and three digits), 7: 23 and 52.
@pytest.mark.parametrize("seed", [2, 3, 19, 7])
def test_the_key_equals_a_direct_measurement(hw, seed):
    """What the student runs (the seed's own loop lengths, whose printed counts differ in
    digits for all but seed 7: what broke the old key) gives the key's answer: printing does
    not leak into q1, and per-iteration counts are linear (q4 measured at other lengths agrees)."""
    hw1, key = hw
    v, answers = hw1.Variant(seed), key.answers(seed)
    assert (len(str(v.n_small)) != len(str(v.n_large))) == (seed != 7)
    for engine in ("trap", "bt"):
        assert (loop_exits(engine, v.n_large) - loop_exits(engine, v.n_small)
                == answers[f"q1_{engine}"])
    from vmkit import lab
    workload, engine, preset = v.q4_run
    a = lab.run(workload, engine, iterations=20, model=preset).total_cycles
    b = lab.run(workload, engine, iterations=45, model=preset).total_cycles
    assert abs((b - a) / 25 - answers["q4"]) <= 0.5


def test_the_seed_is_a_stable_hash_of_the_student_id(hw):
    hw1, _ = hw
    expected = int.from_bytes(hashlib.sha256(b"vmkit-hw1:AB12CD").digest()[:4], "big")
    assert hw1.seed_of("AB12CD") == hw1.seed_of("  AB12CD\n") == expected
    seeds = {hw1.seed_of(f"student{i}") for i in range(1000)}
    assert len(seeds) == 1000
    for missing in ("", "   ", ...):
        with pytest.raises(ValueError, match="STUDENT_ID"):
            hw1.seed_of(missing)


def sret_mutants(hw1):
    """Wrong sret emulations, each with the sentence the check must say."""
    def right_but(skip):
        def my_sret(state):
            spp, spie = state.sstatus >> 8 & 1, state.sstatus >> 5 & 1
            if skip != "priv":
                state.priv = spp
            if skip != "sie":
                state.sstatus = state.sstatus & ~2 | spie << 1
            if skip != "spie":
                state.sstatus |= 1 << 5
            if skip != "spp":
                state.sstatus &= ~(1 << 8)
            if skip != "pc":
                state.pc = state.sepc
            if skip == "others":
                state.sstatus &= 0x1FF
        return my_sret
    return {"priv": "the mode (priv) must become sstatus.SPP",
            "sie": "sstatus.SIE must become the old SPIE",
            "spie": "after sret, sstatus.SPIE must be 1",
            "spp": "after sret, sstatus.SPP must be 0 (U)",
            "pc": "pc must be sepc",
            "others": "sret changes only SIE, SPIE and SPP"}, right_but


@pytest.mark.parametrize("field", ["priv", "sie", "spie", "spp", "pc", "others"])
def test_a_wrong_sret_is_told_which_field_is_wrong(hw, field, capsys):
    hw1, _ = hw
    messages, right_but = sret_mutants(hw1)
    hw1.check_sret(right_but(field))
    said = capsys.readouterr().out
    assert messages[field] in said, said
    assert "ok" != said.strip()


def test_the_reference_sret_passes_and_runs_tinyos(hw, capsys):
    hw1, key = hw
    messages, right_but = sret_mutants(hw1)
    hw1.check_sret(key.reference_sret)
    assert capsys.readouterr().out.strip() == "ok"
    hw1.check_sret(right_but(None))                         # the mutant scaffold itself is right
    assert capsys.readouterr().out.strip() == "ok"


def test_an_exception_in_my_sret_shows_its_traceback(hw, capsys):
    hw1, _ = hw

    def my_sret(state):
        state.sstatus = state.sstatuss | 2                  # a typo
    hw1.check_sret(my_sret)
    said = capsys.readouterr().out
    assert "Traceback" in said and "in my_sret" in said and "AttributeError" in said


def test_a_sret_right_on_every_field_but_wrong_in_the_kernel_is_caught(hw):
    """The unit cases run from S-mode; one that breaks the kernel still fails the full run."""
    hw1, key = hw
    calls = []

    def my_sret(state):
        key.reference_sret(state)
        calls.append(1)
        if len(calls) > 8:                     # past the unit cases: skip an instruction
            state.pc += 4
    assert hw1.sret_problems(my_sret) == []
    assert hw1.tinyos_problem(my_sret)


# -- the student's files hold no key --------------------------------------------------------

def student_files():
    return [p for p in STUDENT.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.name != ".OTTER_LOG"]          # otter's log of a local run, not committed


def student_code(path):
    """A student file's code: a notebook's code cells (its prose names the API to use)."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    book = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code")


def test_the_student_files_hold_no_answers_and_no_reference_sret(hw):
    _, key = hw
    code = {p: student_code(p) for p in student_files()}
    assert STUDENT / "hw1.py" in code and STUDENT / "hw1-cpu-virtualization.ipynb" in code
    sret_lines = [line.strip() for line in inspect.getsource(key.reference_sret).splitlines()
                  if line.strip().startswith("state.")]
    assert len(sret_lines) == 4
    # What computes an answer: measuring runs, the key, hidden tests, the solution's lines.
    forbidden = ["hw1_key", "reference_sret", "answers(", "counters[", "cycles[", "cycles.get",
                 "total_cycles", "lab.run(", "'hidden': True", '"hidden": true'] + sret_lines
    for path, content in code.items():
        for needle in forbidden:
            assert needle not in content, f"{path.relative_to(ROOT)} contains {needle!r}"


@pytest.mark.parametrize("name", ["q1_trap", "q1_bt", "q3", "q4"])
def test_a_wrong_answer_is_failed_without_showing_the_right_one(hw, name, capsys):
    hw1, key = hw
    student = "AB12CD"
    right = key.answers(hw1.seed_of(student))[name]
    if name == "q3":
        wrong = "memory" if right != "memory" else "io"
    else:
        wrong = right + 2 if name.startswith("q1") else right * 2
    assert key.check(name, right, student)
    capsys.readouterr()
    assert not key.check(name, wrong, student)
    said = capsys.readouterr().out
    assert said.strip() and not re.search(rf"\b{re.escape(str(right))}\b", said), said

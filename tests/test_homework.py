"""Homework 1: the reference solutions pass every autograder check, an unanswered notebook
fails them all, and the answers are right for every seed (they are computed by running vmkit).

The checks are otter-grader OK-format test files (notebooks/homework/tests/qN.py), run here in
batch the way `otter grade` runs them, and inside the notebook by `grader.check`.
"""

import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_TOOLS

HOMEWORK = Path(__file__).parent.parent / "notebooks" / "homework"
QUESTIONS = ["q1", "q2", "q3", "q4"]

pytestmark = pytest.mark.skipif(sys.platform == "emscripten",
                                reason="otter-grader is not part of the Pyodide core suite")


@pytest.fixture(scope="module")
def ok_test_file():
    try:
        from otter.test_files import OKTestFile
    except ImportError:
        if REQUIRE_TOOLS:
            pytest.fail("otter-grader is not installed (pip install -e '.[lab,test]')")
        pytest.skip("otter-grader is not installed (pip install -e '.[lab,test]')")
    sys.path.insert(0, str(HOMEWORK))
    yield OKTestFile
    sys.path.remove(str(HOMEWORK))


def grade(ok_test_file, environment):
    results = {}
    for question in QUESTIONS:
        test = ok_test_file.from_file(str(HOMEWORK / "tests" / f"{question}.py"))
        test.run(dict(environment))
        results[question] = test.passed_all
    return results


@pytest.mark.parametrize("seed", [0, 2024])
def test_reference_solutions_pass(ok_test_file, seed):
    import hw1
    homework = hw1.Homework(seed)
    environment = {"SEED": seed, "my_sret": hw1.reference_sret, **homework.answers()}
    assert grade(ok_test_file, environment) == {q: True for q in QUESTIONS}


def test_unanswered_notebook_fails_every_check(ok_test_file):
    def my_sret(state):
        ...
    environment = {"SEED": 0, "q1_trap": ..., "q1_bt": ..., "q3": ..., "q4": ..., "my_sret": my_sret}
    assert grade(ok_test_file, environment) == {q: False for q in QUESTIONS}


def test_a_wrong_sret_is_caught(ok_test_file):
    import hw1

    def forgets_interrupt_enable(state):       # returns, but leaves SIE as it was
        state.priv = state.sstatus >> 8 & 1
        state.sstatus = (state.sstatus | 1 << 5) & ~(1 << 8)
        state.pc = state.sepc
    assert not hw1.check_sret(forgets_interrupt_enable)


def test_answers_follow_the_seed():
    sys.path.insert(0, str(HOMEWORK))
    try:
        import hw1
        a, b = hw1.Homework(1), hw1.Homework(2)
        assert (a.n_small, a.n_large) != (b.n_small, b.n_large)
        # trap: two exits per cli/sti iteration (both instructions trap); bt: none. The result
        # line "csr: N iterations done" also grows by a character per extra digit of N, and
        # each character costs two UART accesses (LSR poll + THR write), each an exit.
        digits = len(str(a.n_large)) - len(str(a.n_small))
        assert a.answer("q1_trap") == 2 * (a.n_large - a.n_small) + 2 * digits
        assert a.answer("q1_bt") == 2 * digits
    finally:
        sys.path.remove(str(HOMEWORK))

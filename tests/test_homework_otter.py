"""Homeworks 1, 2 and 3 through otter-grader, as instructors and students use them: the committed
student folder is what `otter assign` makes of each master (and a rebuild of one leaves the
other's files alone), the public tests pass the solution and fail an unanswered notebook, and
grade.py turns a folder of submissions into a CSV (a right one, a wrong one and one whose code
raises) without showing anyone an answer."""

import csv
import importlib.util
import shutil
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REQUIRE_TOOLS

ROOT = Path(__file__).parent.parent
STUDENT = ROOT / "notebooks" / "homework"
INSTRUCTOR = ROOT / "instructor" / "hw1"
QUESTIONS = ["q1", "q2", "q3", "q4"]
INSTRUCTOR2 = ROOT / "instructor" / "hw2"
QUESTIONS2 = ["hw2_q1", "hw2_q2", "hw2_q3", "hw2_q4"]
INSTRUCTOR3 = ROOT / "instructor" / "hw3"
QUESTIONS3 = ["hw3_q1", "hw3_q2", "hw3_q3", "hw3_q4"]

pytestmark = pytest.mark.skipif(sys.platform == "emscripten",
                                reason="otter-grader is not part of the Pyodide core suite")


def need(module):
    try:
        return __import__(module)
    except ImportError:
        message = f"{module} is not installed (pip install -e '.[lab,test]')"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def modules():
    need("otter")
    sys.path.insert(0, str(INSTRUCTOR))
    import assign
    import hw1
    import hw1_key
    yield assign, hw1, hw1_key
    sys.path.remove(str(INSTRUCTOR))


@pytest.fixture(scope="module")
def built(modules, tmp_path_factory):
    """A fresh `otter assign` of the master (student/ and autograder/)."""
    need("nbclient")
    assign, _, _ = modules
    return assign.build(tmp_path_factory.mktemp("assign"))


def test_the_committed_student_folder_is_fresh_otter_assign_output(modules, built):
    assign, _, _ = modules
    assert assign.differences(built / "student", STUDENT) == []
    assert (STUDENT / "hw1-cpu-virtualization.ipynb").is_file()
    assert not (STUDENT / "hw1_key.py").exists()


def public_results(environment, questions=QUESTIONS):
    from otter.test_files import OKTestFile
    results = {}
    for question in questions:
        test = OKTestFile.from_file(str(STUDENT / "tests" / f"{question}.py"))
        assert all(not case.hidden for case in test.test_cases)
        test.run(dict(environment))
        results[question] = test.passed_all
    return results


def test_public_tests_pass_the_solution_and_fail_an_unanswered_notebook(modules):
    _, hw1, key = modules
    student = "AB12CD"
    answers = key.answers(hw1.seed_of(student))
    solved = {"hw1": hw1, "STUDENT_ID": student, "my_sret": key.reference_sret, **answers}
    assert public_results(solved) == {q: True for q in QUESTIONS}

    def my_sret(state):
        ...
    empty = {"hw1": hw1, "STUDENT_ID": ..., "q1_trap": ..., "q1_bt": ..., "q3": ...,
             "q4": ..., "my_sret": my_sret}
    assert public_results(empty) == {q: False for q in QUESTIONS}


def submission(path, student_id, answers, notebook="hw1-cpu-virtualization.ipynb"):
    """The student notebook with STUDENT_ID and the answer cells filled in."""
    book = json.loads((STUDENT / notebook).read_text())
    cells = [c for c in book["cells"] if c["cell_type"] == "code"]
    answer_cells = [c for c in cells if c["metadata"].get("tags")]
    assert len(answer_cells) == len(answers) == 4
    for cell in cells:
        source = "".join(cell["source"])
        if "STUDENT_ID = ..." in source:
            cell["source"] = source.replace("STUDENT_ID = ...", f"STUDENT_ID = {student_id!r}")
    for cell, text in zip(answer_cells, answers):
        cell["source"] = text
    path.write_text(json.dumps(book))


SRET = """def my_sret(state):
    spp, spie = state.sstatus >> 8 & 1, state.sstatus >> 5 & 1
    state.priv = spp
    state.sstatus = (state.sstatus & ~2 | spie << 1 | 1 << 5) & ~(1 << 8)
    state.pc = state.sepc"""


def test_grade_py_grades_a_folder_into_a_csv(modules, built, tmp_path):
    _, hw1, key = modules
    folder = tmp_path / "submissions"
    folder.mkdir()
    right = key.answers(hw1.seed_of("right"))
    submission(folder / "right.ipynb", "right",
               [f"q1_trap = {right['q1_trap']}\nq1_bt = {right['q1_bt']}", SRET,
                f"q3 = {right['q3']!r}", f"q4 = {right['q4']}"])
    wrong = key.answers(hw1.seed_of("wrong"))
    submission(folder / "wrong.ipynb", "wrong",
               [f"q1_trap = {wrong['q1_trap'] + 2}\nq1_bt = 2",
                "def my_sret(state):\n    state.pc = state.sepc",
                "q3 = 'memory'" if wrong["q3"] != "memory" else "q3 = 'io'",
                f"q4 = {wrong['q4'] * 2}"])
    submission(folder / "raises.ipynb", "raises",
               ["q1_trap = 1 // 0", "def my_sret(state):\n    raise RuntimeError('not yet')",
                "q3 = ...", "q4 = undefined_name"])
    autograder = next((built / "autograder").glob("*.zip"))
    grades, reports = tmp_path / "grades.csv", tmp_path / "reports"
    subprocess.run([sys.executable, str(INSTRUCTOR / "grade.py"), str(folder), "-o", str(grades),
                    "--reports", str(reports), "--autograder", str(autograder)],
                   check=True, cwd=tmp_path)
    rows = {row["file"]: row for row in csv.DictReader(grades.open())}
    assert set(rows) == {"right.ipynb", "wrong.ipynb", "raises.ipynb"}
    assert float(rows["right.ipynb"]["total"]) == float(rows["right.ipynb"]["possible"]) == 8
    for name in ("wrong.ipynb", "raises.ipynb"):
        assert float(rows[name]["total"]) == 0, rows[name]
    assert rows["right.ipynb"]["student_id"] == "right"
    # The wrong student reads which sret field is wrong, and none of the right values.
    report = (reports / "wrong.txt").read_text()
    assert "after sret, sstatus.SPIE must be 1" in report
    for name in ("q1_trap", "q4"):
        assert not re.search(rf"\b{wrong[name]}\b", report), name
    assert repr(wrong["q3"]) not in report
    # The raising student sees the traceback of their own code.
    report = (reports / "raises.txt").read_text()
    assert "RuntimeError: not yet" in report and "Traceback" in report


# -- homework 2 ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def modules2():
    """hw2's assign.py (loaded under another name: hw1's is `assign`), hw2, hw2_key."""
    need("otter")
    sys.path.insert(0, str(INSTRUCTOR2))
    spec = importlib.util.spec_from_file_location("hw2_assign", INSTRUCTOR2 / "assign.py")
    assign = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(assign)
    import hw2
    import hw2_key
    yield assign, hw2, hw2_key
    sys.path.remove(str(INSTRUCTOR2))


@pytest.fixture(scope="module")
def built2(modules2, tmp_path_factory):
    need("nbclient")
    assign, _, _ = modules2
    return assign.build(tmp_path_factory.mktemp("assign2"))


def test_hw2_committed_student_files_are_fresh_otter_assign_output(modules2, built2):
    assign, _, _ = modules2
    assert assign.differences(built2 / "student", STUDENT) == []
    assert (STUDENT / "hw2-memory-virtualization.ipynb").is_file()
    assert not (STUDENT / "hw2_key.py").exists()


def test_rebuilding_one_homework_leaves_the_others_files_alone(modules, built, modules2, built2,
                                                               modules3, built3, tmp_path):
    """All share notebooks/homework/ (and its tests/): installing one's build into a copy
    changes none of the others' files."""
    assigns = [(modules[0], built), (modules2[0], built2), (modules3[0], built3)]
    folder = tmp_path / "homework"
    shutil.copytree(STUDENT, folder)
    (folder / "hw1-stale.txt").write_text("a file hw1's master no longer makes")
    for assign, out in assigns:
        assign.HOMEWORK.install(out / "student", folder)
    assert not (folder / "hw1-stale.txt").exists()
    for assign, out in assigns:
        assert assign.differences(out / "student", folder) == []
    assert (sorted(p.name for p in (folder / "tests").iterdir())
            == sorted(f"{q}.py" for q in QUESTIONS + QUESTIONS2 + QUESTIONS3))


def test_hw2_public_tests_pass_the_solution_and_fail_an_unanswered_notebook(modules2):
    _, hw2, key = modules2
    student = "AB12CD"
    answers = key.answers(hw2.seed_of(student))
    solved = {"hw2": hw2, "STUDENT_ID": student, "shadow_pte": key.reference_shadow_pte,
              **answers}
    assert public_results(solved, QUESTIONS2) == {q: True for q in QUESTIONS2}

    def shadow_pte(guest_pte, host_frame, user, mxr):
        ...
    empty = {"hw2": hw2, "STUDENT_ID": ..., "q1a": ..., "q1b": ..., "q3_hidden": ...,
             "q3_true": ..., "q4": ..., "shadow_pte": shadow_pte}
    assert public_results(empty, QUESTIONS2) == {q: False for q in QUESTIONS2}


SHADOW_PTE = """def shadow_pte(guest_pte, host_frame, user, mxr):
    leaf = host_frame >> 12 << 10 | 0b11010001           # D A U V
    if guest_pte & 0b10 or mxr and guest_pte & 0b1000:
        leaf |= 0b10
    if guest_pte & 0b100 and guest_pte & 0b10000000:
        leaf |= 0b100
    if guest_pte & 0b1000 and (user or not guest_pte & 0b10000):
        leaf |= 0b1000
    return leaf"""


def test_hw2_grade_py_grades_a_folder_into_a_csv(modules2, built2, tmp_path):
    _, hw2, key = modules2
    folder = tmp_path / "submissions"
    folder.mkdir()
    notebook = "hw2-memory-virtualization.ipynb"
    right = key.answers(hw2.seed_of("right"))
    submission(folder / "right.ipynb", "right",
               [f"q1a = {right['q1a']}\nq1b = {right['q1b']}", SHADOW_PTE,
                f"q3_hidden = {right['q3_hidden']}\nq3_true = {right['q3_true']}",
                f"q4 = {right['q4']!r}"], notebook)
    wrong = key.answers(hw2.seed_of("wrong"))
    submission(folder / "wrong.ipynb", "wrong",
               [f"q1a = {wrong['q1a'] + 1}\nq1b = {wrong['q1b'] + 1}",
                SHADOW_PTE.replace(" and guest_pte & 0b10000000", ""),      # W before D
                f"q3_hidden = {wrong['q3_hidden'] + 1}\nq3_true = {wrong['q3_true'] + 1}",
                f"q4 = {'abcde'['abcde'.index(wrong['q4']) - 1]!r}"], notebook)
    submission(folder / "raises.ipynb", "raises",
               ["q1a = 1 // 0", "def shadow_pte(guest_pte, host_frame, user, mxr):\n"
                "    raise RuntimeError('not yet')", "q3_hidden = ...", "q4 = undefined_name"],
               notebook)
    autograder = next((built2 / "autograder").glob("*.zip"))
    grades, reports = tmp_path / "grades.csv", tmp_path / "reports"
    subprocess.run([sys.executable, str(INSTRUCTOR2 / "grade.py"), str(folder), "-o",
                    str(grades), "--reports", str(reports), "--autograder", str(autograder)],
                   check=True, cwd=tmp_path)
    rows = {row["file"]: row for row in csv.DictReader(grades.open())}
    assert set(rows) == {"right.ipynb", "wrong.ipynb", "raises.ipynb"}
    assert float(rows["right.ipynb"]["total"]) == float(rows["right.ipynb"]["possible"]) == 8
    assert [float(rows["right.ipynb"][q]) for q in QUESTIONS2] == [2, 3, 2, 1]
    for name in ("wrong.ipynb", "raises.ipynb"):
        assert float(rows[name]["total"]) == 0, rows[name]
    assert rows["right.ipynb"]["student_id"] == "right"
    # The wrong student reads which rule the shadow leaf breaks and the hints, no right letter.
    report = (reports / "wrong.txt").read_text()
    assert "W only once the guest PTE is dirty (D)" in report
    assert key.HINTS["q3_hidden"] in report and key.HINTS["q4"] in report
    assert f"'{wrong['q4']}'" not in report and f'"{wrong["q4"]}"' not in report
    report = (reports / "raises.txt").read_text()
    assert "RuntimeError: not yet" in report and "Traceback" in report


# -- homework 3 ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def modules3():
    """hw3's assign.py (under another name), hw3, hw3_key."""
    need("otter")
    sys.path.insert(0, str(INSTRUCTOR3))
    spec = importlib.util.spec_from_file_location("hw3_assign", INSTRUCTOR3 / "assign.py")
    assign = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(assign)
    import hw3
    import hw3_key
    yield assign, hw3, hw3_key
    sys.path.remove(str(INSTRUCTOR3))


@pytest.fixture(scope="module")
def built3(modules3, tmp_path_factory):
    need("nbclient")
    assign, _, _ = modules3
    return assign.build(tmp_path_factory.mktemp("assign3"))


def test_hw3_committed_student_files_are_fresh_otter_assign_output(modules3, built3):
    assign, _, _ = modules3
    assert assign.differences(built3 / "student", STUDENT) == []
    assert (STUDENT / "hw3-io-virtualization.ipynb").is_file()
    assert not (STUDENT / "hw3_key.py").exists()


def test_hw3_public_tests_pass_the_solution_and_fail_an_unanswered_notebook(modules3):
    _, hw3, key = modules3
    student = "AB12CD"
    answers = key.answers(hw3.seed_of(student))
    solved = {"hw3": hw3, "STUDENT_ID": student, "io_cycles": key.reference_io_cycles,
              **answers}
    assert public_results(solved, QUESTIONS3) == {q: True for q in QUESTIONS3}

    def io_cycles(exits, dma_bytes):
        ...
    empty = {"hw3": hw3, "STUDENT_ID": ..., "io_cycles": io_cycles,
             **{name: ... for name in answers}}
    assert public_results(empty, QUESTIONS3) == {q: False for q in QUESTIONS3}


IO_CYCLES = """def io_cycles(exits, dma_bytes):
    return exits * (2000 + 1178) + dma_bytes"""


def test_hw3_grade_py_grades_a_folder_into_a_csv(modules3, built3, tmp_path):
    _, hw3, key = modules3
    folder = tmp_path / "submissions"
    folder.mkdir()
    notebook = "hw3-io-virtualization.ipynb"

    def cells(a, io_cycles=IO_CYCLES, shift=0, q4=lambda letter: letter):
        return [f"q1 = {a['q1']!r}",
                f"q2_notifications = {a['q2_notifications'] + shift}\n"
                f"q2_interrupts_a = {a['q2_interrupts_a'] + shift}\n"
                f"q2_interrupts_b = {a['q2_interrupts_b'] + shift}",
                f"{io_cycles}\nq3_accesses = {a['q3_accesses'] + shift}\n"
                f"q3_emulated = io_cycles(q3_accesses, 0)\n"
                f"q3_virtio = {a['q3_virtio'] * (1 + shift / 10)}",
                "\n".join(f"{n} = {q4(a[n])!r}" for n in ("q4a", "q4b", "q4c"))]
    right = key.answers(hw3.seed_of("right"))
    submission(folder / "right.ipynb", "right", cells(right), notebook)
    wrong = key.answers(hw3.seed_of("wrong"))
    wrong_q1 = dict(wrong, q1=hw3.NEEDS_RESET if wrong["q1"] != hw3.NEEDS_RESET else
                    [(0x80200000, 16, "readable")])
    submission(folder / "wrong.ipynb", "wrong",
               cells(wrong_q1, IO_CYCLES.replace(" + 1178", ""), shift=2,
                     q4=lambda letter: "abcd"["abcd".index(letter) - 1]), notebook)
    submission(folder / "raises.ipynb", "raises",
               ["q1 = 1 // 0", "q2_notifications = undefined_name",
                "def io_cycles(exits, dma_bytes):\n    raise RuntimeError('not yet')",
                "q4a = ..."], notebook)
    autograder = next((built3 / "autograder").glob("*.zip"))
    grades, reports = tmp_path / "grades.csv", tmp_path / "reports"
    subprocess.run([sys.executable, str(INSTRUCTOR3 / "grade.py"), str(folder), "-o",
                    str(grades), "--reports", str(reports), "--autograder", str(autograder)],
                   check=True, cwd=tmp_path)
    rows = {row["file"]: row for row in csv.DictReader(grades.open())}
    assert set(rows) == {"right.ipynb", "wrong.ipynb", "raises.ipynb"}
    assert float(rows["right.ipynb"]["total"]) == float(rows["right.ipynb"]["possible"]) == 12
    assert [float(rows["right.ipynb"][q]) for q in QUESTIONS3] == [2, 3, 4, 3]
    for name in ("wrong.ipynb", "raises.ipynb"):
        assert float(rows[name]["total"]) == 0, rows[name]
    # The wrong student reads the hints, and no right value.
    report = (reports / "wrong.txt").read_text()
    assert key.HINTS["q1"] in report and key.HINTS["q3_function"] in report
    for name in ("q2_notifications", "q3_accesses", "q3_emulated"):
        assert not re.search(rf"(?<!\w){wrong[name]}(?!\w)", report), name
    report = (reports / "raises.txt").read_text()
    assert "Traceback" in report

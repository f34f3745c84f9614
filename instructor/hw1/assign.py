"""Build homework 1 from its master notebook with `otter assign` (instructors only).

    python3 instructor/hw1/assign.py            # rewrite notebooks/homework/, build the autograder
    python3 instructor/hw1/assign.py --check    # only say whether notebooks/homework/ is current

The master (hw1-cpu-virtualization.ipynb here) holds the questions, the solutions and every
test; otter assign splits it into the student notebook with the public tests (which check the
form of an answer) and the autograder with the hidden ones (which check its value through
hw1_key.py). Otter takes a test's expected output from the master's stored outputs, so the
master is first run top to bottom (nbclient) in a scratch folder; the committed master stays
without outputs. Results: notebooks/homework/ (what students get; the JupyterLite site copies
it) and dist/hw1-autograder.zip here (for grade.py; not committed).
"""

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STUDENT = ROOT / "notebooks" / "homework"
MASTER = "hw1-cpu-virtualization.ipynb"
AUTOGRADER = HERE / "dist" / "hw1-autograder.zip"


def execute_master(folder):
    import nbclient
    import nbformat
    path = folder / MASTER
    book = nbformat.read(path, as_version=4)
    metadata = dict(book.metadata)
    nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    # Keep the outputs only: timings and the Python version would make every build differ.
    book.metadata = nbformat.from_dict(metadata)
    for cell in book.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(book, path)


def build(work):
    """Run otter assign in `work`; return its output folder (student/ and autograder/)."""
    source = work / "master"
    shutil.copytree(HERE, source, ignore=shutil.ignore_patterns(
        "dist", "__pycache__", ".ipynb_checkpoints", ".OTTER_LOG"))
    execute_master(source)
    out = work / "out"
    subprocess.run(["otter", "assign", "--no-run-tests", MASTER, str(out)], cwd=source,
                   check=True, stdout=subprocess.DEVNULL)
    number_cells(out / "student" / MASTER)
    return out


def number_cells(path):
    """Otter gives the cells it adds (init, checks) random ids; number them all instead, so
    that two builds of the same master are the same file."""
    import nbformat
    book = nbformat.read(path, as_version=4)
    for index, cell in enumerate(book.cells):
        cell.id = f"hw1-{index:02d}"
    nbformat.write(book, path)


def student_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name != ".OTTER_LOG"
                  and ".ipynb_checkpoints" not in p.parts)


def differences(built, committed):
    names = set(student_files(built)) | set(student_files(committed))
    return sorted(str(n) for n in names if not (built / n).is_file() or not (committed / n).is_file()
                  or not filecmp.cmp(built / n, committed / n, shallow=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare notebooks/homework/ with a fresh build; change nothing")
    parser.add_argument("--autograder-only", action="store_true",
                        help="build dist/hw1-autograder.zip; leave notebooks/homework/ alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = build(Path(tmp))
        if args.check:
            stale = differences(out / "student", STUDENT)
            print("notebooks/homework/ is current" if not stale else
                  "differs from a fresh otter assign: " + ", ".join(stale))
            return 1 if stale else 0
        AUTOGRADER.parent.mkdir(exist_ok=True)
        shutil.copy(next((out / "autograder").glob("*.zip")), AUTOGRADER)
        print(f"wrote {AUTOGRADER.relative_to(ROOT)}")
        if not args.autograder_only:
            shutil.rmtree(STUDENT)
            shutil.copytree(out / "student", STUDENT)
            print(f"wrote {STUDENT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

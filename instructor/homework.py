"""Building and grading a homework with otter-grader: what every instructor/hwN/ shares.

Each homework folder (instructor/hw1, instructor/hw2, ...) holds a master notebook in otter-assign
format, the student module hwN.py (a link to notebooks/homework/hwN.py), the key hwN_key.py,
and two short scripts, assign.py and grade.py, that call this module with their own names.

All homeworks share the student folder notebooks/homework/ (and its tests/ folder, where otter
puts one public test file per question: so question names differ between homeworks). A
homework owns there the files its build writes and any file whose name starts with its
prefix (hw1, hw2, hw3): a rebuild replaces those and leaves the other homeworks' files alone.
"""

import argparse
import ast
import csv
import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDENT = ROOT / "notebooks" / "homework"


class Homework:
    def __init__(self, folder, master, questions):
        self.folder = Path(folder)
        self.master = master                     # e.g. "hw1-cpu-virtualization.ipynb"
        self.prefix = self.folder.name           # hw1
        self.questions = questions               # the otter question names, in order
        self.autograder = self.folder / "dist" / f"{self.prefix}-autograder.zip"

    # -- otter assign --------------------------------------------------------------------------
    def build(self, work):
        """Run otter assign in `work`; return its output folder (student/ and autograder/).
        Otter takes a test's expected output from the master's stored outputs, so the master
        is first run top to bottom (nbclient) in a scratch copy; the committed one has none."""
        source = work / "master"
        shutil.copytree(self.folder, source, ignore=shutil.ignore_patterns(
            "dist", "__pycache__", ".ipynb_checkpoints", ".OTTER_LOG"))
        execute(source / self.master)
        out = work / "out"
        subprocess.run(["otter", "assign", "--no-run-tests", self.master, str(out)], cwd=source,
                       check=True, stdout=subprocess.DEVNULL)
        self.number_cells(out / "student" / self.master)
        return out

    def number_cells(self, path):
        """Otter gives the cells it adds (init, checks) random ids; number them all instead, so
        that two builds of the same master are the same file."""
        import nbformat
        book = nbformat.read(path, as_version=4)
        for index, cell in enumerate(book.cells):
            cell.id = f"{self.prefix}-{index:02d}"
        nbformat.write(book, path)

    def owned(self, built, committed):
        """This homework's files (relative paths): what the build made, and what the student
        folder has under its prefix (a file the master no longer makes is stale)."""
        return sorted(set(files(built)) | {p for p in files(committed)
                                           if p.name.startswith(self.prefix)})

    def differences(self, built, committed):
        return sorted(str(n) for n in self.owned(built, committed)
                      if not (built / n).is_file() or not (committed / n).is_file()
                      or not filecmp.cmp(built / n, committed / n, shallow=False))

    def install(self, built, committed):
        """Replace this homework's files in the student folder with the build's."""
        for name in self.owned(built, committed):
            (committed / name).unlink(missing_ok=True)
            if (built / name).is_file():
                (committed / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(built / name, committed / name)

    def assign_main(self, doc):
        parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
        parser.add_argument("--check", action="store_true",
                            help="compare notebooks/homework/ with a fresh build; change nothing")
        parser.add_argument("--autograder-only", action="store_true",
                            help=f"build dist/{self.autograder.name}; leave notebooks/homework/ "
                                 "alone")
        args = parser.parse_args()
        with tempfile.TemporaryDirectory() as tmp:
            out = self.build(Path(tmp))
            if args.check:
                stale = self.differences(out / "student", STUDENT)
                print(f"notebooks/homework/ has the current {self.prefix}" if not stale else
                      "differs from a fresh otter assign: " + ", ".join(stale))
                return 1 if stale else 0
            self.autograder.parent.mkdir(exist_ok=True)
            shutil.copy(next((out / "autograder").glob("*.zip")), self.autograder)
            print(f"wrote {self.autograder.relative_to(ROOT)}")
            if not args.autograder_only:
                self.install(out / "student", STUDENT)
                print(f"wrote {self.prefix}'s files in {STUDENT.relative_to(ROOT)}/")
        return 0

    # -- grading ---------------------------------------------------------------------------------
    def grade_one(self, notebook, autograder):
        from otter.api import grade_submission
        results = grade_submission(str(notebook), str(autograder), quiet=True)
        row = {"file": notebook.name, "student_id": typed_id(notebook)}
        for question in self.questions:
            row[question] = results.get_score(question) if question in results.test_files else 0
        row["total"], row["possible"] = results.total, results.possible
        return row, results.summary()

    def grade_main(self, doc):
        parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
        parser.add_argument("submissions", type=Path, help="a folder of submitted .ipynb files")
        parser.add_argument("-o", "--output", type=Path, default=Path("grades.csv"))
        parser.add_argument("--reports", type=Path, help="write each student's feedback here")
        parser.add_argument("--autograder", type=Path, default=self.autograder)
        args = parser.parse_args()
        notebooks = sorted(args.submissions.glob("*.ipynb")) if args.submissions.is_dir() else []
        if not notebooks:
            sys.exit(f"grade.py: no .ipynb files in {args.submissions}")
        if not args.autograder.is_file():
            subprocess.run([sys.executable, str(self.folder / "assign.py"), "--autograder-only"],
                           check=True)
        rows = []
        for notebook in notebooks:
            row, report = self.grade_one(notebook, args.autograder)
            rows.append(row)
            print(f"{notebook.name}: {row['total']} / {row['possible']}", flush=True)
            if args.reports:
                args.reports.mkdir(parents=True, exist_ok=True)
                (args.reports / f"{notebook.stem}.txt").write_text(report, encoding="utf-8")
        with args.output.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.output}")


def execute(path):
    import nbclient
    import nbformat
    book = nbformat.read(path, as_version=4)
    metadata = dict(book.metadata)
    nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    # Keep the outputs only: timings and the Python version would make every build differ.
    book.metadata = nbformat.from_dict(metadata)
    for cell in book.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(book, path)


def files(folder):
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.name != ".OTTER_LOG"
                  and ".ipynb_checkpoints" not in p.parts)


def typed_id(notebook):
    """The STUDENT_ID a notebook assigns (a string literal), or '' when it has none."""
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and any(getattr(t, "id", None) == "STUDENT_ID" for t in node.targets)):
                return str(node.value.value)
    return ""

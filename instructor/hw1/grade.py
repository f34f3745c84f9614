"""Grade a folder of homework 1 submissions into a CSV (instructors only).

    python3 instructor/hw1/grade.py SUBMISSIONS/ -o grades.csv [--reports REPORTS/]

Each SUBMISSIONS/*.ipynb is run with the hidden tests of dist/hw1-autograder.zip (built by
assign.py when missing) through otter's Python API (otter.api.grade_submission): no Docker
needed, the notebook runs in this Python, which must have vmkit installed. The CSV has one row
per notebook: the file, the STUDENT_ID it typed (check it belongs to the notebook's owner),
the points of each question and the total. `--reports` writes each student's feedback (every
test's result, hints included, never an answer). Where Docker runs, `otter grade -a
dist/hw1-autograder.zip -p SUBMISSIONS/` does the same in containers.
"""

import argparse
import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AUTOGRADER = HERE / "dist" / "hw1-autograder.zip"
QUESTIONS = ("q1", "q2", "q3", "q4")


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


def grade_one(notebook, autograder):
    from otter.api import grade_submission
    results = grade_submission(str(notebook), str(autograder), quiet=True)
    row = {"file": notebook.name, "student_id": typed_id(notebook)}
    for question in QUESTIONS:
        row[question] = results.get_score(question) if question in results.test_files else 0
    row["total"], row["possible"] = results.total, results.possible
    return row, results.summary()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder of submitted .ipynb files")
    parser.add_argument("-o", "--output", type=Path, default=Path("grades.csv"))
    parser.add_argument("--reports", type=Path, help="write each student's feedback here")
    parser.add_argument("--autograder", type=Path, default=AUTOGRADER)
    args = parser.parse_args()
    notebooks = sorted(args.submissions.glob("*.ipynb")) if args.submissions.is_dir() else []
    if not notebooks:
        sys.exit(f"grade.py: no .ipynb files in {args.submissions}")
    if not args.autograder.is_file():
        subprocess.run([sys.executable, str(HERE / "assign.py"), "--autograder-only"], check=True)
    rows = []
    for notebook in notebooks:
        row, report = grade_one(notebook, args.autograder)
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


if __name__ == "__main__":
    main()

"""Grade a folder of homework 3 submissions into a CSV (instructors only).

    python3 instructor/hw3/grade.py SUBMISSIONS/ -o grades.csv [--reports REPORTS/]

Each SUBMISSIONS/*.ipynb is run with the hidden tests of dist/hw3-autograder.zip (built by
assign.py when missing) through otter's Python API (otter.api.grade_submission): no Docker
needed, the notebook runs in this Python, which must have vmkit installed. The CSV has one row
per notebook: the file, the STUDENT_ID it typed (check it belongs to the notebook's owner),
the points of each question and the total. `--reports` writes each student's feedback (every
test's result, hints included, never an answer). Where Docker runs, `otter grade -a
dist/hw3-autograder.zip -p SUBMISSIONS/` does the same in containers.
"""

from assign import HOMEWORK

if __name__ == "__main__":
    HOMEWORK.grade_main(__doc__)

"""Build homework 1 from its master notebook with `otter assign` (instructors only).

    python3 instructor/hw1/assign.py            # rewrite hw1's student files, build the autograder
    python3 instructor/hw1/assign.py --check    # only say whether notebooks/homework/ is current

The master (hw1-cpu-virtualization.ipynb here) holds the questions, the solutions and every
test; otter assign splits it into the student notebook with the public tests (which check the
form of an answer) and the autograder with the hidden ones (which check its value through
hw1_key.py). The work is instructor/homework.py's; results: hw1's files in
notebooks/homework/ (what students get; the JupyterLite site copies it) and
dist/hw1-autograder.zip here (for grade.py; not committed).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from homework import Homework  # noqa: E402  (instructor/ is not a package)

HOMEWORK = Homework(HERE, "hw1-cpu-virtualization.ipynb", ("q1", "q2", "q3", "q4"))
build, differences = HOMEWORK.build, HOMEWORK.differences

if __name__ == "__main__":
    sys.exit(HOMEWORK.assign_main(__doc__))

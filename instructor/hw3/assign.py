"""Build homework 3 from its master notebook with `otter assign` (instructors only).

    python3 instructor/hw3/assign.py            # rewrite hw3's student files, build the autograder
    python3 instructor/hw3/assign.py --check    # only say whether notebooks/homework/ is current

The master (hw3-io-virtualization.ipynb here) holds the questions, the solutions and every
test; otter assign splits it into the student notebook with the public tests (which check the
form of an answer) and the autograder with the hidden ones (which check its value through
hw3_key.py). The work is instructor/homework.py's; results: hw3's files in
notebooks/homework/ (what students get; the JupyterLite site copies it) and
dist/hw3-autograder.zip here (for grade.py; not committed).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from homework import Homework  # noqa: E402  (instructor/ is not a package)

HOMEWORK = Homework(HERE, "hw3-io-virtualization.ipynb",
                    ("hw3_q1", "hw3_q2", "hw3_q3", "hw3_q4"))
build, differences = HOMEWORK.build, HOMEWORK.differences

if __name__ == "__main__":
    sys.exit(HOMEWORK.assign_main(__doc__))
